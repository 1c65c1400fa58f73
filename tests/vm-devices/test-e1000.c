/* test-e1000.c: the 82540EM model without KVM: a model state over a guest-memory buffer, driven the way
 * Linux's e1000 driver drives it (EEPROM bit-banging, MDIC, interrupt cause/mask, rings), and by a hostile
 * guest (rings and buffers outside RAM, indexes past the ring, absurd lengths and offsets). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vm/devices/e1000.h"

#define RAM_BASE 0x100000ull
#define RAM_SIZE (1u << 20)
#define TXRING (RAM_BASE + 0x1000)
#define RXRING (RAM_BASE + 0x2000)
#define BUFS (RAM_BASE + 0x10000)

static const uint8_t MAC[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };

struct frame {
	uint8_t data[2048];
	size_t len;
};
struct t {
	struct e1000 s;
	uint8_t *ram;
	bool level;
	unsigned irq_changes, kicks_tx, kicks_rx, dma_calls;
	struct frame frames[16];
	unsigned nframes;
};

static void *t_dma(void *opaque, uint64_t gpa, uint64_t len)
{
	struct t *t = opaque;
	t->dma_calls++;
	if (gpa < RAM_BASE || gpa - RAM_BASE > RAM_SIZE || len > RAM_SIZE - (gpa - RAM_BASE))
		return NULL;
	return t->ram + (gpa - RAM_BASE);
}
static void t_irq(void *opaque, bool level)
{
	struct t *t = opaque;
	t->level = level;
	t->irq_changes++;
}
static int t_tx(void *opaque, const uint8_t *f, size_t len)
{
	struct t *t = opaque;
	if (t->nframes == 16 || len > sizeof(t->frames[0].data))
		return -ENOBUFS;
	memcpy(t->frames[t->nframes].data, f, len);
	t->frames[t->nframes++].len = len;
	return 0;
}
static void t_kick(void *opaque, bool tx)
{
	struct t *t = opaque;
	if (tx)
		t->kicks_tx++;
	else
		t->kicks_rx++;
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	struct e1000_env env = { .opaque = t, .dma = t_dma, .irq = t_irq, .tx = t_tx, .kick = t_kick };
	assert_non_null(t);
	t->ram = calloc(1, RAM_SIZE);
	assert_non_null(t->ram);
	assert_int_equal(e1000_init(&t->s, MAC, &env), 0);
	*state = t;
	return 0;
}
static int teardown(void **state)
{
	struct t *t = *state;
	e1000_fini(&t->s);
	free(t->ram);
	free(t);
	return 0;
}

static uint32_t rd(struct t *t, uint32_t off) { return e1000_reg_read(&t->s, off); }
static void wr(struct t *t, uint32_t off, uint32_t v) { e1000_reg_write(&t->s, off, v); }
static uint8_t *gpa(struct t *t, uint64_t a) { return t->ram + (a - RAM_BASE); }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)be16(p) << 16 | be16(p + 2); }

/* ---- EEPROM ---- */

static void test_eeprom_eerd(void **state)
{
	struct t *t = *state;
	uint16_t sum = 0;

	for (unsigned i = 0; i < E1000_EEPROM_WORDS; i++) {
		wr(t, E1000_EERD, i << 8 | E1000_EERD_START);
		uint32_t v = rd(t, E1000_EERD);
		assert_true(v & E1000_EERD_DONE);
		assert_int_equal((v >> 8) & 0xff, i);
		sum = (uint16_t)(sum + (v >> 16));
		if (i < 3)
			assert_int_equal(v >> 16, MAC[2 * i] | MAC[2 * i + 1] << 8);
	}
	assert_int_equal(sum, E1000_EEPROM_SUM);
	wr(t, E1000_EERD, 200u << 8 | E1000_EERD_START); /* past the part: done, no data */
	assert_int_equal(rd(t, E1000_EERD) >> 16, 0);
}

/* The driver's microwire sequence: request and grant, CS, opcode 110 and 6 address bits on DI with SK
 * pulses, 16 bits in from DO after rising edges, CS low between words. */
static void ee_clock(struct t *t, uint32_t *eecd)
{
	wr(t, E1000_EECD, *eecd | E1000_EECD_SK);
	*eecd = rd(t, E1000_EECD);
	wr(t, E1000_EECD, *eecd & ~E1000_EECD_SK);
}
static uint16_t ee_read_word(struct t *t, unsigned addr)
{
	uint32_t eecd = rd(t, E1000_EECD) | E1000_EECD_REQ;
	uint32_t cmd = 6u << 6 | addr;
	uint16_t v = 0;

	wr(t, E1000_EECD, eecd);
	assert_true(rd(t, E1000_EECD) & E1000_EECD_GNT);
	eecd = (rd(t, E1000_EECD) & ~(E1000_EECD_DI | E1000_EECD_SK)) | E1000_EECD_CS;
	wr(t, E1000_EECD, eecd);
	for (int b = 8; b >= 0; b--) {
		eecd = (eecd & ~E1000_EECD_DI) | (cmd >> b & 1 ? E1000_EECD_DI : 0);
		wr(t, E1000_EECD, eecd);
		ee_clock(t, &eecd);
	}
	eecd &= ~E1000_EECD_DI;
	for (int b = 0; b < 16; b++) {
		uint32_t x;
		wr(t, E1000_EECD, eecd | E1000_EECD_SK);
		x = rd(t, E1000_EECD);
		v = (uint16_t)(v << 1 | !!(x & E1000_EECD_DO));
		wr(t, E1000_EECD, eecd & ~E1000_EECD_SK);
	}
	wr(t, E1000_EECD, eecd & ~(E1000_EECD_CS | E1000_EECD_REQ));
	return v;
}

static void test_eeprom_microwire(void **state)
{
	struct t *t = *state;
	uint16_t sum = 0;

	assert_true(rd(t, E1000_EECD) & E1000_EECD_PRES);
	assert_false(rd(t, E1000_EECD) & (1u << 9)); /* EE_SIZE clear: 64 words, 6 address bits */
	for (unsigned i = 0; i < E1000_EEPROM_WORDS; i++) {
		uint16_t w = ee_read_word(t, i);
		wr(t, E1000_EERD, i << 8 | E1000_EERD_START);
		assert_int_equal(w, rd(t, E1000_EERD) >> 16);
		sum = (uint16_t)(sum + w);
	}
	assert_int_equal(sum, E1000_EEPROM_SUM);
	assert_int_equal(ee_read_word(t, 1), MAC[2] | MAC[3] << 8);
	assert_int_equal(ee_read_word(t, 0x0d), E1000_DEVICE_82540EM);
}

/* ---- PHY over MDIC ---- */

static uint32_t mdic(struct t *t, uint32_t op, unsigned phy, unsigned reg, uint16_t data)
{
	wr(t, E1000_MDIC, op | phy << 21 | reg << 16 | data);
	return rd(t, E1000_MDIC);
}

static void test_phy(void **state)
{
	struct t *t = *state;
	uint32_t v;

	v = mdic(t, E1000_MDIC_OP_READ, 1, 2, 0);
	assert_true(v & E1000_MDIC_READY);
	assert_false(v & E1000_MDIC_ERROR);
	assert_int_equal(v & 0xffff, 0x0141);
	assert_int_equal(mdic(t, E1000_MDIC_OP_READ, 1, 3, 0) & 0xfff0, 0x0c20);
	assert_true(mdic(t, E1000_MDIC_OP_READ, 2, 2, 0) & E1000_MDIC_ERROR); /* only PHY address 1 answers */
	assert_true(mdic(t, 0, 1, 2, 0) & E1000_MDIC_ERROR);                  /* no such opcode */

	mdic(t, E1000_MDIC_OP_WRITE, 1, 4, 0x01e1);
	assert_int_equal(mdic(t, E1000_MDIC_OP_READ, 1, 4, 0) & 0xffff, 0x01e1);
	mdic(t, E1000_MDIC_OP_WRITE, 1, 2, 0xdead); /* ID is read-only */
	assert_int_equal(mdic(t, E1000_MDIC_OP_READ, 1, 2, 0) & 0xffff, 0x0141);

	/* Link: up and autonegotiated; power-down takes it away with LSC, restart brings it back. */
	assert_true(mdic(t, E1000_MDIC_OP_READ, 1, 1, 0) & 0x24);
	assert_true(rd(t, E1000_STATUS) & E1000_STATUS_LU);
	rd(t, E1000_ICR);
	wr(t, E1000_IMS, E1000_ICR_LSC);
	mdic(t, E1000_MDIC_OP_WRITE, 1, 0, 0x1140 | 0x0800);
	assert_false(rd(t, E1000_STATUS) & E1000_STATUS_LU);
	assert_false(mdic(t, E1000_MDIC_OP_READ, 1, 1, 0) & 0x04);
	assert_true(t->level);
	assert_int_equal(rd(t, E1000_ICR), E1000_ICR_LSC);
	assert_false(t->level);
	mdic(t, E1000_MDIC_OP_WRITE, 1, 0, 0x1140 | 0x0200); /* power up, restart autonegotiation */
	assert_true(rd(t, E1000_STATUS) & E1000_STATUS_LU);
	assert_int_equal(mdic(t, E1000_MDIC_OP_READ, 1, 0, 0) & 0x0200, 0); /* self-clearing */
	assert_int_equal(mdic(t, E1000_MDIC_OP_READ, 1, 0x11, 0) & 0xec00, 0xac00); /* 1000 full, link */
	assert_int_equal(rd(t, E1000_STATUS) & 0xc3, E1000_STATUS_FD | E1000_STATUS_LU | E1000_STATUS_SPEED_1000);

	/* MDIC with its interrupt enable raises MDAC. */
	wr(t, E1000_IMS, E1000_ICR_MDAC);
	rd(t, E1000_ICR);
	mdic(t, E1000_MDIC_OP_READ | E1000_MDIC_IE, 1, 2, 0);
	assert_true(rd(t, E1000_ICR) & E1000_ICR_MDAC);
}

/* ---- Interrupt cause and mask, INTx level ---- */

static void test_interrupts(void **state)
{
	struct t *t = *state;

	assert_false(t->level);
	wr(t, E1000_ICS, E1000_ICR_RXT0); /* cause without mask: no interrupt */
	assert_false(t->level);
	assert_int_equal(rd(t, E1000_ICS), E1000_ICR_RXT0); /* reading ICS does not clear */
	wr(t, E1000_IMS, E1000_ICR_RXT0 | E1000_ICR_TXDW);
	assert_true(t->level);
	assert_int_equal(rd(t, E1000_IMS), E1000_ICR_RXT0 | E1000_ICR_TXDW);
	wr(t, E1000_IMC, E1000_ICR_RXT0); /* masked: deasserted, cause kept */
	assert_false(t->level);
	assert_int_equal(rd(t, E1000_IMS), E1000_ICR_TXDW);
	wr(t, E1000_IMS, E1000_ICR_RXT0);
	assert_true(t->level);
	assert_int_equal(rd(t, E1000_ICR), E1000_ICR_RXT0); /* read to clear */
	assert_false(t->level);
	assert_int_equal(rd(t, E1000_ICR), 0);
	wr(t, E1000_ICS, E1000_ICR_TXDW | E1000_ICR_RXT0);
	assert_true(t->level);
	wr(t, E1000_ICR, E1000_ICR_TXDW); /* write 1 to clear */
	assert_true(t->level);
	wr(t, E1000_ICR, E1000_ICR_RXT0);
	assert_false(t->level);
	wr(t, E1000_ICS, 0x80000000u); /* no such cause */
	assert_int_equal(rd(t, E1000_ICR), 0);
	/* Throttling registers are accepted and kept. */
	wr(t, E1000_ITR, 195);
	wr(t, E1000_RDTR, 0);
	wr(t, E1000_RADV, 8);
	wr(t, E1000_TIDV, 8);
	wr(t, E1000_TADV, 32);
	assert_int_equal(rd(t, E1000_ITR), 195);
	assert_int_equal(rd(t, E1000_RADV), 8);
	assert_int_equal(rd(t, E1000_TADV), 32);
}

static void test_reset_and_registers(void **state)
{
	struct t *t = *state;
	uint8_t io[4];

	assert_int_equal(rd(t, E1000_RA), 0x33221102);
	assert_int_equal(rd(t, E1000_RA + 4), 0x5544 | E1000_RAH_AV);
	wr(t, E1000_RA, 0);
	wr(t, E1000_RA + 4, 0xffffffff);
	assert_int_equal(rd(t, E1000_RA + 4), 0x8003ffff);
	wr(t, E1000_MTA + 4 * 7, 0x1234);
	wr(t, E1000_IMS, E1000_ICR_TXDW);
	wr(t, E1000_ICS, E1000_ICR_TXDW);
	assert_true(t->level);
	wr(t, E1000_CTRL, rd(t, E1000_CTRL) | E1000_CTRL_RST);
	assert_false(t->level);
	assert_int_equal(rd(t, E1000_CTRL) & E1000_CTRL_RST, 0);
	assert_int_equal(rd(t, E1000_RA), 0x33221102);
	assert_int_equal(rd(t, E1000_MTA + 4 * 7), 0);
	assert_int_equal(rd(t, E1000_IMS), 0);
	assert_int_equal(rd(t, E1000_VET), 0x8100);

	/* STATUS is read-only; unknown registers read 0 and ignore writes. */
	wr(t, E1000_STATUS, 0);
	assert_true(rd(t, E1000_STATUS) & E1000_STATUS_LU);
	wr(t, 0x0004, 0xffffffff);
	assert_int_equal(rd(t, 0x0004), 0);
	assert_int_equal(rd(t, E1000_MMIO_SIZE), 0);
	assert_int_equal(rd(t, 2), 0);

	/* The I/O BAR reaches the same registers. */
	put32(io, E1000_STATUS);
	e1000_pio(&t->s, 0, io, 4, true);
	e1000_pio(&t->s, 4, io, 4, false);
	assert_int_equal(get16(io) & 0x3, E1000_STATUS_FD | E1000_STATUS_LU);
	put32(io, E1000_CTRL);
	e1000_pio(&t->s, 0, io, 4, true);
	put32(io, E1000_CTRL_SLU | E1000_CTRL_RST);
	wr(t, E1000_MTA, 5);
	e1000_pio(&t->s, 4, io, 4, true);
	assert_int_equal(rd(t, E1000_MTA), 0);
	e1000_pio(&t->s, 2, io, 2, false); /* not IOADDR/IODATA: all ones */
	assert_int_equal(get16(io), 0xffff);

	/* BAR accesses: a byte read has no side effect; an 8-byte write reaches two registers. */
	uint8_t b[8];
	wr(t, E1000_ICS, E1000_ICR_RXT0);
	e1000_mmio(&t->s, E1000_ICR, b, 1, false);
	assert_int_equal(b[0], E1000_ICR_RXT0);
	assert_int_equal(rd(t, E1000_ICR), E1000_ICR_RXT0);
	put32(b, 0x1000);
	put32(b + 4, 0);
	e1000_mmio(&t->s, E1000_TDBAL, b, 8, true);
	assert_int_equal(rd(t, E1000_TDBAL), 0x1000);
	e1000_mmio(&t->s, E1000_TDBAL + 1, b, 2, true); /* unaligned write: ignored */
	assert_int_equal(rd(t, E1000_TDBAL), 0x1000);
	e1000_mmio(&t->s, E1000_MMIO_SIZE - 4, b, 8, false); /* runs past the BAR: no crash */
}

/* ---- Transmit ---- */

static void tx_setup(struct t *t, unsigned n)
{
	wr(t, E1000_TDBAL, (uint32_t)TXRING);
	wr(t, E1000_TDBAH, 0);
	wr(t, E1000_TDLEN, n * 16);
	wr(t, E1000_TDH, 0);
	wr(t, E1000_TDT, 0);
	wr(t, E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP);
	wr(t, E1000_IMS, E1000_ICR_TXDW);
}
static void tx_legacy(struct t *t, unsigned i, uint64_t addr, uint16_t len, uint8_t cmd)
{
	uint8_t *d = gpa(t, TXRING + 16 * i);
	memset(d, 0, 16);
	put64(d, addr);
	put16(d + 8, len);
	d[11] = cmd;
}
static void fill(struct t *t, uint64_t a, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		gpa(t, a)[i] = (uint8_t)(seed + i);
}

static void test_tx_legacy(void **state)
{
	struct t *t = *state;

	tx_setup(t, 8);
	fill(t, BUFS, 100, 1);
	fill(t, BUFS + 0x1000, 50, 7);
	fill(t, BUFS + 0x2000, 30, 9);
	tx_legacy(t, 0, BUFS, 100, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS | E1000_TXD_CMD_IFCS);
	tx_legacy(t, 1, BUFS + 0x1000, 50, E1000_TXD_CMD_IFCS);
	tx_legacy(t, 2, BUFS + 0x2000, 30, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS | E1000_TXD_CMD_IFCS);
	unsigned kicks = t->kicks_tx;
	wr(t, E1000_TDT, 3);
	assert_int_equal(t->kicks_tx, kicks + 1);
	assert_int_equal(t->nframes, 0); /* nothing happens on the vCPU: the kick hands it over */
	e1000_tx_process(&t->s);
	assert_int_equal(t->nframes, 2);
	assert_int_equal(t->frames[0].len, 100);
	assert_memory_equal(t->frames[0].data, gpa(t, BUFS), 100);
	assert_int_equal(t->frames[1].len, 80);
	assert_memory_equal(t->frames[1].data, gpa(t, BUFS + 0x1000), 50);
	assert_memory_equal(t->frames[1].data + 50, gpa(t, BUFS + 0x2000), 30);
	assert_int_equal(rd(t, E1000_TDH), 3);
	assert_true(gpa(t, TXRING)[12] & E1000_TXD_STA_DD);
	assert_false(gpa(t, TXRING + 16)[12] & E1000_TXD_STA_DD); /* no RS: not written back */
	assert_true(gpa(t, TXRING + 32)[12] & E1000_TXD_STA_DD);
	assert_true(t->level);
	assert_int_equal(rd(t, E1000_ICR), E1000_ICR_TXDW | E1000_ICR_TXQE);
	assert_int_equal(rd(t, E1000_GPTC), 2);
	assert_int_equal(rd(t, E1000_TPT), 2);
	assert_int_equal(rd(t, E1000_GOTCL), 104 + 84);
	assert_int_equal(rd(t, E1000_GOTCH), 0);
	assert_int_equal(rd(t, E1000_GOTCL), 0); /* reading the high half cleared both */
	assert_int_equal(rd(t, E1000_GPTC), 0);  /* clear on read */

	/* A short frame is padded to 60 bytes (PSP); legacy IC inserts a checksum at CSO from CSS. */
	memset(gpa(t, BUFS), 0, 20);
	gpa(t, BUFS + 14)[0] = 0x12;
	tx_legacy(t, 3, BUFS, 20, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IC);
	gpa(t, TXRING + 48)[10] = 16; /* CSO */
	gpa(t, TXRING + 48)[13] = 14; /* CSS */
	wr(t, E1000_TDT, 4);
	e1000_tx_process(&t->s);
	assert_int_equal(t->nframes, 3);
	assert_int_equal(t->frames[2].len, 60);
	assert_int_equal(be16(t->frames[2].data + 16), (uint16_t)~0x1200);
}

static void test_tx_wrap(void **state)
{
	struct t *t = *state;

	tx_setup(t, 8);
	wr(t, E1000_TDH, 6);
	wr(t, E1000_TDT, 6);
	for (unsigned i = 0; i < 4; i++) {
		unsigned slot = (6 + i) % 8;
		fill(t, BUFS + 0x100 * i, 64, (uint8_t)i);
		tx_legacy(t, slot, BUFS + 0x100 * i, 64, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS);
	}
	wr(t, E1000_TDT, 2);
	e1000_tx_process(&t->s);
	assert_int_equal(t->nframes, 4);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(t->frames[i].data[0], i);
	assert_int_equal(rd(t, E1000_TDH), 2);
	/* Nothing new: processing again sends nothing. */
	e1000_tx_process(&t->s);
	assert_int_equal(t->nframes, 4);
	/* TCTL.EN clear: the ring is left alone. */
	wr(t, E1000_TCTL, 0);
	tx_legacy(t, 2, BUFS, 64, E1000_TXD_CMD_EOP);
	wr(t, E1000_TDT, 3);
	e1000_tx_process(&t->s);
	assert_int_equal(t->nframes, 4);
	assert_int_equal(rd(t, E1000_TDH), 2);
}

/* An Ethernet + IPv4 + TCP frame with payload n, checksums left for the device: the IP checksum zero,
 * the TCP checksum holding the pseudo-header sum (with the length unless tso). */
static size_t build_tcp(uint8_t *f, size_t n, bool tso)
{
	size_t len = 14 + 20 + 20 + n;
	uint32_t ph;

	memset(f, 0, 54);
	memcpy(f, "\x02\x00\x00\x00\x00\x01\x02\x11\x22\x33\x44\x55\x08\x00", 14);
	f[14] = 0x45;
	f[16] = (uint8_t)((len - 14) >> 8);
	f[17] = (uint8_t)(len - 14);
	f[18] = 0x12, f[19] = 0x34; /* ID */
	f[22] = 64;
	f[23] = 6;
	memcpy(f + 26, "\xc6\x12\x00\x01\xc6\x12\x00\x02", 8);
	f[34] = 0x13, f[35] = 0x88, f[36] = 0x00, f[37] = 0x50;
	memcpy(f + 38, "\x00\x00\x10\x00", 4); /* seq 0x1000 */
	f[46] = 0x50;
	f[47] = 0x19; /* FIN PSH ACK */
	for (size_t i = 0; i < n; i++)
		f[54 + i] = (uint8_t)(i * 7);
	if (tso) {
		f[16] = f[17] = 0;
	}
	ph = 0xc612 + 0x0001 + 0xc612 + 0x0002 + 6 + (tso ? 0 : (uint32_t)(20 + n));
	ph = (ph & 0xffff) + (ph >> 16);
	f[50] = (uint8_t)(ph >> 8);
	f[51] = (uint8_t)ph;
	return len;
}
/* A frame's IPv4 header and TCP checksums verify. */
static void check_tcp(const uint8_t *f, size_t len)
{
	uint32_t ph;
	size_t l4 = len - 34;

	assert_int_equal(e1000_checksum(f + 14, 20, 0), 0xffff);
	assert_int_equal(be16(f + 16), len - 14);
	ph = 0xc612 + 0x0001 + 0xc612 + 0x0002 + 6 + (uint32_t)l4;
	assert_int_equal(e1000_checksum(f + 34, l4, ph), 0xffff);
}

static void ctx_desc(struct t *t, unsigned i, bool tse, uint32_t paylen, uint8_t hdrlen, uint16_t mss)
{
	uint8_t *d = gpa(t, TXRING + 16 * i);
	memset(d, 0, 16);
	d[0] = 14;     /* IPCSS */
	d[1] = 24;     /* IPCSO */
	put16(d + 2, 33); /* IPCSE */
	d[4] = 34;     /* TUCSS */
	d[5] = 50;     /* TUCSO */
	put32(d + 8, paylen);
	d[11] = E1000_TXD_CMD_DEXT | E1000_TXD_TUCMD_IP | E1000_TXD_TUCMD_TCP | (tse ? E1000_TXD_CMD_TSE : 0);
	d[13] = hdrlen;
	put16(d + 14, mss);
}
static void data_desc(struct t *t, unsigned i, uint64_t addr, uint32_t len, uint8_t dcmd, uint8_t popts)
{
	uint8_t *d = gpa(t, TXRING + 16 * i);
	memset(d, 0, 16);
	put64(d, addr);
	put32(d + 8, len | 1u << 20);
	d[11] = dcmd | E1000_TXD_CMD_DEXT;
	d[13] = popts;
}

static void test_tx_checksum_offload(void **state)
{
	struct t *t = *state;
	size_t len = build_tcp(gpa(t, BUFS), 300, false);

	/* The IP checksum is the guest's (as Linux leaves it); the device fills TCP's. */
	uint8_t *ip = gpa(t, BUFS + 14);
	uint16_t c = (uint16_t)~e1000_checksum(ip, 20, 0);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	tx_setup(t, 8);
	ctx_desc(t, 0, false, 0, 0, 0);
	data_desc(t, 1, BUFS, 100, 0, E1000_TXD_POPTS_TXSM);
	data_desc(t, 2, BUFS + 100, (uint32_t)len - 100, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
	wr(t, E1000_TDT, 3);
	e1000_tx_process(&t->s);
	assert_int_equal(t->nframes, 1);
	assert_int_equal(t->frames[0].len, len);
	check_tcp(t->frames[0].data, len);
	assert_true(gpa(t, TXRING + 32)[12] & E1000_TXD_STA_DD);
}

static void test_tx_tso(void **state)
{
	struct t *t = *state;
	size_t len = build_tcp(gpa(t, BUFS), 3000, true);

	tx_setup(t, 8);
	ctx_desc(t, 0, true, 3000, 54, 1000);
	data_desc(t, 1, BUFS, 54, E1000_TXD_CMD_TSE, E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM);
	data_desc(t, 2, BUFS + 54, 1500, E1000_TXD_CMD_TSE, 0);
	data_desc(t, 3, BUFS + 54 + 1500, 1500, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
	wr(t, E1000_TDT, 4);
	e1000_tx_process(&t->s);
	assert_int_equal(len, 3054);
	assert_int_equal(t->nframes, 3);
	for (unsigned i = 0; i < 3; i++) {
		const uint8_t *f = t->frames[i].data;
		assert_int_equal(t->frames[i].len, 1054);
		check_tcp(f, 1054);
		assert_int_equal(be16(f + 18), 0x1234 + i);            /* IP ID counts up */
		assert_int_equal(be32(f + 38), 0x1000 + 1000 * i);     /* sequence number */
		assert_int_equal(f[47], i == 2 ? 0x19 : 0x10);         /* FIN, PSH only on the last */
		assert_memory_equal(f + 54, gpa(t, BUFS + 54 + 1000 * i), 1000);
	}
	assert_int_equal(rd(t, E1000_TSCTC), 1);

	/* Hostile contexts: a header longer than the packet, MSS 0: dropped, counted, no crash. */
	ctx_desc(t, 4, true, 3000, 200, 1000);
	data_desc(t, 5, BUFS, 100, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP, E1000_TXD_POPTS_TXSM);
	ctx_desc(t, 6, true, 3000, 54, 0);
	data_desc(t, 7, BUFS, 200, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP, E1000_TXD_POPTS_TXSM);
	wr(t, E1000_TDT, 0);
	e1000_tx_process(&t->s);
	assert_int_equal(t->nframes, 3);
	assert_int_equal(rd(t, E1000_TSCTFC), 2);
	assert_null(t->s.broken);
}

static void test_tx_vlan(void **state)
{
	struct t *t = *state;

	/* VLE with CTRL.VME: the tag from the descriptor's special field goes in after the addresses. */
	fill(t, BUFS, 64, 0);
	tx_setup(t, 8);
	tx_legacy(t, 0, BUFS, 64, E1000_TXD_CMD_EOP | E1000_TXD_CMD_VLE);
	put16(gpa(t, TXRING) + 14, 0x2005);
	wr(t, E1000_TDT, 1);
	e1000_tx_process(&t->s);
	assert_int_equal(t->nframes, 1);
	assert_int_equal(t->frames[0].len, 64); /* VME clear: no tag */
	wr(t, E1000_CTRL, rd(t, E1000_CTRL) | E1000_CTRL_VME);
	tx_legacy(t, 1, BUFS, 64, E1000_TXD_CMD_EOP | E1000_TXD_CMD_VLE);
	put16(gpa(t, TXRING + 16) + 14, 0x2005);
	wr(t, E1000_TDT, 2);
	e1000_tx_process(&t->s);
	assert_int_equal(t->nframes, 2);
	assert_int_equal(t->frames[1].len, 68);
	assert_memory_equal(t->frames[1].data, gpa(t, BUFS), 12);
	assert_int_equal(be16(t->frames[1].data + 12), 0x8100);
	assert_int_equal(be16(t->frames[1].data + 14), 0x2005);
	assert_memory_equal(t->frames[1].data + 16, gpa(t, BUFS + 12), 52);
	/* A frame shorter than an Ethernet header is not sent at all. */
	tx_legacy(t, 2, BUFS, 10, E1000_TXD_CMD_EOP);
	wr(t, E1000_TDT, 3);
	e1000_tx_process(&t->s);
	assert_int_equal(t->nframes, 2);
	assert_int_equal(rd(t, E1000_TDH), 3);
}

/* ---- Receive ---- */

static void rx_setup(struct t *t, unsigned n, uint32_t rctl)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t *d = gpa(t, RXRING + 16 * i);
		memset(d, 0, 16);
		put64(d, BUFS + 0x1000 * i);
	}
	wr(t, E1000_RDBAL, (uint32_t)RXRING);
	wr(t, E1000_RDBAH, 0);
	wr(t, E1000_RDLEN, n * 16);
	wr(t, E1000_RDH, 0);
	wr(t, E1000_RDT, n - 1);
	wr(t, E1000_RCTL, rctl | E1000_RCTL_EN);
	wr(t, E1000_IMS, E1000_ICR_RXT0 | E1000_ICR_RXDMT0);
}
static size_t frame_to(uint8_t *f, const uint8_t dst[6], size_t len)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, "\x02\xaa\xbb\xcc\xdd\xee\x08\x00", 8);
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)i;
	return len;
}

static void test_rx_basic(void **state)
{
	struct t *t = *state;
	uint8_t f[1514];
	uint8_t *d = gpa(t, RXRING);

	/* Receiver disabled: dropped, nothing written. */
	frame_to(f, MAC, 100);
	assert_int_equal(e1000_rx_frame(&t->s, f, 100), 0);
	assert_int_equal(d[12], 0);

	rx_setup(t, 8, E1000_RCTL_SECRC);
	assert_int_equal(e1000_rx_frame(&t->s, f, 100), 0);
	assert_int_equal(get16(d + 8), 100);
	assert_int_equal(d[12], E1000_RXD_STA_DD | E1000_RXD_STA_EOP | E1000_RXD_STA_IXSM);
	assert_memory_equal(gpa(t, BUFS), f, 100);
	assert_int_equal(rd(t, E1000_RDH), 1);
	assert_true(t->level);
	assert_true(rd(t, E1000_ICR) & E1000_ICR_RXT0);
	assert_int_equal(rd(t, E1000_GPRC), 1);
	assert_int_equal(rd(t, E1000_GORCL), 104);

	/* Without SECRC the guest gets the FCS too; short frames come padded to 60 bytes. */
	wr(t, E1000_RCTL, E1000_RCTL_EN);
	frame_to(f, MAC, 42);
	assert_int_equal(e1000_rx_frame(&t->s, f, 42), 0);
	d = gpa(t, RXRING + 16);
	assert_int_equal(get16(d + 8), 64);
	assert_memory_equal(gpa(t, BUFS + 0x1000), f, 42);
	assert_int_equal(gpa(t, BUFS + 0x1000)[42], 0);
}

static void test_rx_filters(void **state)
{
	struct t *t = *state;
	uint8_t f[200];
	static const uint8_t other[6] = { 0x02, 0, 0, 0, 0, 9 }, bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t mcast[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb };
	unsigned h;

	rx_setup(t, 16, E1000_RCTL_SECRC);
#define DELIVERED() (rd(t, E1000_GPRC))
	frame_to(f, other, 60);
	e1000_rx_frame(&t->s, f, 60);
	assert_int_equal(DELIVERED(), 0);
	frame_to(f, bcast, 60);
	e1000_rx_frame(&t->s, f, 60);
	assert_int_equal(DELIVERED(), 0); /* BAM clear */
	wr(t, E1000_RCTL, rd(t, E1000_RCTL) | E1000_RCTL_BAM);
	e1000_rx_frame(&t->s, f, 60);
	assert_int_equal(DELIVERED(), 1);
	frame_to(f, mcast, 60);
	e1000_rx_frame(&t->s, f, 60);
	assert_int_equal(DELIVERED(), 0);
	/* Multicast table, MO = 0: hash = address bits 47:36. */
	h = (mcast[4] >> 4 | mcast[5] << 4) & 0xfff;
	wr(t, E1000_MTA + 4 * (h >> 5), 1u << (h & 31));
	e1000_rx_frame(&t->s, f, 60);
	assert_int_equal(DELIVERED(), 1);
	assert_int_equal(rd(t, E1000_MPRC), 1);
	/* MO = 3 uses bits 43:32: the same table bit no longer matches. */
	wr(t, E1000_RCTL, rd(t, E1000_RCTL) | 3u << E1000_RCTL_MO_SHIFT);
	e1000_rx_frame(&t->s, f, 60);
	assert_int_equal(DELIVERED(), 0);
	wr(t, E1000_RCTL, rd(t, E1000_RCTL) | E1000_RCTL_MPE);
	e1000_rx_frame(&t->s, f, 60);
	assert_int_equal(DELIVERED(), 1);
	/* A second exact address (RA[1]), then unicast promiscuous. */
	frame_to(f, other, 60);
	wr(t, E1000_RA + 8, 0x00000002);
	wr(t, E1000_RA + 12, 0x0900 | E1000_RAH_AV);
	e1000_rx_frame(&t->s, f, 60);
	assert_int_equal(DELIVERED(), 1);
	wr(t, E1000_RA + 12, 0);
	e1000_rx_frame(&t->s, f, 60);
	assert_int_equal(DELIVERED(), 0);
	wr(t, E1000_RCTL, rd(t, E1000_RCTL) | E1000_RCTL_UPE);
	e1000_rx_frame(&t->s, f, 60);
	assert_int_equal(DELIVERED(), 1);

	/* VLAN: filtered by VFTA with VFE, stripped into the descriptor with CTRL.VME. */
	frame_to(f, MAC, 100);
	f[12] = 0x81, f[13] = 0x00, f[14] = 0x00, f[15] = 0x05, f[16] = 0x08, f[17] = 0x00;
	wr(t, E1000_RCTL, (rd(t, E1000_RCTL) & ~E1000_RCTL_UPE) | E1000_RCTL_VFE);
	e1000_rx_frame(&t->s, f, 100);
	assert_int_equal(DELIVERED(), 0);
	wr(t, E1000_VFTA, 1u << 5);
	wr(t, E1000_CTRL, rd(t, E1000_CTRL) | E1000_CTRL_VME);
	unsigned head = rd(t, E1000_RDH);
	e1000_rx_frame(&t->s, f, 100);
	assert_int_equal(DELIVERED(), 1);
	uint8_t *d = gpa(t, RXRING + 16 * head);
	assert_true(d[12] & E1000_RXD_STA_VP);
	assert_int_equal(get16(d + 14), 5);
	assert_int_equal(get16(d + 8), 96);
	assert_int_equal(be16(gpa(t, BUFS + 0x1000 * head) + 12), 0x0800);

	/* Oversized without LPE: dropped, counted. */
	uint8_t big[1600];
	frame_to(big, MAC, sizeof(big));
	e1000_rx_frame(&t->s, big, sizeof(big));
	assert_int_equal(DELIVERED(), 0);
	assert_int_equal(rd(t, E1000_ROC), 1);
}

static void test_rx_hold_and_span(void **state)
{
	struct t *t = *state;
	uint8_t f[1514];

	/* 8 descriptors (RDLEN counts in 128 bytes), RDT = 1: one free. */
	rx_setup(t, 8, E1000_RCTL_SECRC | E1000_RCTL_BAM);
	wr(t, E1000_RDT, 1);
	frame_to(f, MAC, 200);
	assert_int_equal(e1000_rx_frame(&t->s, f, 200), 0);
	assert_int_equal(rd(t, E1000_GPRC), 1);
	assert_int_equal(rd(t, E1000_RDH), 1);
	assert_int_equal(e1000_rx_frame(&t->s, f, 200), -EAGAIN); /* RDH == RDT: none free */
	assert_int_equal(rd(t, E1000_RDH), 1);
	assert_true(rd(t, E1000_ICR) & E1000_ICR_RXDMT0);
	unsigned kicks = t->kicks_rx;
	wr(t, E1000_RDT, 3);
	assert_int_equal(t->kicks_rx, kicks + 1);
	assert_int_equal(e1000_rx_frame(&t->s, f, 200), 0);

	/* 256-byte buffers: a 600-byte frame takes three descriptors, EOP on the last. */
	rx_setup(t, 8, E1000_RCTL_SECRC | 3u << E1000_RCTL_BSIZE_SHIFT);
	frame_to(f, MAC, 600);
	assert_int_equal(e1000_rx_frame(&t->s, f, 600), 0);
	for (unsigned i = 0; i < 3; i++) {
		uint8_t *d = gpa(t, RXRING + 16 * i);
		assert_int_equal(get16(d + 8), i < 2 ? 256 : 88);
		assert_int_equal(d[12] & E1000_RXD_STA_EOP, i == 2 ? E1000_RXD_STA_EOP : 0);
		assert_memory_equal(gpa(t, BUFS + 0x1000 * i), f + 256 * i, i < 2 ? 256 : 88);
	}
	assert_int_equal(rd(t, E1000_RDH), 3);
	/* Four free of eight: a frame needing more is held, not cut. */
	wr(t, E1000_RDT, 6);
	frame_to(f, MAC, 1400);
	assert_int_equal(e1000_rx_frame(&t->s, f, 1400), -EAGAIN);
	assert_int_equal(rd(t, E1000_RDH), 3);
}

/* ---- Hostile guests ---- */

static void test_hostile_rings(void **state)
{
	struct t *t = *state;
	uint8_t f[100];

	/* A transmit ring outside RAM: the device stops DMA, nothing is sent, no access outside. */
	tx_setup(t, 8);
	wr(t, E1000_TDBAL, 0xfffff000);
	wr(t, E1000_TDBAH, 0xffffffff);
	wr(t, E1000_TDT, 1);
	e1000_tx_process(&t->s);
	assert_int_equal(t->nframes, 0);
	assert_non_null(t->s.broken);
	/* Broken stays broken (rings fixed or not) until the guest resets the device. */
	wr(t, E1000_TDBAL, (uint32_t)TXRING);
	wr(t, E1000_TDBAH, 0);
	tx_legacy(t, 0, BUFS, 64, E1000_TXD_CMD_EOP);
	e1000_tx_process(&t->s);
	assert_int_equal(t->nframes, 0);
	wr(t, E1000_CTRL, E1000_CTRL_RST);
	assert_null(t->s.broken);

	/* A ring that starts inside RAM but runs past its end. */
	tx_setup(t, 8);
	wr(t, E1000_TDBAL, (uint32_t)(RAM_BASE + RAM_SIZE - 64));
	wr(t, E1000_TDT, 1);
	e1000_tx_process(&t->s);
	assert_non_null(t->s.broken);
	wr(t, E1000_CTRL, E1000_CTRL_RST);

	/* TDT past the ring's end. */
	tx_setup(t, 8);
	wr(t, E1000_TDT, 9);
	e1000_tx_process(&t->s);
	assert_int_equal(t->nframes, 0);
	assert_non_null(t->s.broken);
	wr(t, E1000_CTRL, E1000_CTRL_RST);

	/* A buffer outside RAM (and one whose end wraps the address space). */
	tx_setup(t, 8);
	tx_legacy(t, 0, 0xfffffffffffffff0ull, 64, E1000_TXD_CMD_EOP);
	wr(t, E1000_TDT, 1);
	e1000_tx_process(&t->s);
	assert_int_equal(t->nframes, 0);
	assert_non_null(t->s.broken);
	wr(t, E1000_CTRL, E1000_CTRL_RST);

	/* A packet longer than the device takes (descriptors of 64 KiB - 1 each, no EOP for a while):
	 * dropped whole, the ring still advances. */
	tx_setup(t, 8);
	for (unsigned i = 0; i < 3; i++)
		tx_legacy(t, i, RAM_BASE, 0xffff, i == 2 ? E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS : 0);
	tx_legacy(t, 3, BUFS, 64, E1000_TXD_CMD_EOP);
	wr(t, E1000_TDT, 4);
	e1000_tx_process(&t->s);
	assert_int_equal(t->nframes, 1);
	assert_int_equal(t->frames[0].len, 64);
	assert_int_equal(rd(t, E1000_TDH), 4);
	assert_null(t->s.broken);
	/* A descriptor type that does not exist is skipped. */
	data_desc(t, 4, BUFS, 64, E1000_TXD_CMD_EOP, 0);
	gpa(t, TXRING + 64)[10] = 0x70;
	wr(t, E1000_TDT, 5);
	e1000_tx_process(&t->s);
	assert_int_equal(t->nframes, 1);
	assert_int_equal(rd(t, E1000_TDH), 5);

	/* Receive ring outside RAM, RDT past the end, a buffer outside RAM. */
	frame_to(f, MAC, 100);
	rx_setup(t, 8, E1000_RCTL_SECRC);
	wr(t, E1000_RDBAH, 7);
	assert_int_equal(e1000_rx_frame(&t->s, f, 100), 0);
	assert_non_null(t->s.broken);
	assert_false(e1000_rx_enabled(&t->s));
	wr(t, E1000_CTRL, E1000_CTRL_RST);
	rx_setup(t, 8, E1000_RCTL_SECRC);
	wr(t, E1000_RDT, 200);
	assert_int_equal(e1000_rx_frame(&t->s, f, 100), 0);
	assert_non_null(t->s.broken);
	wr(t, E1000_CTRL, E1000_CTRL_RST);
	rx_setup(t, 8, E1000_RCTL_SECRC);
	put64(gpa(t, RXRING), RAM_BASE + RAM_SIZE - 10);
	assert_int_equal(e1000_rx_frame(&t->s, f, 100), 0);
	assert_non_null(t->s.broken);
	assert_int_equal(rd(t, E1000_RDH), 0);
	assert_int_equal(gpa(t, RXRING)[12], 0);
	wr(t, E1000_CTRL, E1000_CTRL_RST);

	/* RDLEN at its largest: 1 MiB of descriptors cannot lie in this RAM past its base. */
	rx_setup(t, 8, E1000_RCTL_SECRC);
	wr(t, E1000_RDLEN, 0xffffffff);
	assert_int_equal(rd(t, E1000_RDLEN), 0xfff80);
	assert_int_equal(e1000_rx_frame(&t->s, f, 100), 0);
	assert_non_null(t->s.broken);
	/* A frame shorter than an Ethernet header is dropped before anything else. */
	wr(t, E1000_CTRL, E1000_CTRL_RST);
	rx_setup(t, 8, E1000_RCTL_SECRC);
	assert_int_equal(e1000_rx_frame(&t->s, f, 10), 0);
	assert_int_equal(rd(t, E1000_RDH), 0);
}

static void test_fcs(void **state)
{
	struct t *t = *state;
	uint8_t f[100];
	uint32_t c = 0xffffffff;
	uint8_t *b;

	rx_setup(t, 8, 0);
	frame_to(f, MAC, 100);
	assert_int_equal(e1000_rx_frame(&t->s, f, 100), 0);
	assert_int_equal(get16(gpa(t, RXRING) + 8), 104);
	/* Running the CRC over frame and FCS leaves the CRC-32 residue. */
	b = gpa(t, BUFS);
	for (size_t i = 0; i < 104; i++) {
		c ^= b[i];
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320 ^ (c >> 1) : c >> 1;
	}
	assert_int_equal(c, 0xdebb20e3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_eeprom_eerd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eeprom_microwire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_phy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_and_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_legacy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_checksum_offload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_tso, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_vlan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_basic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_hold_and_span, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_rings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fcs, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
