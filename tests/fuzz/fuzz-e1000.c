/* fuzz-e1000.c: the 82540EM model as a hostile guest drives it: the input is guest RAM (descriptor rings,
 * buffers) followed by a program of register writes and reads, BAR accesses of any size, transmit ring
 * walks and received frames. Guest RAM is an exact-size allocation, so a read or write outside it is an
 * AddressSanitizer report; the model must also never hand the wire a frame larger than it can build.
 * Build and run (until make fuzz picks tests/fuzz/ up): clang -g -O1 -fsanitize=fuzzer,address,undefined -I.
 *   tests/fuzz/fuzz-e1000.c vm/devices/e1000-regs.c vm/devices/e1000-rings.c util/log.c; seeds in corpus/e1000/. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/devices/e1000.h"

#define RAM_BASE 0x10000ull
#define RAM_SIZE 0x8000u /* the first RAM_SIZE input bytes */

struct env {
	uint8_t *ram;
	struct e1000 *s;
};

static void *fz_dma(void *opaque, uint64_t gpa, uint64_t len)
{
	struct env *e = opaque;
	if (gpa < RAM_BASE || gpa - RAM_BASE > RAM_SIZE || len > RAM_SIZE - (gpa - RAM_BASE))
		return NULL;
	return e->ram + (gpa - RAM_BASE);
}
static void fz_irq(void *opaque, bool level)
{
	(void)opaque;
	(void)level;
}
static int fz_tx(void *opaque, const uint8_t *f, size_t len)
{
	volatile uint8_t sink = 0;
	(void)opaque;
	if (len > E1000_TX_MAX + 4)
		abort(); /* a frame bigger than the model's own buffer: it read past something */
	for (size_t i = 0; i < len; i += 512)
		sink ^= f[i]; /* touch it: ASan checks the whole frame lies in live memory */
	(void)sink;
	return 0;
}
/* As vm/devices/e1000.c does: the transmit ring is walked right in the TDT write. */
static void fz_kick(void *opaque, bool tx)
{
	struct env *e = opaque;
	if (tx)
		e1000_tx_process(e->s);
}

/* Registers worth aiming at; a program byte picks one, or gives a raw offset. */
static const uint32_t regs[] = {
	E1000_CTRL,  E1000_STATUS, E1000_EECD,  E1000_EERD,  E1000_MDIC,  E1000_ICR,   E1000_ICS,   E1000_IMS,
	E1000_IMC,   E1000_RCTL,   E1000_TCTL,  E1000_RDBAL, E1000_RDBAH, E1000_RDLEN, E1000_RDH,   E1000_RDT,
	E1000_TDBAL, E1000_TDBAH,  E1000_TDLEN, E1000_TDH,   E1000_TDT,   E1000_VET,   E1000_MTA,   E1000_RA,
	E1000_RA + 4, E1000_VFTA,  E1000_GORCH, E1000_GPRC,  E1000_ITR,   E1000_TXDCTL, E1000_RXCSUM, E1000_MANC,
};

struct prog {
	const uint8_t *p;
	size_t n;
};
static uint32_t take(struct prog *g, unsigned bytes)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < bytes; i++) {
		v = v << 8 | (g->n ? *g->p : 0);
		if (g->n) {
			g->p++;
			g->n--;
		}
	}
	return v;
}
static uint32_t reg_of(struct prog *g)
{
	uint32_t b = take(g, 1);
	return b < 2 * (sizeof(regs) / sizeof(regs[0])) ? regs[b % (sizeof(regs) / sizeof(regs[0]))]
							  : (take(g, 2) << 2) % E1000_MMIO_SIZE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 1 };
	static struct e1000 s; /* large: keep it off the stack */
	struct env e = { .ram = malloc(RAM_SIZE), .s = &s };
	struct e1000_env env = { .opaque = &e, .dma = fz_dma, .irq = fz_irq, .tx = fz_tx, .kick = fz_kick };
	struct prog g;
	unsigned steps = 0;

	if (!e.ram)
		return 0;
	memset(e.ram, 0, RAM_SIZE);
	memcpy(e.ram, data, size < RAM_SIZE ? size : RAM_SIZE);
	g = (struct prog){ .p = data + (size < RAM_SIZE ? size : RAM_SIZE), .n = size > RAM_SIZE ? size - RAM_SIZE : 0 };
	if (e1000_init(&s, mac, &env) < 0) {
		free(e.ram);
		return 0;
	}
	while (g.n && steps++ < 256) {
		uint8_t buf[8];
		unsigned op = take(&g, 1) % 8, len;
		uint32_t off, v;

		switch (op) {
		case 0: /* a register write (most programs are these) */
		case 1:
			off = reg_of(&g);
			e1000_reg_write(&s, off, take(&g, 4));
			break;
		case 2:
			e1000_reg_read(&s, reg_of(&g));
			break;
		case 3:
			e1000_tx_process(&s);
			break;
		case 4: { /* a received frame out of guest RAM's input bytes */
			len = take(&g, 2) % (E1000_RX_MAX + 64);
			off = take(&g, 2) % RAM_SIZE;
			if (len > RAM_SIZE - off)
				len = RAM_SIZE - off;
			uint8_t *f = malloc(len ? len : 1);
			if (f) {
				memcpy(f, e.ram + off, len);
				e1000_rx_frame(&s, f, len);
				free(f);
			}
			break;
		}
		case 5: /* a BAR access of any size and alignment, inside or past the end */
			off = take(&g, 3) % (E1000_MMIO_SIZE + 16);
			len = 1 + take(&g, 1) % 8;
			v = take(&g, 4);
			memcpy(buf, &v, 4);
			memcpy(buf + 4, &v, 4);
			e1000_mmio(&s, off, buf, len, take(&g, 1) & 1);
			break;
		case 6:
			off = take(&g, 1) % 16;
			len = 1 + take(&g, 1) % 4;
			v = take(&g, 4);
			memcpy(buf, &v, 4);
			e1000_pio(&s, off, buf, len, take(&g, 1) & 1);
			break;
		case 7: /* a ring set up inside RAM, so the walks get past the address checks */
			e1000_reg_write(&s, E1000_TDBAL, (uint32_t)RAM_BASE);
			e1000_reg_write(&s, E1000_RDBAL, (uint32_t)RAM_BASE + 0x1000);
			e1000_reg_write(&s, E1000_TDLEN, 0x400);
			e1000_reg_write(&s, E1000_RDLEN, 0x400);
			e1000_reg_write(&s, E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP);
			e1000_reg_write(&s, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_UPE | E1000_RCTL_MPE | E1000_RCTL_BAM |
							   (take(&g, 1) & 0x3u) << E1000_RCTL_BSIZE_SHIFT);
			e1000_reg_write(&s, E1000_TDT, take(&g, 1) % 64);
			e1000_reg_write(&s, E1000_RDT, take(&g, 1) % 64);
			break;
		}
	}
	e1000_fini(&s);
	free(e.ram);
	return 0;
}
