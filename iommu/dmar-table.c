/* dmar-table.c: the ACPI DMAR table (DMA remapping reporting): header, remapping structures and
 * their device scopes. Firmware writes it, so every length is checked before a byte is used. */
#include <inttypes.h>
#include <stdarg.h>

#include "iommu.h"
#include "util/log.h"
#include "util/root.h"

#define DMAR_PATH "/sys/firmware/acpi/tables/DMAR"
#define DMAR_HEADER_LEN 48  /* ACPI header (36) + width, flags, 10 reserved */
#define DMAR_MAX_LEN (256u << 10) /* real tables are a few KiB; this bounds what a hostile one costs */
#define SCOPE_HEADER_LEN 6

/* Smallest length of each known structure, fixed fields only. */
static const uint16_t min_len[] = {
	[DMAR_DRHD] = 16, [DMAR_RMRR] = 24, [DMAR_ATSR] = 8,
	[DMAR_RHSA] = 20, [DMAR_ANDD] = 9,  [DMAR_SATC] = 8,
};
/* Where the device scope list starts; 0 for structures without one. */
static const uint16_t scope_start[] = {
	[DMAR_DRHD] = 16, [DMAR_RMRR] = 24, [DMAR_ATSR] = 8,
	[DMAR_RHSA] = 0,  [DMAR_ANDD] = 0,  [DMAR_SATC] = 8,
};

static const char *const type_names[] = {
	[DMAR_DRHD] = "drhd", [DMAR_RMRR] = "rmrr", [DMAR_ATSR] = "atsr",
	[DMAR_RHSA] = "rhsa", [DMAR_ANDD] = "andd", [DMAR_SATC] = "satc",
};

const char *dmar_struct_type_name(uint16_t type)
{
	return type < ARRAY_SIZE(type_names) ? type_names[type] : "unknown";
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

struct parser {
	const uint8_t *buf;
	size_t len;
	char *err;
	size_t errlen;
	struct dmar_table *t;
};

_printf_(2, 3) static int malformed(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	char tmp[160];

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	log_debug("DMAR table malformed: %s", tmp);
	if (p->err && p->errlen)
		snprintf(p->err, p->errlen, "%s", tmp);
	return -EBADMSG;
}

_printf_(2, 3) static int warn(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = strv_vpushf(&p->t->warnings, NULL, fmt, ap);
	va_end(ap);
	if (r >= 0)
		log_debug("DMAR table: %s", p->t->warnings[strv_length(p->t->warnings) - 1]);
	return r;
}

void dmar_table_free(struct dmar_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nstructs; i++) {
		free(t->structs[i].scopes);
		free(t->structs[i].acpi_name);
	}
	free(t->structs);
	strv_free(t->warnings);
	free(t);
}

/* Device scopes fill [start, end) of the structure exactly; each entry is 6 bytes plus
 * (device, function) pairs. */
static int parse_scopes(struct parser *p, struct dmar_struct *s, size_t start, size_t end)
{
	size_t off, n = 0;

	for (off = start; off < end; off += p->buf[off + 1]) {
		uint8_t len;
		if (end - off < 2)
			return malformed(p, "%s at 0x%x: device scope at 0x%zx is cut short", dmar_struct_type_name(s->type),
					 s->offset, off);
		len = p->buf[off + 1];
		if (len < SCOPE_HEADER_LEN || (len - SCOPE_HEADER_LEN) % 2)
			return malformed(p, "%s at 0x%x: device scope at 0x%zx has length %u", dmar_struct_type_name(s->type),
					 s->offset, off, len);
		if (len > end - off)
			return malformed(p, "%s at 0x%x: device scope at 0x%zx (length %u) runs past the structure end 0x%zx",
					 dmar_struct_type_name(s->type), s->offset, off, len, end);
		n++;
	}
	if (n == 0)
		return 0;
	s->scopes = calloc(n, sizeof(*s->scopes));
	if (!s->scopes)
		return -ENOMEM;
	for (off = start; off < end; off += p->buf[off + 1]) {
		const uint8_t *e = p->buf + off;
		struct dmar_scope *sc = &s->scopes[s->nscopes++];
		sc->type = e[0];
		sc->enumeration_id = e[4];
		sc->start_bus = e[5];
		sc->npath = (uint8_t)((e[1] - SCOPE_HEADER_LEN) / 2);
		for (unsigned i = 0; i < sc->npath; i++) {
			sc->path[i].dev = e[SCOPE_HEADER_LEN + 2 * i];
			sc->path[i].fn = e[SCOPE_HEADER_LEN + 2 * i + 1];
			if (sc->path[i].dev > 31 || sc->path[i].fn > 7)
				return malformed(p, "%s at 0x%x: device scope at 0x%zx has path %02x.%x",
						 dmar_struct_type_name(s->type), s->offset, off, sc->path[i].dev,
						 sc->path[i].fn);
		}
		if (sc->npath == 0)
			return malformed(p, "%s at 0x%x: device scope at 0x%zx has no path", dmar_struct_type_name(s->type),
					 s->offset, off);
	}
	return 0;
}

static int parse_struct(struct parser *p, size_t off, uint16_t type, uint16_t len)
{
	const uint8_t *b = p->buf + off;
	struct dmar_struct *s = &p->t->structs[p->t->nstructs++];
	int r;

	*s = (struct dmar_struct){ .type = type, .length = len, .offset = (uint32_t)off };
	if (type >= ARRAY_SIZE(min_len))
		return warn(p, "structure type %u at 0x%zx is not known, skipped", type, off);
	if (len < min_len[type])
		return malformed(p, "%s at 0x%zx has length %u, less than its fixed %u bytes", dmar_struct_type_name(type),
				 off, len, min_len[type]);
	switch (type) {
	case DMAR_DRHD:
		s->flags = b[4];
		s->size = b[5] & 0xf;
		s->segment = get16(b + 6);
		s->base = get64(b + 8);
		break;
	case DMAR_RMRR:
		s->segment = get16(b + 6);
		s->base = get64(b + 8);
		s->limit = get64(b + 16);
		if (s->limit < s->base)
			return malformed(p, "rmrr at 0x%zx: limit 0x%" PRIx64 " below base 0x%" PRIx64, off, s->limit,
					 s->base);
		if ((s->base & 0xfff) || ((s->limit + 1) & 0xfff)) {
			r = warn(p, "rmrr at 0x%zx: range 0x%" PRIx64 "-0x%" PRIx64 " is not page aligned", off, s->base,
				 s->limit);
			if (r < 0)
				return r;
		}
		break;
	case DMAR_ATSR:
	case DMAR_SATC:
		s->flags = b[4];
		s->segment = get16(b + 6);
		break;
	case DMAR_RHSA:
		s->base = get64(b + 8);
		s->proximity = get32(b + 16);
		break;
	case DMAR_ANDD: {
		const char *name = (const char *)b + 8;
		size_t max = len - 8u, nlen = strnlen(name, max);
		if (nlen == max)
			return malformed(p, "andd at 0x%zx: object name is not terminated within its %u bytes", off, len);
		s->acpi_device = b[7];
		s->acpi_name = strndup(name, nlen);
		if (!s->acpi_name)
			return -ENOMEM;
		break;
	}
	}
	if (scope_start[type])
		return parse_scopes(p, s, off + scope_start[type], off + len);
	return 0;
}

int dmar_parse(const void *buf, size_t len, struct dmar_table **ret, char *err, size_t errlen)
{
	struct dmar_table *t _cleanup_(dmar_table_freep) = calloc(1, sizeof(*t));
	struct parser p = { .buf = buf, .len = len, .err = err, .errlen = errlen, .t = t };
	size_t off, n = 0;
	uint8_t sum = 0;
	int r;

	if (!t)
		return -ENOMEM;
	if (len < DMAR_HEADER_LEN)
		return malformed(&p, "%zu bytes, shorter than the %u-byte header", len, DMAR_HEADER_LEN);
	if (memcmp(p.buf, "DMAR", 4) != 0)
		return malformed(&p, "signature is not DMAR");
	t->length = get32(p.buf + 4);
	if (t->length < DMAR_HEADER_LEN)
		return malformed(&p, "length field %u is shorter than the header", t->length);
	if (t->length > len)
		return malformed(&p, "length field %u exceeds the %zu bytes present (truncated)", t->length, len);
	p.len = t->length;
	t->revision = p.buf[8];
	memcpy(t->oem_id, p.buf + 10, 6);
	memcpy(t->oem_table_id, p.buf + 16, 8);
	/* ACPI pads these with spaces; a NUL inside would end them early, which is harmless. */
	strstrip(t->oem_id);
	strstrip(t->oem_table_id);
	t->host_address_width = p.buf[36] + 1u;
	t->flags = p.buf[37];
	for (size_t i = 0; i < p.len; i++)
		sum = (uint8_t)(sum + p.buf[i]);
	t->checksum_ok = sum == 0;
	if (!t->checksum_ok && (r = warn(&p, "checksum does not add up (sum 0x%02x)", sum)) < 0)
		return r;

	/* First pass: walk the structure headers so a bad length is caught before any allocation. */
	for (off = DMAR_HEADER_LEN; off < p.len; n++) {
		uint16_t slen;
		if (p.len - off < 4)
			return malformed(&p, "%zu trailing bytes at 0x%zx, too short for a structure header", p.len - off,
					 off);
		slen = get16(p.buf + off + 2);
		if (slen < 4)
			return malformed(&p, "structure at 0x%zx (type %u) has length %u", off, get16(p.buf + off), slen);
		if (slen > p.len - off)
			return malformed(&p, "structure at 0x%zx (type %u, length %u) runs past the table end 0x%zx", off,
					 get16(p.buf + off), slen, p.len);
		off += slen;
	}
	if (n && !(t->structs = calloc(n, sizeof(*t->structs))))
		return -ENOMEM;
	for (off = DMAR_HEADER_LEN; off < p.len; off += get16(p.buf + off + 2)) {
		r = parse_struct(&p, off, get16(p.buf + off), get16(p.buf + off + 2));
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(t);
	return 0;
}

int dmar_read(struct dmar_table **ret, char *err, size_t errlen)
{
	_cleanup_free_ uint8_t *buf = malloc(DMAR_MAX_LEN + 1);
	size_t got = 0;
	int r;

	if (!buf)
		return -ENOMEM;
	r = root_read_bytes(DMAR_PATH, buf, DMAR_MAX_LEN + 1, &got);
	if (r < 0) {
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", DMAR_PATH, strerror(-r));
		return r;
	}
	if (got > DMAR_MAX_LEN) {
		if (err && errlen)
			snprintf(err, errlen, "%s: larger than %u bytes", DMAR_PATH, DMAR_MAX_LEN);
		return -EFBIG;
	}
	return dmar_parse(buf, got, ret, err, errlen);
}

/* The bus behind a bridge: byte 0x19 of its config header (secondary bus number). */
static int secondary_bus(uint16_t seg, uint8_t bus, uint8_t dev, uint8_t fn, uint8_t *ret)
{
	char path[96];
	uint8_t cfg[0x1a];
	size_t got = 0;
	int r;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%04x:%02x:%02x.%x/config", seg, bus, dev, fn);
	r = root_read_bytes(path, cfg, sizeof(cfg), &got);
	if (r < 0)
		return r;
	if (got < sizeof(cfg) || (cfg[0x0e] & 0x7f) != 1) /* not a PCI-to-PCI bridge header */
		return -ENODEV;
	*ret = cfg[0x19];
	return 0;
}

int dmar_scope_format(const struct dmar_scope *s, uint16_t segment, char *buf, size_t len)
{
	static const char *const kinds[] = { [DMAR_SCOPE_ENDPOINT] = "endpoint", [DMAR_SCOPE_BRIDGE] = "bridge",
					     [DMAR_SCOPE_IOAPIC] = "ioapic", [DMAR_SCOPE_HPET] = "hpet",
					     [DMAR_SCOPE_NAMESPACE] = "namespace" };
	char kind[16], where[32 + 6 * DMAR_SCOPE_MAX_PATH];
	uint8_t bus = s->start_bus;
	size_t i = 0, off;
	int n;

	if (s->type < ARRAY_SIZE(kinds) && kinds[s->type])
		snprintf(kind, sizeof(kind), "%s", kinds[s->type]);
	else
		snprintf(kind, sizeof(kind), "type%u", s->type);
	if (s->npath == 0)
		return -EINVAL;
	/* Follow the hops while the bridges can be found; whatever is left is written as a path. */
	for (; i + 1 < s->npath; i++)
		if (secondary_bus(segment, bus, s->path[i].dev, s->path[i].fn, &bus) < 0)
			break;
	off = (size_t)snprintf(where, sizeof(where), "%04x:%02x:%02x.%x", segment, bus, s->path[i].dev,
			       s->path[i].fn);
	for (i++; i < s->npath && off < sizeof(where); i++)
		off += (size_t)snprintf(where + off, sizeof(where) - off, "/%02x.%x", s->path[i].dev, s->path[i].fn);
	if (s->type == DMAR_SCOPE_IOAPIC || s->type == DMAR_SCOPE_HPET || s->type == DMAR_SCOPE_NAMESPACE)
		n = snprintf(buf, len, "%s %s id %u", kind, where, s->enumeration_id);
	else
		n = snprintf(buf, len, "%s %s", kind, where);
	return n < 0 || (size_t)n >= len ? -ENOBUFS : 0;
}
