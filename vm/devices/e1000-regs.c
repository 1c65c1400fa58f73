/* e1000-regs.c: the 82540EM's register file: what each register does on read and write, the microwire
 * EEPROM behind EECD (and EERD), the M88 PHY behind MDIC, interrupt cause/mask and the INTx level. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "vm/devices/e1000.h"

/* PHY registers (IEEE 802.3 clause 22 and the Marvell 88E1011's own). */
enum {
	PHY_CTRL = 0, PHY_STATUS = 1, PHY_ID1 = 2, PHY_ID2 = 3, PHY_ANAR = 4, PHY_ANLPAR = 5, PHY_ANER = 6,
	PHY_1000T_CTRL = 9, PHY_1000T_STATUS = 10, PHY_EXT_STATUS = 15, M88_SPEC_CTRL = 0x10,
	M88_SPEC_STATUS = 0x11, M88_INT_STATUS = 0x13, M88_EXT_SPEC_CTRL = 0x14, M88_RX_ERR = 0x15,
};
#define PHY_CTRL_RESET (1u << 15)
#define PHY_CTRL_POWER_DOWN (1u << 11)
#define PHY_CTRL_RESTART_AN (1u << 9)
#define PHY_STATUS_LINK (1u << 2)
#define PHY_STATUS_AN_DONE (1u << 5)

#define REG(s, off) ((s)->regs[(off) / 4])

static void phy_reset(struct e1000 *s)
{
	memset(s->phy, 0, sizeof(s->phy));
	s->phy[PHY_CTRL] = 0x1140;   /* autonegotiation on, full duplex, 1000 Mb/s */
	s->phy[PHY_STATUS] = 0x7949; /* 10/100 capable, extended status, AN capable, extended registers */
	s->phy[PHY_ID1] = 0x0141;    /* Marvell 88E1011 */
	s->phy[PHY_ID2] = 0x0c20;
	s->phy[PHY_ANAR] = 0x0de1;
	s->phy[PHY_1000T_CTRL] = 0x0e00;
	s->phy[PHY_EXT_STATUS] = 0x3000; /* 1000BASE-T full and half duplex capable */
	s->phy[M88_SPEC_CTRL] = 0x0068;
	s->phy[M88_EXT_SPEC_CTRL] = 0x0d60;
}

bool e1000_link_up(const struct e1000 *s)
{
	return s->backend_link && !(s->phy[PHY_CTRL] & PHY_CTRL_POWER_DOWN);
}

/* The PHY's view of the link: autonegotiation completes at once against a 1000/full partner. */
static void phy_update_link(struct e1000 *s)
{
	bool up = e1000_link_up(s);
	uint16_t *p = s->phy;

	if (up) {
		p[PHY_STATUS] |= PHY_STATUS_LINK | PHY_STATUS_AN_DONE;
		p[PHY_ANLPAR] = 0xc1e1; /* next page, acknowledge, 10/100 full and half */
		p[PHY_ANER] = 0x0001;
		p[PHY_1000T_STATUS] = 0x3c00; /* receivers OK, partner 1000 full and half */
		p[M88_SPEC_STATUS] = 0xac00;  /* 1000 Mb/s, full duplex, resolved, link */
	} else {
		p[PHY_STATUS] &= (uint16_t) ~(PHY_STATUS_LINK | PHY_STATUS_AN_DONE);
		p[PHY_ANLPAR] = p[PHY_ANER] = p[PHY_1000T_STATUS] = 0;
		p[M88_SPEC_STATUS] = 0;
	}
}

static void update_status(struct e1000 *s)
{
	bool was = REG(s, E1000_STATUS) & E1000_STATUS_LU;
	bool up = e1000_link_up(s);

	phy_update_link(s);
	REG(s, E1000_STATUS) = E1000_STATUS_FD | E1000_STATUS_SPEED_1000 | E1000_STATUS_ASDV_1000 |
			       (up ? E1000_STATUS_LU : 0);
	if (was != up)
		e1000_set_ics(s, E1000_ICR_LSC);
}

void e1000_set_link(struct e1000 *s, bool up)
{
	s->backend_link = up;
	update_status(s);
}

static void update_irq(struct e1000 *s)
{
	bool level = (REG(s, E1000_ICR) & REG(s, E1000_IMS)) != 0;

	if (level != s->irq_level) {
		s->irq_level = level;
		if (s->env.irq)
			s->env.irq(s->env.opaque, level);
	}
}

void e1000_set_ics(struct e1000 *s, uint32_t causes)
{
	REG(s, E1000_ICR) |= causes & E1000_ICR_VALID;
	update_irq(s);
}

void e1000_set_broken(struct e1000 *s, const char *why)
{
	if (!s->broken)
		log_debug("e1000: %s: DMA stopped until the guest resets the device", why);
	s->broken = why;
}

/* Statistics saturate instead of wrapping (as the hardware's do); the 64-bit ones are low/high pairs. */
void e1000_stat_add(struct e1000 *s, uint32_t reg, uint64_t n)
{
	if (reg == E1000_GORCL || reg == E1000_GOTCL || reg == E1000_TORL || reg == E1000_TOTL) {
		uint64_t v = REG(s, reg) | (uint64_t)REG(s, reg + 4) << 32;
		v = v + n < v ? UINT64_MAX : v + n;
		REG(s, reg) = (uint32_t)v;
		REG(s, reg + 4) = (uint32_t)(v >> 32);
		return;
	}
	uint64_t v = REG(s, reg) + n;
	REG(s, reg) = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static void eeprom_build(struct e1000 *s)
{
	uint16_t *e = s->eeprom, sum = 0;

	memset(s->eeprom, 0, sizeof(s->eeprom));
	for (unsigned i = 0; i < 3; i++)
		e[i] = (uint16_t)(s->mac[2 * i] | s->mac[2 * i + 1] << 8);
	e[0x0a] = 0x4000; /* initialisation control 1: signature 01b, nothing else loaded */
	e[0x0b] = E1000_SUBSYS;
	e[0x0c] = E1000_VENDOR;
	e[0x0d] = E1000_DEVICE_82540EM;
	e[0x0e] = E1000_VENDOR;
	e[0x0f] = 0x0000; /* initialisation control 2: no pause frames, no APM wake */
	for (unsigned i = 0; i < E1000_EEPROM_WORDS - 1; i++)
		sum = (uint16_t)(sum + e[i]);
	e[E1000_EEPROM_WORDS - 1] = (uint16_t)(E1000_EEPROM_SUM - sum);
}

void e1000_reset(struct e1000 *s)
{
	memset(s->regs, 0, sizeof(s->regs));
	memset(&s->ee, 0, sizeof(s->ee));
	s->tx.len = 0;
	s->tx.active = s->tx.overflow = false;
	memset(&s->tx.csum, 0, sizeof(s->tx.csum));
	memset(&s->tx.tso, 0, sizeof(s->tx.tso));
	s->broken = NULL;
	s->ioaddr = 0;
	REG(s, E1000_CTRL) = E1000_CTRL_FD | E1000_CTRL_SLU | E1000_CTRL_SPD_1000;
	REG(s, E1000_EECD) = E1000_EECD_PRES | E1000_EECD_FWE;
	REG(s, E1000_VET) = 0x8100;
	REG(s, E1000_LEDCTL) = 0x07068302;
	REG(s, E1000_PBA) = 0x00000030;
	REG(s, E1000_RA) = (uint32_t)(s->mac[0] | s->mac[1] << 8 | s->mac[2] << 16 | (uint32_t)s->mac[3] << 24);
	REG(s, E1000_RA + 4) = (uint32_t)(s->mac[4] | s->mac[5] << 8) | E1000_RAH_AV;
	REG(s, E1000_STATUS) = 0;
	update_status(s);
	REG(s, E1000_ICR) = 0; /* no LSC for the power-on link */
	update_irq(s);
}

int e1000_init(struct e1000 *s, const uint8_t mac[6], const struct e1000_env *env)
{
	memset(s, 0, sizeof(*s));
	s->env = *env;
	memcpy(s->mac, mac, 6);
	s->backend_link = true;
	s->tx.buf = malloc(E1000_TX_MAX);
	s->tx.seg = malloc(E1000_TX_MAX);
	if (!s->tx.buf || !s->tx.seg) {
		e1000_fini(s);
		return -ENOMEM;
	}
	eeprom_build(s);
	phy_reset(s);
	e1000_reset(s);
	return 0;
}

void e1000_fini(struct e1000 *s)
{
	free(s->tx.buf);
	free(s->tx.seg);
	s->tx.buf = s->tx.seg = NULL;
}

/* EECD: the driver bit-bangs a microwire READ (start bit 1, opcode 10, 6 address bits), then clocks out a
 * dummy 0 and 16 data bits, most significant first, on rising SK edges; CS low ends the command. Other
 * opcodes (write, erase) are taken and ignored: the EEPROM is read-only. */
static void eecd_write(struct e1000 *s, uint32_t v)
{
	uint32_t old = REG(s, E1000_EECD);
	bool cs = v & E1000_EECD_CS, rise = !(old & E1000_EECD_SK) && (v & E1000_EECD_SK);

	if (!cs || !(old & E1000_EECD_CS)) {
		memset(&s->ee, 0, sizeof(s->ee));
	} else if (rise && s->ee.reading) {
		s->ee.dout = (s->eeprom[s->ee.addr] >> (15 - s->ee.out_bit)) & 1;
		if (++s->ee.out_bit == 16) {
			s->ee.out_bit = 0;
			s->ee.addr = (s->ee.addr + 1) % E1000_EEPROM_WORDS; /* sequential read */
		}
	} else if (rise && s->ee.nbits < 32 && (s->ee.nbits || (v & E1000_EECD_DI))) {
		s->ee.in = s->ee.in << 1 | !!(v & E1000_EECD_DI);
		if (++s->ee.nbits == 3 + 6 && (s->ee.in >> 6) == 6) {
			s->ee.reading = true;
			s->ee.addr = s->ee.in & 0x3f;
			s->ee.dout = false;
		}
	}
	REG(s, E1000_EECD) = (v & (E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI | E1000_EECD_FWE | E1000_EECD_REQ)) |
			     E1000_EECD_PRES | (v & E1000_EECD_REQ ? E1000_EECD_GNT : 0);
}

static uint32_t eecd_read(struct e1000 *s)
{
	uint32_t v = REG(s, E1000_EECD) & ~E1000_EECD_DO;
	return v | (s->ee.reading && s->ee.dout ? E1000_EECD_DO : 0);
}

static void eerd_write(struct e1000 *s, uint32_t v)
{
	unsigned addr = (v >> 8) & 0xff;

	if (!(v & E1000_EERD_START))
		return;
	REG(s, E1000_EERD) = E1000_EERD_DONE | addr << 8 |
			     (addr < E1000_EEPROM_WORDS ? (uint32_t)s->eeprom[addr] << 16 : 0);
}

static void phy_write(struct e1000 *s, unsigned reg, uint16_t v)
{
	switch (reg) {
	case PHY_CTRL:
		if (v & PHY_CTRL_RESET) {
			phy_reset(s);
			break;
		}
		/* A restart completes at once; reset and restart bits clear themselves. */
		s->phy[PHY_CTRL] = v & (uint16_t) ~(PHY_CTRL_RESET | PHY_CTRL_RESTART_AN);
		break;
	case PHY_STATUS: case PHY_ID1: case PHY_ID2: case PHY_ANLPAR: case PHY_ANER: case PHY_1000T_STATUS:
	case PHY_EXT_STATUS: case M88_SPEC_STATUS: case M88_INT_STATUS: case M88_RX_ERR:
		return; /* read-only */
	default:
		s->phy[reg] = v;
		return;
	}
	update_status(s);
}

static void mdic_write(struct e1000 *s, uint32_t v)
{
	unsigned reg = (v >> 16) & 0x1f, phy = (v >> 21) & 0x1f;
	uint32_t op = v & (3u << 26), r = v & ~(E1000_MDIC_READY | E1000_MDIC_ERROR);

	if (phy != E1000_PHY_ADDR || (op != E1000_MDIC_OP_READ && op != E1000_MDIC_OP_WRITE)) {
		r |= E1000_MDIC_ERROR;
	} else if (op == E1000_MDIC_OP_READ) {
		uint16_t d = s->phy[reg];
		if (reg == M88_RX_ERR)
			d = 0;
		r = (r & ~0xffffu) | d;
	} else {
		phy_write(s, reg, (uint16_t)v);
	}
	REG(s, E1000_MDIC) = r | E1000_MDIC_READY;
	if (v & E1000_MDIC_IE)
		e1000_set_ics(s, E1000_ICR_MDAC);
}

static void ctrl_write(struct e1000 *s, uint32_t v)
{
	if (v & E1000_CTRL_RST) {
		e1000_reset(s); /* self-clearing: reads 0 afterwards */
		return;
	}
	if (v & E1000_CTRL_PHY_RST) {
		phy_reset(s);
		update_status(s);
	}
	REG(s, E1000_CTRL) = v & ~(E1000_CTRL_RST | E1000_CTRL_PHY_RST);
}

/* Registers that only store (with the bits that exist); everything not here and not special reads 0. */
struct reg_range {
	uint32_t start, end; /* [start, end) */
	uint32_t mask;
};
static const struct reg_range plain[] = {
	{ E1000_CTRL_EXT, E1000_CTRL_EXT + 4, 0xffffffff }, { E1000_FLA, E1000_FLA + 4, 0xffffffff },
	{ E1000_FCAL, E1000_FCT + 4, 0xffffffff },        { E1000_VET, E1000_VET + 4, 0xffff },
	{ E1000_ITR, E1000_ITR + 4, 0xffff },               { E1000_FCTTV, E1000_FCTTV + 4, 0xffff },
	{ E1000_TXCW, E1000_TXCW + 4, 0xffffffff },       { E1000_RXCW, E1000_RXCW + 4, 0 },
	{ E1000_TIPG, E1000_TIPG + 4, 0x3fffffff },       { E1000_AIFS, E1000_AIFS + 4, 0xffff },
	{ E1000_LEDCTL, E1000_LEDCTL + 4, 0xffffffff },   { E1000_PBA, E1000_PBA + 4, 0xffff },
	{ E1000_FCRTL, E1000_FCRTL + 4, 0x8000fff8 },     { E1000_FCRTH, E1000_FCRTH + 4, 0xfff8 },
	{ E1000_RDFH, E1000_RDFPC + 4, 0x1fff },          { E1000_RDBAL, E1000_RDBAL + 4, 0xfffffff0 },
	{ E1000_RDBAH, E1000_RDBAH + 4, 0xffffffff },     { E1000_RDLEN, E1000_RDLEN + 4, 0x000fff80 },
	{ E1000_RDH, E1000_RDH + 4, 0xffff },             { E1000_RDTR, E1000_RDTR + 4, 0x8000ffff },
	{ E1000_RXDCTL, E1000_RXDCTL + 4, 0x01ff3f3f },   { E1000_RADV, E1000_RADV + 4, 0xffff },
	{ E1000_RSRPD, E1000_RSRPD + 4, 0xfff },          { E1000_TDFH, E1000_TDFPC + 4, 0x1fff },
	{ E1000_TDBAL, E1000_TDBAL + 4, 0xfffffff0 },     { E1000_TDBAH, E1000_TDBAH + 4, 0xffffffff },
	{ E1000_TDLEN, E1000_TDLEN + 4, 0x000fff80 },     { E1000_TDH, E1000_TDH + 4, 0xffff },
	{ E1000_TIDV, E1000_TIDV + 4, 0xffff },           { E1000_TXDCTL, E1000_TXDCTL + 4, 0x017f3f3f },
	{ E1000_TADV, E1000_TADV + 4, 0xffff },           { E1000_TSPMT, E1000_TSPMT + 4, 0xffffffff },
	{ E1000_RXCSUM, E1000_RXCSUM + 4, 0x3ff },        { E1000_MTA, E1000_MTA + 512, 0xffffffff },
	{ E1000_VFTA, E1000_VFTA + 512, 0xffffffff },     { E1000_WUC, E1000_WUC + 4, 0xf },
	{ E1000_WUFC, E1000_WUFC + 4, 0x000f00ff },       { E1000_WUS, E1000_WUS + 4, 0 },
	{ E1000_MANC, E1000_MANC + 4, 0xffffffff },       { E1000_IPAV, E1000_IPAV + 4, 0x1000f },
	{ E1000_IP4AT, E1000_IP4AT + 32, 0xffffffff },    { E1000_IP6AT, E1000_IP6AT + 16, 0xffffffff },
	{ E1000_WUPL, E1000_WUPL + 4, 0xfff },            { E1000_WUPM, E1000_WUPM + 128, 0xffffffff },
	{ E1000_FFLT, E1000_FFLT + 32, 0x7ff },           { E1000_FFMT, E1000_FFMT + 1024, 0xf },
	{ E1000_FFVT, E1000_FFVT + 1024, 0xff },
};

static const struct reg_range *plain_find(uint32_t off)
{
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (off >= plain[i].start && off < plain[i].end)
			return &plain[i];
	return NULL;
}

uint32_t e1000_reg_read(struct e1000 *s, uint32_t off)
{
	uint32_t v;

	if (off >= E1000_MMIO_SIZE || off % 4)
		return 0;
	switch (off) {
	case E1000_CTRL: case E1000_STATUS: case E1000_EERD: case E1000_MDIC: case E1000_IMS: case E1000_RCTL:
	case E1000_TCTL: case E1000_RDT: case E1000_TDT:
		return REG(s, off);
	case E1000_EECD:
		return eecd_read(s);
	case E1000_ICR:
		/* Read to clear: the driver's interrupt handler reads it once and handles what it got. */
		v = REG(s, E1000_ICR);
		REG(s, E1000_ICR) = 0;
		update_irq(s);
		return v;
	case E1000_ICS:
		return REG(s, E1000_ICR);
	case E1000_IMC:
		return 0;
	}
	if (off >= E1000_STATS && off < E1000_STATS_END) {
		v = REG(s, off);
		/* 64-bit counters: the low half reads without clearing, the high half clears both. */
		if (off == E1000_GORCL || off == E1000_GOTCL || off == E1000_TORL || off == E1000_TOTL)
			return v;
		REG(s, off) = 0;
		if (off == E1000_GORCH || off == E1000_GOTCH || off == E1000_TORH || off == E1000_TOTH)
			REG(s, off - 4) = 0;
		return v;
	}
	if (off >= E1000_RA && off < E1000_RA + 128)
		return REG(s, off);
	return plain_find(off) ? REG(s, off) : 0;
}

void e1000_reg_write(struct e1000 *s, uint32_t off, uint32_t v)
{
	const struct reg_range *p;

	if (off >= E1000_MMIO_SIZE || off % 4)
		return;
	switch (off) {
	case E1000_CTRL: ctrl_write(s, v); return;
	case E1000_EECD: eecd_write(s, v); return;
	case E1000_EERD: eerd_write(s, v); return;
	case E1000_MDIC: mdic_write(s, v); return;
	case E1000_STATUS: return;
	case E1000_ICR:
		REG(s, E1000_ICR) &= ~v; /* write 1 to clear */
		update_irq(s);
		return;
	case E1000_ICS: e1000_set_ics(s, v); return;
	case E1000_IMS:
		REG(s, E1000_IMS) |= v & E1000_ICR_VALID;
		update_irq(s);
		return;
	case E1000_IMC:
		REG(s, E1000_IMS) &= ~v;
		update_irq(s);
		return;
	case E1000_RCTL:
		REG(s, off) = v & 0x07ffbffe;
		if (s->env.kick)
			s->env.kick(s->env.opaque, false);
		return;
	case E1000_RDT:
		REG(s, off) = v & 0xffff;
		if (s->env.kick)
			s->env.kick(s->env.opaque, false);
		return;
	case E1000_TCTL:
		REG(s, off) = v & 0x03fffffa;
		if ((v & E1000_TCTL_EN) && s->env.kick)
			s->env.kick(s->env.opaque, true);
		return;
	case E1000_TDT:
		REG(s, off) = v & 0xffff;
		if (s->env.kick)
			s->env.kick(s->env.opaque, true);
		return;
	}
	if (off >= E1000_RA && off < E1000_RA + 128) {
		REG(s, off) = off % 8 ? v & 0x8003ffff : v;
		return;
	}
	if (off >= E1000_STATS && off < E1000_STATS_END)
		return; /* read-only */
	p = plain_find(off);
	if (p)
		REG(s, off) = v & p->mask;
	else
		log_debug("e1000: write 0x%08x to unknown register 0x%05x, ignoring", v, off);
}

void e1000_mmio(struct e1000 *s, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	if (off % 4 == 0 && (len == 4 || len == 8) && off + len <= E1000_MMIO_SIZE) {
		for (unsigned i = 0; i < len; i += 4) {
			uint32_t o = (uint32_t)off + i;
			if (is_write) {
				e1000_reg_write(s, o, (uint32_t)(data[i] | data[i + 1] << 8 | data[i + 2] << 16 |
								 (uint32_t)data[i + 3] << 24));
			} else {
				uint32_t v = e1000_reg_read(s, o);
				for (unsigned b = 0; b < 4; b++)
					data[i + b] = (uint8_t)(v >> (8 * b));
			}
		}
		return;
	}
	if (is_write) {
		log_debug("e1000: %u-byte write at 0x%llx (not a dword), ignoring", len, (unsigned long long)off);
		return;
	}
	for (unsigned i = 0; i < len; i++) {
		uint64_t o = off + i;
		data[i] = o < E1000_MMIO_SIZE ? (uint8_t)(s->regs[o / 4] >> (8 * (o % 4))) : 0xff;
	}
}

/* The I/O BAR: IOADDR (0) selects a register, IODATA (4) reads or writes it. */
void e1000_pio(struct e1000 *s, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	uint32_t v = 0;

	if (len != 4 || (off != 0 && off != 4)) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	if (is_write)
		v = (uint32_t)(data[0] | data[1] << 8 | data[2] << 16 | (uint32_t)data[3] << 24);
	if (off == 0) {
		if (is_write)
			s->ioaddr = v & (E1000_MMIO_SIZE - 4);
		else
			v = s->ioaddr;
	} else if (is_write) {
		e1000_reg_write(s, s->ioaddr, v);
	} else {
		v = e1000_reg_read(s, s->ioaddr);
	}
	if (!is_write)
		for (unsigned b = 0; b < 4; b++)
			data[b] = (uint8_t)(v >> (8 * b));
}
