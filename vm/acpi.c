/* acpi.c: the ACPI tables a firmware-less guest needs (RSDP, RSDT/XSDT, FADT, FACS, DSDT with \_S5 and
 * the PCI root bridge, MADT, MCFG), built into one buffer with checksums, plus a tiny AML encoder. */
#include "internal.h"

#define OEM_ID "PTCTL "
#define OEM_TABLE "PTCTLVM "

uint8_t vm_acpi_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += p[i];
	return (uint8_t)(0 - sum);
}

/* ---- AML: just the encodings our DSDT uses (ACPI spec, "ACPI Machine Language Specification") ---- */

#define AML_MAX 16384
struct aml {
	uint8_t b[AML_MAX];
	size_t len;
	bool overflow;
};

static void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->overflow || n > AML_MAX - a->len) {
		a->overflow = true;
		return;
	}
	memcpy(a->b + a->len, p, n);
	a->len += n;
}

static void aml_byte(struct aml *a, uint8_t v)
{
	aml_bytes(a, &v, 1);
}

static void aml_int(struct aml *a, uint64_t v)
{
	uint8_t b[9];
	if (v == 0 || v == 1) {
		aml_byte(a, (uint8_t)v); /* ZeroOp, OneOp */
	} else if (v <= 0xff) {
		aml_byte(a, 0x0a);
		aml_byte(a, (uint8_t)v);
	} else if (v <= 0xffff) {
		b[0] = 0x0b;
		put_le16(b + 1, (uint16_t)v);
		aml_bytes(a, b, 3);
	} else if (v <= 0xffffffff) {
		b[0] = 0x0c;
		put_le32(b + 1, (uint32_t)v);
		aml_bytes(a, b, 5);
	} else {
		b[0] = 0x0e;
		put_le64(b + 1, v);
		aml_bytes(a, b, 9);
	}
}

/* A NameSeg is exactly four characters, padded with '_'. */
static void aml_nameseg(struct aml *a, const char *name)
{
	char seg[4] = { '_', '_', '_', '_' };
	for (size_t i = 0; i < 4 && name[i]; i++)
		seg[i] = name[i];
	aml_bytes(a, seg, 4);
}

/* PkgLength counts itself: 1 byte up to 63, else 2-4 bytes (low nibble, then whole bytes). */
static void aml_pkglen(struct aml *a, size_t body)
{
	size_t n = body + 1 <= 0x3f ? 1 : body + 2 < (1u << 12) ? 2 : body + 3 < (1u << 20) ? 3 : 4;
	size_t total = body + n;

	if (n == 1) {
		aml_byte(a, (uint8_t)total);
		return;
	}
	aml_byte(a, (uint8_t)((n - 1) << 6 | (total & 0xf)));
	for (size_t i = 1; i < n; i++)
		aml_byte(a, (uint8_t)(total >> (4 + 8 * (i - 1))));
}

/* op (1 or 2 bytes), PkgLength, then body. */
static void aml_wrap(struct aml *a, const uint8_t *op, size_t oplen, const struct aml *body)
{
	if (body->overflow)
		a->overflow = true;
	aml_bytes(a, op, oplen);
	aml_pkglen(a, body->len);
	aml_bytes(a, body->b, body->len);
}

static void aml_name_int(struct aml *a, const char *name, uint64_t v)
{
	aml_byte(a, 0x08); /* NameOp */
	aml_nameseg(a, name);
	aml_int(a, v);
}

static uint32_t eisa_id(const char *id)
{
	uint16_t vendor = (uint16_t)((id[0] - '@') << 10 | (id[1] - '@') << 5 | (id[2] - '@'));
	uint16_t product = (uint16_t)strtoul(id + 3, NULL, 16);
	/* Stored big-endian within the little-endian DWord. */
	return (uint32_t)(vendor >> 8 | (vendor & 0xff) << 8) | (uint32_t)(product >> 8 | (product & 0xff) << 8) << 16;
}

static void aml_name_package(struct aml *a, const char *name, const struct aml *elements, uint8_t count)
{
	struct aml *body = calloc(1, sizeof(*body));
	static const uint8_t pkg_op = 0x12;
	if (!body) {
		a->overflow = true;
		return;
	}
	aml_byte(body, count);
	aml_bytes(body, elements->b, elements->len);
	body->overflow |= elements->overflow;
	aml_byte(a, 0x08);
	aml_nameseg(a, name);
	aml_wrap(a, &pkg_op, 1, body);
	free(body);
}

/* ---- ACPI PCI hot-plug (bus 0): slot objects, the PCNT notifier, _EJ0 through the VMM's ports ----
 * The VMM's side is hotplug.c: device-check and eject-request bitmaps read (and cleared) through PCIU and
 * PCID, the guest's eject acknowledgement written to B0EJ, and GPE0 bit 1 (_E01) raising the SCI. */

static void aml_op_wrap(struct aml *a, uint8_t op, const struct aml *body)
{
	aml_wrap(a, &op, 1, body);
}

/* \_SB.PCI0.<seg>: an absolute path from any scope. */
static void aml_pci0_path(struct aml *a, const char *seg)
{
	aml_byte(a, '\\');
	aml_byte(a, 0x2f); /* MultiNamePrefix */
	aml_byte(a, 3);
	aml_nameseg(a, "_SB_");
	aml_nameseg(a, "PCI0");
	aml_nameseg(a, seg);
}

static void slot_name(char *seg, unsigned slot)
{
	static const char hex[] = "0123456789ABCDEF";
	seg[0] = 'S';
	seg[1] = hex[slot >> 4];
	seg[2] = hex[slot & 0xf];
	seg[3] = '_';
	seg[4] = '\0';
}

/* OperationRegion (PCST, SystemIO, port, 12) and Field (PCST, DWordAcc, NoLock, WriteAsZeros)
 * { PCIU, 32, PCID, 32, B0EJ, 32 }. */
static void build_hotplug_regs(struct aml *dev)
{
	struct aml f = { .len = 0 };
	static const uint8_t opregion[] = { 0x5b, 0x80 }, field[] = { 0x5b, 0x81 };

	aml_bytes(dev, opregion, 2);
	aml_nameseg(dev, "PCST");
	aml_byte(dev, 0x01); /* SystemIO */
	aml_int(dev, VM_PORT_HOTPLUG);
	aml_int(dev, 12);

	aml_nameseg(&f, "PCST");
	aml_byte(&f, 0x03 | 0x20); /* DWordAcc, NoLock, WriteAsZeros */
	static const char *const names[] = { "PCIU", "PCID", "B0EJ" };
	for (unsigned i = 0; i < 3; i++) {
		aml_nameseg(&f, names[i]);
		aml_byte(&f, 32); /* the field length, in PkgLength's one-byte form */
	}
	aml_wrap(dev, field, 2, &f);
}

/* Method (PCNT) { Local0 = PCIU; Local1 = PCID; for each slot n: If (Local0 & (1 << n)) Notify (Snn, 1);
 * If (Local1 & (1 << n)) Notify (Snn, 3) }: device check for what was plugged, eject request for what
 * the VMM wants back. Reading the two registers clears them in the VMM. */
static void build_pcnt(struct aml *dev)
{
	struct aml *m = calloc(1, sizeof(*m));
	if (!m) {
		dev->overflow = true;
		return;
	}
	aml_nameseg(m, "PCNT");
	aml_byte(m, 0x00); /* no arguments, not serialized */
	aml_byte(m, 0x70); /* Store (PCIU, Local0) */
	aml_nameseg(m, "PCIU");
	aml_byte(m, 0x60);
	aml_byte(m, 0x70); /* Store (PCID, Local1) */
	aml_nameseg(m, "PCID");
	aml_byte(m, 0x61);
	for (unsigned slot = 1; slot < 32; slot++)
		for (unsigned local = 0; local < 2; local++) {
			struct aml cond = { .len = 0 };
			char seg[5];
			slot_name(seg, slot);
			aml_byte(&cond, 0x7b); /* And (LocalN, 1 << slot, NullName) */
			aml_byte(&cond, (uint8_t)(0x60 + local));
			aml_int(&cond, 1ull << slot);
			aml_byte(&cond, 0x00);
			aml_byte(&cond, 0x86); /* Notify (Snn, 1 or 3) */
			aml_nameseg(&cond, seg);
			aml_int(&cond, local ? 3 : 1);
			aml_op_wrap(m, 0xa0, &cond);
		}
	aml_op_wrap(dev, 0x14, m);
	free(m);
}

/* Device (Snn) { Name (_ADR, nn << 16); Name (_SUN, nn); Method (_EJ0, 1) { Store (1 << nn, B0EJ) } }:
 * an ejectable slot is what makes Linux's acpiphp manage it; a slot costs the guest nothing at boot. */
static void build_slots(struct aml *dev)
{
	static const uint8_t device_op[] = { 0x5b, 0x82 };
	for (unsigned slot = 1; slot < 32; slot++) {
		struct aml d = { .len = 0 }, m = { .len = 0 };
		char seg[5];
		slot_name(seg, slot);
		aml_nameseg(&d, seg);
		aml_name_int(&d, "_ADR", (uint64_t)slot << 16);
		aml_name_int(&d, "_SUN", slot);
		aml_nameseg(&m, "_EJ0");
		aml_byte(&m, 0x01); /* one argument */
		aml_byte(&m, 0x70);
		aml_int(&m, 1ull << slot);
		aml_nameseg(&m, "B0EJ");
		aml_op_wrap(&d, 0x14, &m);
		aml_wrap(dev, device_op, 2, &d);
	}
}

/* Word (0x88) / DWord (0x87) / QWord (0x8a) address space descriptors for the bridge's windows. */
static void res_addr(struct aml *r, uint8_t tag, uint8_t type, uint8_t tflags, uint64_t min, uint64_t max)
{
	unsigned w = tag == 0x88 ? 2 : tag == 0x87 ? 4 : 8;
	uint8_t d[3 + 3 + 5 * 8];
	size_t n = 0;

	d[n++] = tag;
	put_le16(d + n, (uint16_t)(3 + 5 * w));
	n += 2;
	d[n++] = type;
	d[n++] = 0x0c; /* producer, positive decode, min and max fixed */
	d[n++] = tflags;
	uint64_t f[5] = { 0, min, max, 0, max - min + 1 }; /* granularity, min, max, translation, length */
	for (int i = 0; i < 5; i++, n += w) {
		if (w == 2)
			put_le16(d + n, (uint16_t)f[i]);
		else if (w == 4)
			put_le32(d + n, (uint32_t)f[i]);
		else
			put_le64(d + n, f[i]);
	}
	aml_bytes(r, d, n);
}

static void build_pci0(struct aml *dev, uint64_t mmio64_base, uint64_t mmio64_size)
{
	struct aml *res = calloc(1, sizeof(*res)), *buf = calloc(1, sizeof(*buf)), *prt = calloc(1, sizeof(*prt));
	static const uint8_t buffer_op = 0x11, pkg_op = 0x12;
	static const uint8_t cf8[] = { 0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08 }; /* IO 0xcf8, 8 ports */
	static const uint8_t end_tag[] = { 0x79, 0x00 };
	unsigned nprt = 0;

	if (!res || !buf || !prt) {
		dev->overflow = true;
		goto out;
	}
	aml_byte(dev, 0x08);
	aml_nameseg(dev, "_HID");
	aml_int(dev, eisa_id("PNP0A08")); /* PCI Express root bridge ... */
	aml_byte(dev, 0x08);
	aml_nameseg(dev, "_CID");
	aml_int(dev, eisa_id("PNP0A03")); /* ... compatible with a PCI one */
	aml_name_int(dev, "_ADR", 0);
	aml_name_int(dev, "_SEG", 0);
	aml_name_int(dev, "_BBN", 0);
	aml_name_int(dev, "_UID", 0);

	res_addr(res, 0x88, 2, 0, 0, 0); /* bus 0 only */
	aml_bytes(res, cf8, sizeof(cf8));
	res_addr(res, 0x88, 1, 3, 0x0000, 0x0cf7);
	res_addr(res, 0x88, 1, 3, 0x0d00, 0xffff);
	res_addr(res, 0x87, 0, 1, VM_PCI_MMIO32_START, VM_PCI_MMIO32_END - 1);
	if (mmio64_size)
		res_addr(res, 0x8a, 0, 1, mmio64_base, mmio64_base + mmio64_size - 1);
	aml_bytes(res, end_tag, sizeof(end_tag));
	aml_int(buf, res->len);
	aml_bytes(buf, res->b, res->len);
	buf->overflow |= res->overflow;
	aml_byte(dev, 0x08);
	aml_nameseg(dev, "_CRS");
	aml_wrap(dev, &buffer_op, 1, buf);

	/* INTx of slots 1-31 swizzled over GSI 16-23 (level, active low: the PCI default for _PRT GSIs). */
	for (unsigned slot = 1; slot < 32; slot++)
		for (unsigned pin = 0; pin < 4; pin++, nprt++) {
			struct aml e = { .len = 0 };
			aml_byte(&e, 4);
			aml_int(&e, (uint64_t)slot << 16 | 0xffff);
			aml_int(&e, pin);
			aml_int(&e, 0);
			aml_int(&e, 16 + (slot + pin) % 8);
			aml_wrap(prt, &pkg_op, 1, &e);
		}
	aml_name_package(dev, "_PRT", prt, (uint8_t)nprt);
	build_hotplug_regs(dev);
	build_pcnt(dev);
	build_slots(dev);
out:
	free(res);
	free(buf);
	free(prt);
}

/* The DSDT body: \_S5 and \_SB.PCI0. */
static int build_dsdt_aml(struct aml *out, uint64_t mmio64_base, uint64_t mmio64_size)
{
	struct aml *s5 = calloc(1, sizeof(*s5)), *sb = calloc(1, sizeof(*sb)), *dev = calloc(1, sizeof(*dev));
	static const uint8_t scope_op = 0x10, device_op[] = { 0x5b, 0x82 };
	int r = -ENOMEM;

	if (!s5 || !sb || !dev)
		goto out;
	/* Package {SLP_TYPa, SLP_TYPb, reserved, reserved}: the guest writes SLP_TYPa to PM1a control. */
	aml_int(s5, VM_SLP_TYP_S5);
	aml_int(s5, VM_SLP_TYP_S5);
	aml_int(s5, 0);
	aml_int(s5, 0);
	aml_name_package(out, "_S5", s5, 4);

	aml_nameseg(dev, "PCI0");
	build_pci0(dev, mmio64_base, mmio64_size);
	aml_byte(sb, '\\');
	aml_nameseg(sb, "_SB");
	aml_wrap(sb, device_op, 2, dev);
	aml_wrap(out, &scope_op, 1, sb);
	/* Scope (\_GPE) { Method (_E01) { \_SB.PCI0.PCNT () } }: GPE0 bit 1 is the hot-plug event. */
	{
		struct aml gpe = { .len = 0 }, m = { .len = 0 };
		aml_byte(&gpe, '\\');
		aml_nameseg(&gpe, "_GPE");
		aml_nameseg(&m, "_E01");
		aml_byte(&m, 0x00);
		aml_pci0_path(&m, "PCNT");
		aml_op_wrap(&gpe, 0x14, &m);
		aml_wrap(out, &scope_op, 1, &gpe);
	}
	r = out->overflow ? -E2BIG : 0;
out:
	free(s5);
	free(sb);
	free(dev);
	return r;
}

/* ---- Tables ---- */

static void sdt_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put_le32(t + 4, len);
	t[8] = rev;
	t[9] = 0;
	memcpy(t + 10, OEM_ID, 6);
	memcpy(t + 16, OEM_TABLE, 8);
	put_le32(t + 24, 1);
	memcpy(t + 28, "PTCL", 4);
	put_le32(t + 32, 1);
}

static void sdt_finish(uint8_t *t)
{
	t[9] = vm_acpi_checksum(t, get_le32(t + 4));
}

/* Generic Address Structure in system I/O space. */
static void gas_io(uint8_t *g, uint8_t bits, uint8_t access, uint64_t port)
{
	g[0] = 1;
	g[1] = bits;
	g[2] = 0;
	g[3] = access;
	put_le64(g + 4, port);
}

#define FADT_LEN 276
static void build_fadt(uint8_t *t, uint64_t facs, uint64_t dsdt)
{
	memset(t, 0, FADT_LEN);
	sdt_header(t, "FACP", FADT_LEN, 6);
	put_le32(t + 36, (uint32_t)facs);
	put_le32(t + 40, (uint32_t)dsdt);
	put_le16(t + 46, VM_IRQ_SCI);
	/* SMI_CMD (48) stays 0: the machine is always in ACPI mode. */
	put_le32(t + 56, VM_PORT_PM1A_EVT);
	put_le32(t + 64, VM_PORT_PM1A_CNT);
	put_le32(t + 76, VM_PORT_PM_TMR);
	t[88] = 4; /* PM1_EVT_LEN */
	t[89] = 2; /* PM1_CNT_LEN */
	t[91] = 4; /* PM_TMR_LEN */
	put_le32(t + 80, VM_PORT_GPE0);
	t[92] = VM_PORT_GPE0_LEN; /* GPE0_BLK_LEN: status bytes, then enable bytes */
	put_le16(t + 96, 101);  /* P_LVL2_LAT > 100: no C2 */
	put_le16(t + 98, 1001); /* P_LVL3_LAT > 1000: no C3 */
	/* IAPC_BOOT_ARCH: no VGA (bit 2); no 8042 (bit 1 clear: the guest need not probe a keyboard);
	 * a CMOS clock is present (bit 5 clear). */
	put_le16(t + 109, 1 << 2);
	/* WBINVD, PROC_C1, no fixed power/sleep buttons, RESET_REG_SUP. */
	put_le32(t + 112, 1 << 0 | 1 << 2 | 1 << 4 | 1 << 5 | 1 << 10);
	gas_io(t + 116, 8, 1, VM_PORT_RESET);
	t[128] = VM_RESET_VALUE;
	t[131] = 0; /* FADT minor version */
	put_le64(t + 132, facs);
	put_le64(t + 140, dsdt);
	gas_io(t + 148, 32, 2, VM_PORT_PM1A_EVT);
	gas_io(t + 172, 16, 2, VM_PORT_PM1A_CNT);
	gas_io(t + 208, 32, 3, VM_PORT_PM_TMR);
	gas_io(t + 220, VM_PORT_GPE0_LEN * 8, 1, VM_PORT_GPE0);
	memcpy(t + 268, "PTCTLVM ", 8);
	sdt_finish(t);
}

static size_t build_madt(uint8_t *t, unsigned cpus)
{
	size_t n = 44;
	memset(t, 0, 44);
	put_le32(t + 36, (uint32_t)VM_LAPIC_BASE);
	put_le32(t + 40, 1); /* PCAT_COMPAT: the in-kernel irqchip has the dual 8259 too */
	for (unsigned i = 0; i < cpus; i++, n += 8) {
		t[n] = 0;
		t[n + 1] = 8;
		t[n + 2] = (uint8_t)i; /* processor UID */
		t[n + 3] = (uint8_t)i; /* APIC ID = vCPU index (set in CPUID too) */
		put_le32(t + n + 4, 1);
	}
	t[n] = 1;
	t[n + 1] = 12;
	t[n + 2] = (uint8_t)cpus; /* IOAPIC id after the CPUs' */
	t[n + 3] = 0;
	put_le32(t + n + 4, (uint32_t)VM_IOAPIC_BASE);
	put_le32(t + n + 8, 0);
	n += 12;
	/* SCI: ISA IRQ 9, level, active high. The PIT stays on GSI 0 as KVM's default routing has it. */
	t[n] = 2;
	t[n + 1] = 10;
	t[n + 2] = 0;
	t[n + 3] = VM_IRQ_SCI;
	put_le32(t + n + 4, VM_IRQ_SCI);
	put_le16(t + n + 8, 0x000d);
	n += 10;
	/* LINT1 of every CPU is NMI. */
	t[n] = 4;
	t[n + 1] = 6;
	t[n + 2] = 0xff;
	put_le16(t + n + 3, 0);
	t[n + 5] = 1;
	n += 6;
	sdt_header(t, "APIC", (uint32_t)n, 5);
	sdt_finish(t);
	return n;
}

static size_t build_mcfg(uint8_t *t)
{
	size_t n = 44 + 16;
	memset(t, 0, n);
	sdt_header(t, "MCFG", (uint32_t)n, 1);
	put_le64(t + 44, VM_ECAM_BASE);
	put_le16(t + 52, 0);
	t[54] = 0; /* start bus */
	t[55] = (uint8_t)(VM_ECAM_SIZE / (1u << 20) - 1); /* end bus */
	sdt_finish(t);
	return n;
}

#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((size_t)(a) - 1))

int vm_acpi_build(uint8_t *buf, size_t len, uint64_t gpa, unsigned cpus, uint64_t mmio64_base,
		  uint64_t mmio64_size)
{
	struct aml *dsdt_body = calloc(1, sizeof(*dsdt_body));
	size_t rsdp = 0, facs = 64, dsdt, fadt, madt, mcfg, xsdt, rsdt, end;
	int r;

	if (!dsdt_body)
		return -ENOMEM;
	if (cpus == 0 || cpus > VM_MAX_CPUS) {
		free(dsdt_body);
		return -EINVAL;
	}
	r = build_dsdt_aml(dsdt_body, mmio64_base, mmio64_size);
	if (r < 0) {
		free(dsdt_body);
		return r;
	}
	dsdt = facs + 64;
	fadt = ALIGN_UP(dsdt + 36 + dsdt_body->len, 16);
	madt = ALIGN_UP(fadt + FADT_LEN, 16);
	mcfg = ALIGN_UP(madt + 44 + 8 * cpus + 12 + 10 + 6, 16);
	xsdt = ALIGN_UP(mcfg + 60, 16);
	rsdt = ALIGN_UP(xsdt + 36 + 3 * 8, 16);
	end = rsdt + 36 + 3 * 4;
	if (end > len) {
		free(dsdt_body);
		return -E2BIG;
	}
	memset(buf, 0, end);

	memcpy(buf + facs, "FACS", 4);
	put_le32(buf + facs + 4, 64);
	buf[facs + 32] = 2; /* version */

	sdt_header(buf + dsdt, "DSDT", (uint32_t)(36 + dsdt_body->len), 2);
	memcpy(buf + dsdt + 36, dsdt_body->b, dsdt_body->len);
	sdt_finish(buf + dsdt);
	free(dsdt_body);

	build_fadt(buf + fadt, gpa + facs, gpa + dsdt);
	build_madt(buf + madt, cpus);
	build_mcfg(buf + mcfg);

	sdt_header(buf + xsdt, "XSDT", 36 + 3 * 8, 1);
	put_le64(buf + xsdt + 36, gpa + fadt);
	put_le64(buf + xsdt + 44, gpa + madt);
	put_le64(buf + xsdt + 52, gpa + mcfg);
	sdt_finish(buf + xsdt);
	sdt_header(buf + rsdt, "RSDT", 36 + 3 * 4, 1);
	put_le32(buf + rsdt + 36, (uint32_t)(gpa + fadt));
	put_le32(buf + rsdt + 40, (uint32_t)(gpa + madt));
	put_le32(buf + rsdt + 44, (uint32_t)(gpa + mcfg));
	sdt_finish(buf + rsdt);

	memcpy(buf + rsdp, "RSD PTR ", 8);
	memcpy(buf + rsdp + 9, OEM_ID, 6);
	buf[rsdp + 15] = 2; /* ACPI 2.0+: XSDT */
	put_le32(buf + rsdp + 16, (uint32_t)(gpa + rsdt));
	put_le32(buf + rsdp + 20, 36);
	put_le64(buf + rsdp + 24, gpa + xsdt);
	buf[rsdp + 8] = vm_acpi_checksum(buf + rsdp, 20);
	buf[rsdp + 32] = vm_acpi_checksum(buf + rsdp, 36);
	return (int)end;
}
