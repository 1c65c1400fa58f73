/* e1000.h: the Intel 82540EM model's state and its KVM-free core (register file, EEPROM, PHY, interrupt
 * cause/mask, descriptor rings), shared by e1000*.c and their unit tests. Facts from Intel's 8254x manual. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define E1000_VENDOR 0x8086
#define E1000_DEVICE_82540EM 0x100e
#define E1000_SUBSYS 0x001e  /* PRO/1000 MT Desktop */
#define E1000_MMIO_SIZE 0x20000 /* BAR 0 */
#define E1000_IO_BAR 2
#define E1000_IO_SIZE 8         /* IOADDR, IODATA */
#define E1000_EEPROM_WORDS 64   /* a 93C46-like microwire part: 6 address bits */
#define E1000_EEPROM_SUM 0xbaba /* words 0..63 add up to this */
#define E1000_PHY_ADDR 1

/* Registers (byte offsets in BAR 0). */
enum {
	E1000_CTRL = 0x0000, E1000_STATUS = 0x0008, E1000_EECD = 0x0010, E1000_EERD = 0x0014,
	E1000_CTRL_EXT = 0x0018, E1000_FLA = 0x001c, E1000_MDIC = 0x0020, E1000_FCAL = 0x0028,
	E1000_FCAH = 0x002c, E1000_FCT = 0x0030, E1000_VET = 0x0038, E1000_ICR = 0x00c0, E1000_ITR = 0x00c4,
	E1000_ICS = 0x00c8, E1000_IMS = 0x00d0, E1000_IMC = 0x00d8, E1000_RCTL = 0x0100, E1000_FCTTV = 0x0170,
	E1000_TXCW = 0x0178, E1000_RXCW = 0x0180, E1000_TCTL = 0x0400, E1000_TIPG = 0x0410, E1000_AIFS = 0x0458,
	E1000_LEDCTL = 0x0e00, E1000_PBA = 0x1000, E1000_FCRTL = 0x2160, E1000_FCRTH = 0x2168,
	E1000_RDFH = 0x2410, E1000_RDFT = 0x2418, E1000_RDFHS = 0x2420, E1000_RDFTS = 0x2428, E1000_RDFPC = 0x2430,
	E1000_RDBAL = 0x2800, E1000_RDBAH = 0x2804, E1000_RDLEN = 0x2808, E1000_RDH = 0x2810, E1000_RDT = 0x2818,
	E1000_RDTR = 0x2820, E1000_RXDCTL = 0x2828, E1000_RADV = 0x282c, E1000_RSRPD = 0x2c00,
	E1000_TDFH = 0x3410, E1000_TDFT = 0x3418, E1000_TDFHS = 0x3420, E1000_TDFTS = 0x3428, E1000_TDFPC = 0x3430,
	E1000_TDBAL = 0x3800, E1000_TDBAH = 0x3804, E1000_TDLEN = 0x3808, E1000_TDH = 0x3810, E1000_TDT = 0x3818,
	E1000_TIDV = 0x3820, E1000_TXDCTL = 0x3828, E1000_TADV = 0x382c, E1000_TSPMT = 0x3830,
	E1000_STATS = 0x4000, E1000_STATS_END = 0x4100, /* statistics: clear on read */
	E1000_RXCSUM = 0x5000, E1000_MTA = 0x5200 /* 128 */, E1000_RA = 0x5400 /* 16 pairs */,
	E1000_VFTA = 0x5600 /* 128 */, E1000_WUC = 0x5800, E1000_WUFC = 0x5808, E1000_WUS = 0x5810,
	E1000_MANC = 0x5820, E1000_IPAV = 0x5838, E1000_IP4AT = 0x5840, E1000_IP6AT = 0x5880, E1000_WUPL = 0x5900,
	E1000_WUPM = 0x5a00, E1000_FFLT = 0x5f00, E1000_FFMT = 0x9000, E1000_FFVT = 0x9800,
};
/* Statistics the model counts (the rest read 0). */
enum {
	E1000_MPC = 0x4010, E1000_PRC64 = 0x405c, E1000_GPRC = 0x4074, E1000_BPRC = 0x4078, E1000_MPRC = 0x407c,
	E1000_GPTC = 0x4080, E1000_GORCL = 0x4088, E1000_GORCH = 0x408c, E1000_GOTCL = 0x4090, E1000_GOTCH = 0x4094,
	E1000_RNBC = 0x40a0, E1000_ROC = 0x40ac, E1000_TORL = 0x40c0, E1000_TORH = 0x40c4, E1000_TOTL = 0x40c8,
	E1000_TOTH = 0x40cc, E1000_TPR = 0x40d0, E1000_TPT = 0x40d4, E1000_PTC64 = 0x40d8, E1000_MPTC = 0x40f0,
	E1000_BPTC = 0x40f4, E1000_TSCTC = 0x40f8, E1000_TSCTFC = 0x40fc,
};

#define E1000_CTRL_FD (1u << 0)
#define E1000_CTRL_SLU (1u << 6)
#define E1000_CTRL_SPD_1000 (2u << 8)
#define E1000_CTRL_RST (1u << 26)
#define E1000_CTRL_VME (1u << 30)
#define E1000_CTRL_PHY_RST (1u << 31)
#define E1000_STATUS_FD (1u << 0)
#define E1000_STATUS_LU (1u << 1)
#define E1000_STATUS_SPEED_1000 (2u << 6)
#define E1000_STATUS_ASDV_1000 (2u << 8)
#define E1000_EECD_SK (1u << 0)
#define E1000_EECD_CS (1u << 1)
#define E1000_EECD_DI (1u << 2)
#define E1000_EECD_DO (1u << 3)
#define E1000_EECD_FWE (3u << 4)
#define E1000_EECD_REQ (1u << 6)
#define E1000_EECD_GNT (1u << 7)
#define E1000_EECD_PRES (1u << 8)
#define E1000_EERD_START (1u << 0)
#define E1000_EERD_DONE (1u << 4)
#define E1000_MDIC_OP_WRITE (1u << 26)
#define E1000_MDIC_OP_READ (2u << 26)
#define E1000_MDIC_READY (1u << 28)
#define E1000_MDIC_IE (1u << 29)
#define E1000_MDIC_ERROR (1u << 30)
/* Interrupt causes (ICR/ICS/IMS/IMC). */
#define E1000_ICR_TXDW (1u << 0)
#define E1000_ICR_TXQE (1u << 1)
#define E1000_ICR_LSC (1u << 2)
#define E1000_ICR_RXDMT0 (1u << 4)
#define E1000_ICR_RXO (1u << 6)
#define E1000_ICR_RXT0 (1u << 7)
#define E1000_ICR_MDAC (1u << 9)
#define E1000_ICR_VALID 0x0001f6df /* the causes an 82540 has */
#define E1000_RCTL_EN (1u << 1)
#define E1000_RCTL_UPE (1u << 3)
#define E1000_RCTL_MPE (1u << 4)
#define E1000_RCTL_LPE (1u << 5)
#define E1000_RCTL_RDMTS_SHIFT 8
#define E1000_RCTL_MO_SHIFT 12
#define E1000_RCTL_BAM (1u << 15)
#define E1000_RCTL_BSIZE_SHIFT 16
#define E1000_RCTL_VFE (1u << 18)
#define E1000_RCTL_BSEX (1u << 25)
#define E1000_RCTL_SECRC (1u << 26)
#define E1000_TCTL_EN (1u << 1)
#define E1000_TCTL_PSP (1u << 3)
#define E1000_RAH_AV (1u << 31)

/* Descriptor fields. */
#define E1000_DESC_SIZE 16
#define E1000_TXD_CMD_EOP 0x01
#define E1000_TXD_CMD_IFCS 0x02
#define E1000_TXD_CMD_IC 0x04  /* legacy: insert checksum */
#define E1000_TXD_CMD_TSE 0x04 /* extended: TCP segmentation */
#define E1000_TXD_CMD_RS 0x08
#define E1000_TXD_CMD_DEXT 0x20
#define E1000_TXD_CMD_VLE 0x40
#define E1000_TXD_CMD_IDE 0x80
#define E1000_TXD_TUCMD_TCP 0x01
#define E1000_TXD_TUCMD_IP 0x02 /* IPv4 (else IPv6) */
#define E1000_TXD_POPTS_IXSM 0x01
#define E1000_TXD_POPTS_TXSM 0x02
#define E1000_TXD_STA_DD 0x01
#define E1000_RXD_STA_DD 0x01
#define E1000_RXD_STA_EOP 0x02
#define E1000_RXD_STA_IXSM 0x04
#define E1000_RXD_STA_VP 0x08

/* Largest packet the transmit path assembles (a TSO packet: 64 KiB of payload and its headers); a bigger
 * one is dropped. Largest frame the receive path takes (LPE set): 16 KiB. */
#define E1000_TX_MAX (65536 + 512)
#define E1000_RX_MAX 16384
#define E1000_MIN_FRAME 60 /* without FCS */

/* What the core needs from around it. Every callback runs with the device lock held. */
struct e1000_env {
	void *opaque;
	/* Host address of guest-physical [gpa, gpa + len) if wholly inside guest RAM, else NULL. */
	void *(*dma)(void *opaque, uint64_t gpa, uint64_t len);
	/* The INTx line: called when its level changes. */
	void (*irq)(void *opaque, bool level);
	/* One frame for the wire; must not block. -errno: dropped. */
	int (*tx)(void *opaque, const uint8_t *frame, size_t len);
	/* The guest gave the transmit ring work (TDT, TCTL) or the receive ring room (RDT, RCTL). */
	void (*kick)(void *opaque, bool tx);
};

struct e1000_tx_ctx {
	uint8_t ipcss, ipcso, tucss, tucso, tucmd, hdrlen;
	uint16_t ipcse, tucse, mss;
	uint32_t paylen;
};

struct e1000 {
	struct e1000_env env;
	uint32_t regs[E1000_MMIO_SIZE / 4]; /* plain storage for every register; side effects in e1000-regs.c */
	uint16_t eeprom[E1000_EEPROM_WORDS];
	uint16_t phy[32];
	uint8_t mac[6];
	bool backend_link;   /* the cable: up unless the backend says otherwise */
	bool irq_level;
	uint32_t ioaddr;     /* IOADDR of the I/O BAR */
	/* Microwire EEPROM behind EECD: bits shifted in since CS rose, then data out. */
	struct {
		unsigned nbits;
		uint32_t in;
		bool reading;
		unsigned addr, out_bit;
		bool dout;
	} ee;
	/* The device stopped using DMA after the guest pointed it outside RAM; until reset. */
	const char *broken;
	/* Transmit: the packet being assembled across descriptors and the offload contexts. */
	struct {
		uint8_t *buf, *seg;
		size_t len;
		bool active, overflow, tse;
		uint8_t popts;
		struct e1000_tx_ctx csum, tso;
	} tx;
	uint8_t rxbuf[E1000_RX_MAX + 8];
	uint64_t tx_dropped;
};

/* e1000-regs.c */
int e1000_init(struct e1000 *s, const uint8_t mac[6], const struct e1000_env *env);
void e1000_fini(struct e1000 *s);
/* Power-on / CTRL.RST / PCI function reset: registers to their defaults, RA[0] from the EEPROM. */
void e1000_reset(struct e1000 *s);
uint32_t e1000_reg_read(struct e1000 *s, uint32_t off);
void e1000_reg_write(struct e1000 *s, uint32_t off, uint32_t value);
/* BAR accesses: dword-aligned 4- and 8-byte accesses reach the registers; others read the stored bytes
 * (no side effects) and are ignored on write. */
void e1000_mmio(struct e1000 *s, uint64_t off, uint8_t *data, unsigned len, bool is_write);
void e1000_pio(struct e1000 *s, uint64_t off, uint8_t *data, unsigned len, bool is_write);
void e1000_set_ics(struct e1000 *s, uint32_t causes);
void e1000_set_link(struct e1000 *s, bool up);
bool e1000_link_up(const struct e1000 *s);
/* Stops DMA until reset; why is for the log. */
void e1000_set_broken(struct e1000 *s, const char *why);
void e1000_stat_add(struct e1000 *s, uint32_t reg, uint64_t n);

/* e1000-rings.c */
/* Sends what the transmit ring holds (TDH up to TDT). */
void e1000_tx_process(struct e1000 *s);
/* One frame from the wire (no FCS). 0: taken (delivered or dropped as the filters and rules say);
 * -EAGAIN: no free receive descriptor for it now, offer it again after the guest adds some (kick). */
int e1000_rx_frame(struct e1000 *s, const uint8_t *frame, size_t len);
/* Receiving at all: RCTL.EN, link up, not broken. */
bool e1000_rx_enabled(const struct e1000 *s);
uint16_t e1000_checksum(const uint8_t *p, size_t len, uint32_t sum);
