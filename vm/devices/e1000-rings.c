/* e1000-rings.c: the 82540EM's transmit and receive rings: legacy, context and data descriptors, checksum
 * insertion and TCP segmentation on transmit, address filters and buffer filling on receive. Every
 * address, length and index the guest gives is checked; a ring or buffer outside guest RAM stops DMA. */
#include <errno.h>
#include <string.h>

#include "vm/devices/e1000.h"

#define REG(s, off) ((s)->regs[(off) / 4])

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static uint32_t be32(const uint8_t *p) { return (uint32_t)be16(p) << 16 | be16(p + 2); }
static void put_be32(uint8_t *p, uint32_t v) { put_be16(p, (uint16_t)(v >> 16)); put_be16(p + 2, (uint16_t)v); }

/* The ones' complement sum of p[0..len) added to sum, folded (not inverted). */
uint16_t e1000_checksum(const uint8_t *p, size_t len, uint32_t sum)
{
	uint64_t s = sum;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		s += be16(p + i);
	if (i < len)
		s += (uint32_t)p[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* Stores the inverted checksum of frame[start..end] (inclusive; end 0: to the last byte) at off, if the
 * guest's offsets make sense for this frame; otherwise leaves the frame as it is. */
static void insert_checksum(uint8_t *f, size_t len, unsigned start, unsigned off, unsigned end)
{
	size_t stop = end ? (size_t)end + 1 : len;

	if (start >= len || off + 2 > len || stop > len || stop <= start)
		return;
	put_be16(f + off, (uint16_t)~e1000_checksum(f + start, stop - start, 0));
}

/* A ring: its descriptors in host memory, checked against guest RAM, and its indexes against its size. */
struct ring {
	uint8_t *desc;
	uint32_t n, head, tail;
};

static bool ring_get(struct e1000 *s, uint32_t bal, struct ring *r, bool tx)
{
	uint64_t base = (uint64_t)REG(s, bal + 4) << 32 | REG(s, bal);
	uint32_t len = REG(s, bal + 8);

	r->n = len / E1000_DESC_SIZE;
	r->head = REG(s, bal + 0x10);
	r->tail = REG(s, bal + 0x18);
	if (r->n == 0)
		return false;
	r->desc = s->env.dma(s->env.opaque, base, len);
	if (!r->desc) {
		e1000_set_broken(s, tx ? "transmit ring outside guest RAM" : "receive ring outside guest RAM");
		return false;
	}
	if (r->head >= r->n || r->tail >= r->n) {
		e1000_set_broken(s, tx ? "transmit ring index past its end" : "receive ring index past its end");
		return false;
	}
	return true;
}

/* ---- Transmit ---- */

static void count_tx(struct e1000 *s, const uint8_t *f, size_t len)
{
	static const uint32_t sizes[] = { 64, 127, 255, 511, 1023 };
	size_t wire = len + 4;
	unsigned b = 0;

	while (b < 5 && wire > sizes[b])
		b++;
	e1000_stat_add(s, E1000_PTC64 + 4 * b, 1);
	e1000_stat_add(s, E1000_GPTC, 1);
	e1000_stat_add(s, E1000_TPT, 1);
	e1000_stat_add(s, E1000_GOTCL, wire);
	e1000_stat_add(s, E1000_TOTL, wire);
	if (f[0] & 1)
		e1000_stat_add(s, memcmp(f, "\xff\xff\xff\xff\xff\xff", 6) ? E1000_MPTC : E1000_BPTC, 1);
}

/* Sends one frame: the VLAN tag inserted if asked (and CTRL.VME allows), short frames padded (TCTL.PSP). */
static void emit(struct e1000 *s, uint8_t *f, size_t len, bool vle, uint16_t vlan)
{
	if (len < 14)
		return;
	if (vle && (REG(s, E1000_CTRL) & E1000_CTRL_VME) && len + 4 <= E1000_TX_MAX) {
		memmove(f + 16, f + 12, len - 12);
		put_be16(f + 12, (uint16_t)REG(s, E1000_VET));
		put_be16(f + 14, vlan);
		len += 4;
	}
	if (len < E1000_MIN_FRAME && (REG(s, E1000_TCTL) & E1000_TCTL_PSP)) {
		memset(f + len, 0, E1000_MIN_FRAME - len);
		len = E1000_MIN_FRAME;
	}
	count_tx(s, f, len);
	if (s->env.tx(s->env.opaque, f, len) < 0)
		s->tx_dropped++;
}

/* TCP segmentation: the header (hdrlen bytes) in front of each mss-sized piece of the payload, with IP
 * length and ID, TCP sequence number and flags (or UDP length) and the checksums the guest asked for. */
static void tso_send(struct e1000 *s, bool vle, uint16_t vlan)
{
	const struct e1000_tx_ctx *c = &s->tx.tso;
	unsigned hdr = c->hdrlen, mss = c->mss, css = c->ipcss, ucss = c->tucss;
	size_t payload, off;
	uint16_t ip_id;
	uint32_t seq;
	bool ipv4 = c->tucmd & E1000_TXD_TUCMD_IP, tcp = c->tucmd & E1000_TXD_TUCMD_TCP;

	/* The header must hold the fields we rewrite: IP up to its ID, TCP up to its flags (UDP length). */
	if (hdr == 0 || hdr > s->tx.len || mss == 0 || (size_t)hdr + mss + 4 > E1000_TX_MAX ||
	    css + 8u > hdr || ucss + (tcp ? 14u : 8u) > hdr || c->tucso + 2u > hdr || c->ipcso + 2u > hdr) {
		e1000_stat_add(s, E1000_TSCTFC, 1);
		s->tx_dropped++;
		return;
	}
	payload = s->tx.len - hdr;
	ip_id = be16(s->tx.buf + css + 4);
	seq = be32(s->tx.buf + ucss + 4);
	off = 0;
	do {
		size_t n = payload - off < mss ? payload - off : mss, flen = hdr + n;
		bool last = off + n >= payload;
		uint8_t *f = s->tx.seg;

		memcpy(f, s->tx.buf, hdr);
		memcpy(f + hdr, s->tx.buf + hdr + off, n);
		if (ipv4) {
			put_be16(f + css + 2, (uint16_t)(flen - css));
			put_be16(f + css + 4, ip_id++);
		} else {
			put_be16(f + css + 4, (uint16_t)(flen - css - 40));
		}
		if (tcp) {
			put_be32(f + ucss + 4, seq + (uint32_t)off);
			if (!last)
				f[ucss + 13] &= (uint8_t) ~0x09; /* FIN, PSH only on the last segment */
		} else {
			put_be16(f + ucss + 4, (uint16_t)(flen - ucss));
		}
		if (s->tx.popts & E1000_TXD_POPTS_IXSM) {
			put_be16(f + c->ipcso, 0);
			insert_checksum(f, flen, css, c->ipcso, c->ipcse);
		}
		if (s->tx.popts & E1000_TXD_POPTS_TXSM) {
			/* The guest left the pseudo-header sum without the length in the field: add this
			 * segment's L4 length, then sum over the L4 header and payload. */
			uint32_t ph = be16(f + c->tucso) + (uint32_t)(flen - ucss);
			put_be16(f + c->tucso, (uint16_t)((ph & 0xffff) + (ph >> 16)));
			insert_checksum(f, flen, ucss, c->tucso, c->tucse);
		}
		emit(s, f, flen, vle, vlan);
		off += n;
	} while (off < payload);
	e1000_stat_add(s, E1000_TSCTC, 1);
}

static void tx_finish(struct e1000 *s, const uint8_t *d, bool legacy)
{
	uint8_t cmd = d[11];
	bool vle = cmd & E1000_TXD_CMD_VLE;
	uint16_t vlan = rd16(d + 14);

	if (s->tx.overflow) {
		s->tx_dropped++;
	} else if (!legacy && s->tx.tse) {
		tso_send(s, vle, vlan);
	} else {
		uint8_t *f = s->tx.buf;
		size_t len = s->tx.len;
		if (legacy && (cmd & E1000_TXD_CMD_IC))
			insert_checksum(f, len, d[13], d[10], 0);
		if (!legacy && (s->tx.popts & E1000_TXD_POPTS_IXSM))
			insert_checksum(f, len, s->tx.csum.ipcss, s->tx.csum.ipcso, s->tx.csum.ipcse);
		if (!legacy && (s->tx.popts & E1000_TXD_POPTS_TXSM))
			insert_checksum(f, len, s->tx.csum.tucss, s->tx.csum.tucso, s->tx.csum.tucse);
		emit(s, f, len, vle, vlan);
	}
	s->tx.len = 0;
	s->tx.active = s->tx.overflow = false;
}

/* Appends a buffer of the guest's to the packet being assembled. false: DMA outside RAM (broken). */
static bool tx_append(struct e1000 *s, uint64_t addr, size_t len)
{
	const uint8_t *src;

	if (len == 0 || s->tx.overflow)
		return true;
	if (len > E1000_TX_MAX - s->tx.len) {
		s->tx.overflow = true;
		return true;
	}
	src = s->env.dma(s->env.opaque, addr, len);
	if (!src) {
		e1000_set_broken(s, "transmit buffer outside guest RAM");
		return false;
	}
	memcpy(s->tx.buf + s->tx.len, src, len);
	s->tx.len += len;
	return true;
}

static void tx_context(struct e1000 *s, const uint8_t *d)
{
	uint8_t tucmd = d[11];
	struct e1000_tx_ctx *c = tucmd & E1000_TXD_CMD_TSE ? &s->tx.tso : &s->tx.csum;

	*c = (struct e1000_tx_ctx){
		.ipcss = d[0], .ipcso = d[1], .ipcse = rd16(d + 2),
		.tucss = d[4], .tucso = d[5], .tucse = rd16(d + 6),
		.paylen = rd32(d + 8) & 0xfffff, .tucmd = tucmd,
		.hdrlen = d[13], .mss = rd16(d + 14),
	};
}

/* One descriptor (a copy: the guest may change the ring under us). false: stop, the device broke. */
static bool tx_desc(struct e1000 *s, const uint8_t *d)
{
	uint8_t cmd = d[11];
	bool legacy = !(cmd & E1000_TXD_CMD_DEXT);
	size_t len;

	if (!legacy) {
		unsigned dtyp = d[10] >> 4;
		if (dtyp == 0) {
			tx_context(s, d);
			return true;
		}
		if (dtyp != 1)
			return true; /* no such descriptor type: skipped */
		len = rd32(d + 8) & 0xfffff;
		if (!s->tx.active) {
			s->tx.popts = d[13];
			s->tx.tse = cmd & E1000_TXD_CMD_TSE;
		}
	} else {
		len = rd16(d + 8);
	}
	s->tx.active = true;
	if (!tx_append(s, rd64(d), len))
		return false;
	if (cmd & E1000_TXD_CMD_EOP)
		tx_finish(s, d, legacy);
	return true;
}

void e1000_tx_process(struct e1000 *s)
{
	struct ring r;
	bool wrote_back = false;
	uint32_t done = 0;

	if (s->broken || !(REG(s, E1000_TCTL) & E1000_TCTL_EN) || !ring_get(s, E1000_TDBAL, &r, true))
		return;
	while (r.head != r.tail && done++ < r.n) {
		uint8_t d[E1000_DESC_SIZE], *slot = r.desc + (size_t)r.head * E1000_DESC_SIZE;

		memcpy(d, slot, sizeof(d));
		if (!tx_desc(s, d))
			return;
		if (d[11] & E1000_TXD_CMD_RS) {
			__atomic_thread_fence(__ATOMIC_RELEASE);
			slot[12] = d[12] | E1000_TXD_STA_DD;
			wrote_back = true;
		}
		r.head = (r.head + 1) % r.n;
		REG(s, E1000_TDH) = r.head;
	}
	e1000_set_ics(s, (wrote_back ? E1000_ICR_TXDW : 0) | (r.head == r.tail ? E1000_ICR_TXQE : 0));
}

/* ---- Receive ---- */

bool e1000_rx_enabled(const struct e1000 *s)
{
	return !s->broken && (REG(s, E1000_RCTL) & E1000_RCTL_EN) && e1000_link_up(s);
}

static size_t rx_buffer_size(uint32_t rctl)
{
	static const size_t base[4] = { 2048, 1024, 512, 256 }, ext[4] = { 0, 16384, 8192, 4096 };
	unsigned b = (rctl >> E1000_RCTL_BSIZE_SHIFT) & 3;

	return rctl & E1000_RCTL_BSEX && b ? ext[b] : base[b];
}

/* The receive address filters: exact addresses (RA with AV), the multicast table hashed on 12 bits of the
 * address that RCTL.MO picks, broadcast (BAM), promiscuous modes, and the VLAN filter table (VFE). */
static bool rx_accept(struct e1000 *s, const uint8_t *f, size_t len)
{
	uint32_t rctl = REG(s, E1000_RCTL);
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	if ((rctl & E1000_RCTL_VFE) && len >= 18 && be16(f + 12) == (uint16_t)REG(s, E1000_VET)) {
		unsigned vid = be16(f + 14) & 0xfff;
		if (!(REG(s, E1000_VFTA + 4 * (vid >> 5)) & (1u << (vid & 31))))
			return false;
	}
	for (unsigned i = 0; i < 16; i++) {
		uint32_t lo = REG(s, E1000_RA + 8 * i), hi = REG(s, E1000_RA + 8 * i + 4);
		uint8_t a[6] = { (uint8_t)lo, (uint8_t)(lo >> 8), (uint8_t)(lo >> 16), (uint8_t)(lo >> 24),
				 (uint8_t)hi, (uint8_t)(hi >> 8) };
		if ((hi & E1000_RAH_AV) && !memcmp(a, f, 6))
			return true;
	}
	if (!memcmp(f, bcast, 6))
		return rctl & (E1000_RCTL_BAM | E1000_RCTL_MPE);
	if (f[0] & 1) {
		static const unsigned shift[4] = { 4, 3, 2, 0 };
		unsigned mo = (rctl >> E1000_RCTL_MO_SHIFT) & 3;
		unsigned h = ((f[4] >> shift[mo]) | (unsigned)f[5] << (8 - shift[mo])) & 0xfff;
		return (rctl & E1000_RCTL_MPE) || (REG(s, E1000_MTA + 4 * (h >> 5)) & (1u << (h & 31)));
	}
	return rctl & E1000_RCTL_UPE;
}

/* The Ethernet FCS (CRC-32, reflected, polynomial 0xedb88320), for guests that do not strip it. */
static uint32_t crc32_eth(const uint8_t *p, size_t len)
{
	static uint32_t table[256];
	static bool ready;
	uint32_t c = 0xffffffff;

	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t v = i;
			for (int k = 0; k < 8; k++)
				v = v & 1 ? 0xedb88320 ^ (v >> 1) : v >> 1;
			table[i] = v;
		}
		__atomic_store_n(&ready, true, __ATOMIC_RELEASE);
	}
	for (size_t i = 0; i < len; i++)
		c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return ~c;
}

static void count_rx(struct e1000 *s, const uint8_t *f, size_t wire)
{
	static const uint32_t sizes[] = { 64, 127, 255, 511, 1023 };
	unsigned b = 0;

	while (b < 5 && wire > sizes[b])
		b++;
	e1000_stat_add(s, E1000_PRC64 + 4 * b, 1);
	e1000_stat_add(s, E1000_GPRC, 1);
	e1000_stat_add(s, E1000_TPR, 1);
	e1000_stat_add(s, E1000_GORCL, wire);
	e1000_stat_add(s, E1000_TORL, wire);
	if (f[0] & 1)
		e1000_stat_add(s, memcmp(f, "\xff\xff\xff\xff\xff\xff", 6) ? E1000_MPRC : E1000_BPRC, 1);
}

int e1000_rx_frame(struct e1000 *s, const uint8_t *frame, size_t len)
{
	uint32_t rctl = REG(s, E1000_RCTL);
	size_t max = rctl & E1000_RCTL_LPE ? E1000_RX_MAX : 1514, bufsz = rx_buffer_size(rctl), total, off, need, avail;
	uint8_t *f = s->rxbuf, status_vp = 0;
	uint16_t special = 0;
	struct ring r;

	if (!e1000_rx_enabled(s) || len < 14)
		return 0;
	if (!rx_accept(s, frame, len))
		return 0;
	/* A VLAN tag counts against the size limit only when it stays in the frame. */
	if (len > max + 4 || (len > max && be16(frame + 12) != (uint16_t)REG(s, E1000_VET))) {
		e1000_stat_add(s, E1000_ROC, 1);
		return 0;
	}
	memcpy(f, frame, len);
	total = len;
	if ((REG(s, E1000_CTRL) & E1000_CTRL_VME) && len >= 18 && be16(f + 12) == (uint16_t)REG(s, E1000_VET)) {
		special = be16(f + 14);
		status_vp = E1000_RXD_STA_VP;
		memmove(f + 12, f + 16, len - 16);
		total -= 4;
	}
	if (total < E1000_MIN_FRAME) {
		memset(f + total, 0, E1000_MIN_FRAME - total);
		total = E1000_MIN_FRAME;
	}
	if (!(rctl & E1000_RCTL_SECRC)) {
		uint32_t fcs = crc32_eth(f, total);
		for (int i = 0; i < 4; i++)
			f[total++] = (uint8_t)(fcs >> (8 * i));
	}

	if (!ring_get(s, E1000_RDBAL, &r, false))
		return 0;
	need = (total + bufsz - 1) / bufsz;
	avail = (r.tail + r.n - r.head) % r.n;
	if (avail < need) {
		/* The caller holds it until the guest hands back buffers (and counts RNBC once). */
		return -EAGAIN;
	}
	for (off = 0; off < total;) {
		uint8_t d[E1000_DESC_SIZE], *slot = r.desc + (size_t)r.head * E1000_DESC_SIZE, *dst;
		size_t n = total - off < bufsz ? total - off : bufsz;

		memcpy(d, slot, sizeof(d));
		dst = s->env.dma(s->env.opaque, rd64(d), n);
		if (!dst) {
			e1000_set_broken(s, "receive buffer outside guest RAM");
			return 0;
		}
		memcpy(dst, f + off, n);
		off += n;
		/* Length, checksum, errors and VLAN first; the status byte with DD last. */
		slot[8] = (uint8_t)n;
		slot[9] = (uint8_t)(n >> 8);
		slot[10] = slot[11] = 0;
		slot[13] = 0;
		slot[14] = (uint8_t)special;
		slot[15] = (uint8_t)(special >> 8);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		slot[12] = E1000_RXD_STA_DD | E1000_RXD_STA_IXSM | status_vp | (off == total ? E1000_RXD_STA_EOP : 0);
		r.head = (r.head + 1) % r.n;
		REG(s, E1000_RDH) = r.head;
	}
	count_rx(s, f, total + (rctl & E1000_RCTL_SECRC ? 4 : 0));
	avail = (r.tail + r.n - r.head) % r.n;
	e1000_set_ics(s, E1000_ICR_RXT0 |
			       (avail <= (r.n >> (((rctl >> E1000_RCTL_RDMTS_SHIFT) & 3) + 1)) ? E1000_ICR_RXDMT0 : 0));
	return 0;
}
