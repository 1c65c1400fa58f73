/* test-vtd.c: VT-d register decoding, the DMAR table parser (real, synthetic and hostile tables),
 * the reserved-region and command-line parsers, and the status reader against a fake root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>

#include "iommu/iommu.h"
#include "lib/fakesys.h"
#include "util/root.h"

/* QEMU 10 intel-iommu (intremap=on, caching-mode=on) as the test host's kernel reads it. */
#define QEMU_CAP 0xd2008c222f0686ull
#define QEMU_ECAP 0xf00f4aull
/* A Xeon's catch-all unit (values as Linux prints them at boot). */
#define XEON_CAP 0xd2078c106f0466ull
#define XEON_ECAP 0xf020deull

/* The DMAR table of that QEMU test host, byte for byte (sysfs ACPI table). */
static const uint8_t qemu_dmar[] = {
	0x44, 0x4d, 0x41, 0x52, 0x88, 0x00, 0x00, 0x00, 0x01, 0xc7, 0x42, 0x4f,
	0x43, 0x48, 0x53, 0x20, 0x42, 0x58, 0x50, 0x43, 0x20, 0x20, 0x20, 0x20,
	0x01, 0x00, 0x00, 0x00, 0x42, 0x58, 0x50, 0x43, 0x01, 0x00, 0x00, 0x00,
	0x2f, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x58, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xd9, 0xfe,
	0x00, 0x00, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00,
	0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00, 0x00,
	0x00, 0x00, 0x01, 0x00, 0x02, 0x08, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00,
	0x02, 0x08, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x02, 0x08, 0x00, 0x00,
	0x00, 0x00, 0x04, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x1f, 0x00,
	0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x1f, 0x02, 0x01, 0x08, 0x00, 0x00,
	0x00, 0x00, 0x1f, 0x03,
};

static void test_decode_qemu(void **st)
{
	unsigned w[5];
	uint64_t sp[4];
	(void)st;

	assert_int_equal(vtd_cap(QEMU_CAP, VTD_CAP_CM), 1);
	assert_int_equal(vtd_cap(QEMU_CAP, VTD_CAP_ND), 6);
	assert_int_equal(vtd_cap_domains(QEMU_CAP), 65536);
	assert_int_equal(vtd_cap(QEMU_CAP, VTD_CAP_SAGAW), 0x6);
	assert_int_equal(vtd_cap_sagaw_widths(QEMU_CAP, w), 2);
	assert_int_equal(w[0], 39);
	assert_int_equal(w[1], 48);
	assert_int_equal(vtd_cap_mgaw(QEMU_CAP), 48);
	assert_int_equal(vtd_cap_superpages(QEMU_CAP, sp), 2);
	assert_int_equal(sp[0], 2ull << 20);
	assert_int_equal(sp[1], 1ull << 30);
	assert_int_equal(vtd_cap(QEMU_CAP, VTD_CAP_PSI), 1);
	assert_int_equal(vtd_cap(QEMU_CAP, VTD_CAP_PI), 0);
	assert_int_equal(vtd_cap(QEMU_CAP, VTD_CAP_NFR), 0);
	assert_int_equal(vtd_cap(QEMU_CAP, VTD_CAP_FRO), 0x22);
	assert_int_equal(vtd_cap(QEMU_CAP, VTD_CAP_MAMV), 0x12);
	assert_int_equal(vtd_ecap(QEMU_ECAP, VTD_ECAP_IR), 1);
	assert_int_equal(vtd_ecap(QEMU_ECAP, VTD_ECAP_QI), 1);
	assert_int_equal(vtd_ecap(QEMU_ECAP, VTD_ECAP_PT), 1);
	assert_int_equal(vtd_ecap(QEMU_ECAP, VTD_ECAP_EIM), 0);
	assert_int_equal(vtd_ecap(QEMU_ECAP, VTD_ECAP_DT), 0);
	assert_int_equal(vtd_ecap(QEMU_ECAP, VTD_ECAP_SC), 0);
	assert_int_equal(vtd_ecap(QEMU_ECAP, VTD_ECAP_IRO), 0xf);
	assert_int_equal(vtd_ecap(QEMU_ECAP, VTD_ECAP_MHMV), 0xf);
}

static void test_decode_xeon(void **st)
{
	unsigned w[5];
	(void)st;

	assert_int_equal(vtd_cap(XEON_CAP, VTD_CAP_CM), 0);
	assert_int_equal(vtd_cap_domains(XEON_CAP), 65536);
	assert_int_equal(vtd_cap_sagaw_widths(XEON_CAP, w), 1);
	assert_int_equal(w[0], 48);
	assert_int_equal(vtd_cap_mgaw(XEON_CAP), 48);
	assert_int_equal(vtd_cap(XEON_CAP, VTD_CAP_NFR) + 1, 8);
	assert_int_equal(vtd_cap(XEON_CAP, VTD_CAP_FRO) * 16, 0x100);
	assert_int_equal(vtd_cap(XEON_CAP, VTD_CAP_ZLR), 1);
	assert_int_equal(vtd_ecap(XEON_ECAP, VTD_ECAP_DT), 1);
	assert_int_equal(vtd_ecap(XEON_ECAP, VTD_ECAP_EIM), 1);
	assert_int_equal(vtd_ecap(XEON_ECAP, VTD_ECAP_SC), 1);
	assert_int_equal(vtd_ecap(XEON_ECAP, VTD_ECAP_C), 0);
	assert_int_equal(vtd_ecap(XEON_ECAP, VTD_ECAP_IRO) * 16, 0x200);
}

/* Each named bit lands where the spec puts it, and the table has no overlapping fields. */
static void test_field_tables(void **st)
{
	const struct vtd_field *c = vtd_cap_fields(), *e = vtd_ecap_fields();
	uint64_t seen = 0;
	unsigned w[5];
	uint64_t sp[4];
	(void)st;

	for (unsigned i = 0; i < VTD_CAP__MAX; i++) {
		uint64_t mask = (c[i].width == 64 ? ~0ull : ((1ull << c[i].width) - 1)) << c[i].shift;
		assert_non_null(c[i].abbrev);
		assert_int_equal(seen & mask, 0);
		seen |= mask;
	}
	seen = 0;
	for (unsigned i = 0; i < VTD_ECAP__MAX; i++) {
		uint64_t mask = ((1ull << e[i].width) - 1) << e[i].shift;
		assert_non_null(e[i].abbrev);
		assert_int_equal(seen & mask, 0);
		seen |= mask;
	}
	assert_int_equal(vtd_cap(1ull << 7, VTD_CAP_CM), 1);
	assert_int_equal(vtd_cap(1ull << 59, VTD_CAP_PI), 1);
	assert_int_equal(vtd_cap(1ull << 63, VTD_CAP_ESRTPS), 1);
	assert_int_equal(vtd_cap(1ull << 56, VTD_CAP_FL1GP), 1);
	assert_int_equal(vtd_ecap(1ull << 43, VTD_ECAP_SMTS), 1);
	assert_int_equal(vtd_ecap(1ull << 40, VTD_ECAP_PASID), 1);
	assert_int_equal(vtd_ecap(1ull << 26, VTD_ECAP_NEST), 1);
	assert_int_equal(vtd_cap(~0ull, VTD_CAP_MGAW), 63);
	assert_int_equal(vtd_cap(7, VTD_CAP_ND), 7);
	assert_int_equal(vtd_cap_domains(7), 0); /* ND=7 is reserved */
	assert_int_equal(vtd_cap_domains(0), 16);
	assert_int_equal(vtd_cap_sagaw_widths(0x1full << 8, w), 5);
	assert_int_equal(w[2], 48);
	assert_int_equal(w[3], 57);
	assert_int_equal(vtd_cap_sagaw_widths(0, w), 0);
	assert_int_equal(vtd_cap_superpages(0xfull << 34, sp), 4);
	assert_int_equal(sp[2], 512ull << 30);
	assert_int_equal(vtd_cap_superpages(1ull << 35, sp), 1);
	assert_int_equal(sp[0], 1ull << 30);
}

static void test_parse_qemu(void **st)
{
	_cleanup_(dmar_table_freep) struct dmar_table *t = NULL;
	char err[160] = "", buf[128];
	(void)st;

	assert_int_equal(dmar_parse(qemu_dmar, sizeof(qemu_dmar), &t, err, sizeof(err)), 0);
	assert_true(t->checksum_ok);
	assert_string_equal(t->oem_id, "BOCHS");
	assert_string_equal(t->oem_table_id, "BXPC");
	assert_int_equal(t->host_address_width, 48);
	assert_int_equal(t->flags, DMAR_FLAG_INTR_REMAP);
	assert_int_equal(t->nstructs, 1);
	assert_int_equal(t->structs[0].type, DMAR_DRHD);
	assert_int_equal(t->structs[0].base, 0xfed90000);
	assert_int_equal(t->structs[0].flags & DMAR_DRHD_INCLUDE_PCI_ALL, 0);
	assert_int_equal(t->structs[0].nscopes, 9);
	assert_int_equal(t->structs[0].scopes[0].type, DMAR_SCOPE_IOAPIC);
	assert_int_equal(t->structs[0].scopes[0].start_bus, 0xff);
	assert_int_equal(dmar_scope_format(&t->structs[0].scopes[0], 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "ioapic 0000:ff:00.0 id 0");
	assert_int_equal(dmar_scope_format(&t->structs[0].scopes[2], 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "bridge 0000:00:01.0");
	assert_int_equal(dmar_scope_format(&t->structs[0].scopes[8], 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "endpoint 0000:00:1f.3");
	assert_null(t->warnings);
}

/* A small table builder for the hostile cases. */
struct tb {
	uint8_t b[512];
	size_t n;
};

static void put(struct tb *t, const void *p, size_t n)
{
	assert_true(t->n + n <= sizeof(t->b));
	memcpy(t->b + t->n, p, n);
	t->n += n;
}

static void put8(struct tb *t, uint8_t v)
{
	put(t, &v, 1);
}

static void put16(struct tb *t, uint16_t v)
{
	put8(t, v & 0xff);
	put8(t, v >> 8);
}

static void put32(struct tb *t, uint32_t v)
{
	put16(t, v & 0xffff);
	put16(t, v >> 16);
}

static void put64(struct tb *t, uint64_t v)
{
	put32(t, (uint32_t)v);
	put32(t, (uint32_t)(v >> 32));
}

static void header(struct tb *t)
{
	t->n = 0;
	put(t, "DMAR", 4);
	put32(t, 0); /* length, fixed by finish() */
	put8(t, 1);
	put8(t, 0);
	put(t, "PTCTL TESTTBL ", 14);
	put32(t, 1);
	put(t, "PTCT", 4);
	put32(t, 1);
	put8(t, 38); /* 39-bit */
	put8(t, DMAR_FLAG_INTR_REMAP | DMAR_FLAG_X2APIC_OPT_OUT);
	for (int i = 0; i < 10; i++)
		put8(t, 0);
}

static void finish(struct tb *t)
{
	uint8_t sum = 0;
	t->b[4] = t->n & 0xff;
	t->b[5] = (t->n >> 8) & 0xff;
	t->b[9] = 0;
	for (size_t i = 0; i < t->n; i++)
		sum = (uint8_t)(sum + t->b[i]);
	t->b[9] = (uint8_t)-sum;
}

static void drhd(struct tb *t, uint16_t len_extra, uint64_t base)
{
	put16(t, DMAR_DRHD);
	put16(t, (uint16_t)(16 + len_extra));
	put8(t, 0);
	put8(t, 0);
	put16(t, 0);
	put64(t, base);
}

static void scope(struct tb *t, uint8_t type, uint8_t len, uint8_t bus, uint8_t dev, uint8_t fn)
{
	put8(t, type);
	put8(t, len);
	put16(t, 0);
	put8(t, 0);
	put8(t, bus);
	if (len >= 8) {
		put8(t, dev);
		put8(t, fn);
	}
}

static void rmrr(struct tb *t, uint64_t base, uint64_t limit)
{
	put16(t, DMAR_RMRR);
	put16(t, 24 + 8);
	put16(t, 0);
	put16(t, 0);
	put64(t, base);
	put64(t, limit);
	scope(t, DMAR_SCOPE_ENDPOINT, 8, 0, 0x14, 0);
}

static int parse(struct tb *t, char *err, size_t errlen)
{
	struct dmar_table *d = NULL;
	int r = dmar_parse(t->b, t->n, &d, err, errlen);
	if (r < 0)
		assert_null(d);
	dmar_table_free(d);
	return r;
}

#define assert_bad(t, what)                                                                        \
	do {                                                                                       \
		char err_[160] = "";                                                               \
		assert_int_equal(parse(t, err_, sizeof(err_)), -EBADMSG);                          \
		if (!strstr(err_, what))                                                           \
			fail_msg("error '%s' does not mention '%s'", err_, what);                  \
	} while (0)

static void test_parse_hostile(void **st)
{
	struct tb t;
	char err[160];
	(void)st;

	/* Header problems. */
	header(&t);
	assert_int_equal(dmar_parse(t.b, 20, &(struct dmar_table *){ NULL }, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "shorter than the 48-byte header"));
	header(&t);
	finish(&t);
	t.b[0] = 'X';
	assert_bad(&t, "signature");
	header(&t);
	drhd(&t, 0, 0xfed90000);
	finish(&t);
	t.n -= 4; /* the file ends before the length it claims */
	assert_bad(&t, "exceeds the");
	header(&t);
	finish(&t);
	t.b[4] = 40;
	assert_bad(&t, "shorter than the header");

	/* Structure lengths: zero, too short for a header, past the end, short of the fixed part. */
	header(&t);
	drhd(&t, 0, 0xfed90000);
	put16(&t, DMAR_RMRR);
	put16(&t, 0);
	put(&t, "\0\0\0\0\0\0\0\0", 8);
	finish(&t);
	assert_bad(&t, "has length 0");
	header(&t);
	put16(&t, DMAR_DRHD);
	put16(&t, 2);
	finish(&t);
	assert_bad(&t, "has length 2");
	header(&t);
	drhd(&t, 40, 0xfed90000);
	finish(&t);
	assert_bad(&t, "runs past the table end");
	header(&t);
	put16(&t, DMAR_DRHD);
	put16(&t, 12);
	put64(&t, 0);
	finish(&t);
	assert_bad(&t, "less than its fixed 16 bytes");
	header(&t);
	drhd(&t, 0, 0xfed90000);
	put8(&t, 0);
	put8(&t, 0);
	finish(&t);
	assert_bad(&t, "trailing bytes");

	/* Device scopes: too short, odd, past the structure, no path, impossible path. */
	header(&t);
	drhd(&t, 4, 0xfed90000);
	put8(&t, DMAR_SCOPE_ENDPOINT);
	put8(&t, 4);
	put16(&t, 0);
	finish(&t);
	assert_bad(&t, "has length 4");
	header(&t);
	drhd(&t, 8, 0xfed90000);
	put8(&t, DMAR_SCOPE_ENDPOINT);
	put8(&t, 7);
	put(&t, "\0\0\0\0\0\0", 6);
	finish(&t);
	assert_bad(&t, "has length 7");
	header(&t);
	drhd(&t, 8, 0xfed90000);
	put8(&t, DMAR_SCOPE_ENDPOINT);
	put8(&t, 10); /* claims 10 bytes, the DRHD holds 8 */
	put(&t, "\0\0\0\0\x02\0", 6);
	finish(&t);
	assert_bad(&t, "runs past the structure end");
	header(&t);
	drhd(&t, 1, 0xfed90000);
	put8(&t, DMAR_SCOPE_ENDPOINT);
	finish(&t);
	assert_bad(&t, "cut short");
	header(&t);
	drhd(&t, 6, 0xfed90000);
	scope(&t, DMAR_SCOPE_ENDPOINT, 6, 0, 0, 0);
	finish(&t);
	assert_bad(&t, "no path");
	header(&t);
	drhd(&t, 8, 0xfed90000);
	scope(&t, DMAR_SCOPE_ENDPOINT, 8, 0, 0x20, 0);
	finish(&t);
	assert_bad(&t, "has path 20.0");

	/* The other structures' fixed parts. */
	header(&t);
	put16(&t, DMAR_RHSA);
	put16(&t, 16);
	put32(&t, 0);
	put64(&t, 0xfed90000);
	finish(&t);
	assert_bad(&t, "rhsa at 0x30 has length 16");
	header(&t);
	put16(&t, DMAR_SATC);
	put16(&t, 12);
	put(&t, "\x01\0\0\0", 4);
	put(&t, "\x01\x06\0\0", 4); /* a scope that claims 6 bytes where 4 are left */
	finish(&t);
	assert_bad(&t, "satc at 0x30: device scope at 0x38 (length 6) runs past");

	/* Contents: an inverted RMRR, an unterminated ANDD name. */
	header(&t);
	rmrr(&t, 0x7c000000, 0x7bffffff);
	finish(&t);
	assert_bad(&t, "below base");
	header(&t);
	put16(&t, DMAR_ANDD);
	put16(&t, 12);
	put(&t, "\0\0\0\x01", 4);
	put(&t, "ABCD", 4);
	finish(&t);
	assert_bad(&t, "not terminated");
}

static void test_parse_oddities(void **st)
{
	_cleanup_(dmar_table_freep) struct dmar_table *d = NULL;
	struct tb t;
	char err[160];
	(void)st;

	/* Unknown type, bad checksum and a misaligned RMRR are warnings, not failures. */
	header(&t);
	drhd(&t, 8, 0xfed90000);
	scope(&t, DMAR_SCOPE_ENDPOINT, 8, 0, 2, 0);
	rmrr(&t, 0x7c000800, 0x7c01ffff);
	put16(&t, 9);
	put16(&t, 8);
	put32(&t, 0xdeadbeef);
	finish(&t);
	t.b[9] ^= 1;
	assert_int_equal(dmar_parse(t.b, t.n, &d, err, sizeof(err)), 0);
	assert_false(d->checksum_ok);
	assert_int_equal(d->nstructs, 3);
	assert_int_equal(d->structs[1].type, DMAR_RMRR);
	assert_int_equal(d->structs[1].base, 0x7c000800);
	assert_int_equal(d->structs[1].limit, 0x7c01ffff);
	assert_int_equal(d->structs[2].type, 9);
	assert_string_equal(dmar_struct_type_name(9), "unknown");
	assert_int_equal(strv_length(d->warnings), 3);
	assert_non_null(strstr(d->warnings[0], "checksum"));
	assert_non_null(strstr(d->warnings[1], "not page aligned"));
	assert_non_null(strstr(d->warnings[2], "type 9"));
	assert_int_equal(d->host_address_width, 39);
	assert_int_equal(d->flags, DMAR_FLAG_INTR_REMAP | DMAR_FLAG_X2APIC_OPT_OUT);
}

/* Every prefix of a valid table, with the header length claiming the prefix or the whole, and
 * every single-byte corruption, parses or fails cleanly: never reads past the buffer (ASan). */
static void test_parse_fuzz(void **st)
{
	struct tb t;
	(void)st;

	header(&t);
	drhd(&t, 16, 0xfed90000);
	scope(&t, DMAR_SCOPE_IOAPIC, 8, 0xf0, 0x1f, 0);
	scope(&t, DMAR_SCOPE_ENDPOINT, 8, 0, 2, 0);
	rmrr(&t, 0x7c000000, 0x7c01ffff);
	put16(&t, DMAR_ANDD);
	put16(&t, 14);
	put(&t, "\0\0\0\x01_SB.X\0", 10);
	finish(&t);
	for (size_t n = 0; n <= t.n; n++) {
		uint8_t *copy = malloc(n ? n : 1);
		memcpy(copy, t.b, n);
		int r;
		struct dmar_table *d = NULL;
		r = dmar_parse(copy, n, &d, NULL, 0);
		assert_true(r == 0 || r == -EBADMSG);
		assert_true((r == 0) == (n == t.n));
		dmar_table_free(d);
		if (n >= 8) {
			copy[4] = n & 0xff;
			copy[5] = n >> 8;
			d = NULL;
			r = dmar_parse(copy, n, &d, NULL, 0);
			assert_true(r == 0 || r == -EBADMSG);
			dmar_table_free(d);
		}
		free(copy);
	}
	for (size_t i = 0; i < t.n; i++)
		for (unsigned v = 0; v < 256; v += 17) {
			uint8_t *copy = malloc(t.n);
			struct dmar_table *d = NULL;
			int r;
			memcpy(copy, t.b, t.n);
			copy[i] = (uint8_t)v;
			r = dmar_parse(copy, t.n, &d, NULL, 0);
			assert_true(r == 0 || r == -EBADMSG);
			dmar_table_free(d);
			free(copy);
		}
}

static void test_reserved_regions(void **st)
{
	struct vtd_resv_region *r = NULL;
	size_t n = 0;
	(void)st;

	assert_int_equal(vtd_parse_reserved_regions("0x0000000000000000 0x0000000000ffffff direct-relaxable\n"
						    "0x00000000fee00000 0x00000000feefffff msi\n",
						    &r, &n),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].end, 0xffffff);
	assert_string_equal(r[0].type, "direct-relaxable");
	assert_int_equal(r[1].start, 0xfee00000);
	assert_string_equal(r[1].type, "msi");
	for (size_t i = 0; i < n; i++)
		free(r[i].type);
	free(r);
	r = NULL;
	assert_int_equal(vtd_parse_reserved_regions("", &r, &n), 0);
	assert_int_equal(n, 0);
	free(r);
	assert_int_equal(vtd_parse_reserved_regions("0xfee00000 garbage\n", &r, &n), -EBADMSG);
	assert_int_equal(vtd_parse_reserved_regions("0x2000 0x1000 msi\n", &r, &n), -EBADMSG);
	assert_int_equal(vtd_parse_reserved_regions("0x1000 0x2000 msi extra\n", &r, &n), -EBADMSG);
}

static void test_cmdline(void **st)
{
	struct vtd_cmdline c;
	(void)st;

	assert_int_equal(vtd_cmdline_parse("BOOT_IMAGE=/vmlinuz intel_iommu=on,sm_on iommu=pt intel_iommu=on "
					   "intremap=nosid xintel_iommu=off -- iommu=off",
					   &c),
			 0);
	assert_string_equal(c.intel_iommu, "on");
	assert_string_equal(c.iommu, "pt");
	assert_string_equal(c.intremap, "nosid");
	assert_null(c.amd_iommu);
	assert_null(c.iommu_passthrough);
	vtd_cmdline_clear(&c);
	assert_int_equal(vtd_cmdline_parse("iommu.passthrough=1\n", &c), 0);
	assert_string_equal(c.iommu_passthrough, "1");
	vtd_cmdline_clear(&c);
	assert_int_equal(vtd_cmdline_parse("", &c), 0);
	assert_null(c.intel_iommu);
}

static int setup_root(void **st)
{
	struct fakesys *fs;
	if (fakesys_new(&fs) < 0)
		return -1;
	*st = fs;
	return 0;
}

static int teardown_root(void **st)
{
	fakesys_free(*st);
	return 0;
}

#define W(path, text) assert_int_equal(fakesys_write(fs, path, text), 0)

/* Binary files (fakesys_write takes text). */
static void write_bytes(const char *path, const void *buf, size_t len)
{
	char p[PATH_MAX];
	FILE *f;

	assert_int_equal(root_path(p, sizeof(p), "%s", path), 0);
	f = fopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

static void test_status(void **st)
{
	_cleanup_(vtd_status_freep) struct vtd_status *s = NULL;
	struct fakesys *fs = *st;

	W("/sys/class/iommu/dmar0/intel-iommu/cap", "d2008c222f0686\n");
	W("/sys/class/iommu/dmar0/intel-iommu/ecap", "f00f4a\n");
	W("/sys/class/iommu/dmar0/intel-iommu/address", "fed90000\n");
	W("/sys/class/iommu/dmar0/intel-iommu/version", "1:0\n");
	/* A unit whose registers cannot be read is left out, with a warning. */
	W("/sys/class/iommu/dmar1/intel-iommu/cap", "d2008c222f0686\n");
	W("/sys/kernel/iommu_groups/10/reserved_regions", "0x00000000fee00000 0x00000000feefffff msi\n");
	W("/sys/kernel/iommu_groups/10/type", "identity\n");
	W("/sys/kernel/iommu_groups/2/reserved_regions",
	  "0x0000000000000000 0x0000000000ffffff direct-relaxable\n"
	  "0x00000000fee00000 0x00000000feefffff msi\n");
	W("/sys/kernel/iommu_groups/9/reserved_regions", "not a region\n");
	W("/sys/kernel/irq/0/chip_name", "IR-IO-APIC\n");
	W("/sys/kernel/irq/24/chip_name", "DMAR-MSI\n");
	W("/proc/cmdline", "quiet intel_iommu=on\n");
	W("/sys/firmware/acpi/tables/DMAR", "");
	write_bytes("/sys/firmware/acpi/tables/DMAR", qemu_dmar, sizeof(qemu_dmar));

	assert_int_equal(vtd_status_read(&s), 0);
	assert_int_equal(s->kind, VTD_IOMMU_INTEL);
	assert_int_equal(s->nunits, 1);
	assert_string_equal(s->units[0].name, "dmar0");
	assert_int_equal(s->units[0].cap, QEMU_CAP);
	assert_int_equal(s->units[0].register_base, 0xfed90000);
	assert_true(vtd_status_dma_remapping(s));
	assert_int_equal(s->ngroups, 3);
	assert_int_equal(s->groups[0].id, 2); /* numeric order, not 10 < 2 < 9 */
	assert_int_equal(s->groups[2].id, 10);
	assert_string_equal(s->groups[2].type, "identity");
	assert_int_equal(s->nregions, 2);
	assert_string_equal(s->regions[1].type, "msi");
	assert_int_equal(s->regions[1].ngroups, 2);
	assert_int_equal(s->regions[1].groups[0], 2);
	assert_int_equal(s->regions[1].groups[1], 10);
	assert_int_equal(s->irq_remap.enabled, 1);
	assert_int_equal(s->irq_remap.ir_irqs, 1);
	assert_string_equal(s->cmdline.intel_iommu, "on");
	assert_non_null(s->dmar);
	assert_int_equal(s->dmar_errno, 0);
	assert_int_equal(strv_length(s->warnings), 2);
	assert_non_null(strstr(s->warnings[0], "dmar1"));
	assert_non_null(strstr(s->warnings[1], "iommu_groups/9/reserved_regions"));
}

static void test_status_empty(void **st)
{
	_cleanup_(vtd_status_freep) struct vtd_status *s = NULL;
	(void)st;

	assert_int_equal(vtd_status_read(&s), 0);
	assert_int_equal(s->kind, VTD_IOMMU_NONE);
	assert_false(vtd_status_dma_remapping(s));
	assert_int_equal(s->dmar_errno, -ENOENT);
	assert_int_equal(s->irq_remap.enabled, -1);
	assert_null(s->dmar);
}

static void test_scope_hops(void **st)
{
	struct dmar_scope sc = { .type = DMAR_SCOPE_ENDPOINT, .start_bus = 0, .npath = 2 };
	char buf[128];
	uint8_t cfg[64] = { 0 };

	sc.path[0].dev = 0x1c;
	sc.path[1].dev = 0;
	assert_int_equal(dmar_scope_format(&sc, 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "endpoint 0000:00:1c.0/00.0"); /* no bridge to follow */
	cfg[0x0e] = 1;
	cfg[0x19] = 3;
	assert_int_equal(fakesys_write(*st, "/sys/bus/pci/devices/0000:00:1c.0/config", ""), 0);
	write_bytes("/sys/bus/pci/devices/0000:00:1c.0/config", cfg, sizeof(cfg));
	assert_int_equal(dmar_scope_format(&sc, 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "endpoint 0000:03:00.0");
	assert_int_equal(dmar_scope_format(&sc, 0, buf, 8), -ENOBUFS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_qemu),
		cmocka_unit_test(test_decode_xeon),
		cmocka_unit_test(test_field_tables),
		cmocka_unit_test(test_parse_qemu),
		cmocka_unit_test(test_parse_hostile),
		cmocka_unit_test(test_parse_oddities),
		cmocka_unit_test(test_parse_fuzz),
		cmocka_unit_test(test_reserved_regions),
		cmocka_unit_test(test_cmdline),
		cmocka_unit_test_setup_teardown(test_status, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_status_empty, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_scope_hops, setup_root, teardown_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
