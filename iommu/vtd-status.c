/* vtd-status.c: what the running kernel shows of its IOMMU: registered units and their registers,
 * IOMMU groups and their reserved regions, interrupt remapping in use, and the command line. */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>

#include "iommu.h"
#include "util/log.h"
#include "util/root.h"

#define CLASS_IOMMU "/sys/class/iommu"
#define GROUPS "/sys/kernel/iommu_groups"

_printf_(2, 3) static int add_warning(struct vtd_status *s, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = strv_vpushf(&s->warnings, NULL, fmt, ap);
	va_end(ap);
	if (r >= 0)
		log_debug("%s", s->warnings[strv_length(s->warnings) - 1]);
	return r;
}

void vtd_cmdline_clear(struct vtd_cmdline *c)
{
	free(c->intel_iommu);
	free(c->amd_iommu);
	free(c->iommu);
	free(c->iommu_passthrough);
	free(c->intremap);
	*c = (struct vtd_cmdline){ 0 };
}

/* Words are split on white space; quotes matter to the kernel only for values with spaces,
 * which none of these parameters take. Everything after "--" belongs to init. */
int vtd_cmdline_parse(const char *cmdline, struct vtd_cmdline *ret)
{
	static const struct {
		const char *name;
		size_t off;
	} params[] = {
		{ "intel_iommu=", offsetof(struct vtd_cmdline, intel_iommu) },
		{ "amd_iommu=", offsetof(struct vtd_cmdline, amd_iommu) },
		{ "iommu=", offsetof(struct vtd_cmdline, iommu) },
		{ "iommu.passthrough=", offsetof(struct vtd_cmdline, iommu_passthrough) },
		{ "intremap=", offsetof(struct vtd_cmdline, intremap) },
	};
	struct vtd_cmdline c = { 0 };
	const char *p = cmdline;

	while (p && *p) {
		size_t len;
		while (isspace((unsigned char)*p))
			p++;
		len = strcspn(p, " \t\n");
		if (len == 2 && strncmp(p, "--", 2) == 0)
			break;
		for (size_t i = 0; i < ARRAY_SIZE(params); i++) {
			size_t nl = strlen(params[i].name);
			char **slot = (char **)((char *)&c + params[i].off);
			if (len < nl || strncmp(p, params[i].name, nl) != 0)
				continue;
			free(*slot);
			*slot = strndup(p + nl, len - nl);
			if (!*slot) {
				vtd_cmdline_clear(&c);
				return -ENOMEM;
			}
		}
		p += len;
	}
	*ret = c;
	return 0;
}

static void resv_regions_free(struct vtd_resv_region *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].type);
		free(r[i].groups);
	}
	free(r);
}

int vtd_parse_reserved_regions(const char *text, struct vtd_resv_region **ret, size_t *ret_n)
{
	struct vtd_resv_region *v = NULL;
	size_t n = 0;
	const char *line = text;

	while (line && *line) {
		size_t len = strcspn(line, "\n");
		char buf[160], type[32];
		unsigned long long start, end;
		int used = 0;

		if (len >= sizeof(buf))
			goto bad;
		memcpy(buf, line, len);
		buf[len] = '\0';
		line += len + (line[len] == '\n');
		if (!*strstrip(buf))
			continue;
		if (sscanf(buf, "0x%llx 0x%llx %31s %n", &start, &end, type, &used) != 3 || buf[used] || end < start)
			goto bad;
		struct vtd_resv_region *nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			resv_regions_free(v, n);
			return -ENOMEM;
		}
		v = nv;
		v[n] = (struct vtd_resv_region){ .start = start, .end = end, .type = strdup(type) };
		if (!v[n++].type) {
			resv_regions_free(v, n);
			return -ENOMEM;
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
bad:
	resv_regions_free(v, n);
	return -EBADMSG;
}

static int cmp_group(const void *a, const void *b)
{
	const struct vtd_group *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* One list of regions for all groups: the same range and type in many groups (the MSI window is
 * in every one) is shown once with the groups that have it. */
static int merge_region(struct vtd_status *s, const struct vtd_resv_region *r, unsigned group)
{
	struct vtd_resv_region *m = NULL;
	unsigned *ng;

	for (size_t i = 0; i < s->nregions && !m; i++)
		if (s->regions[i].start == r->start && s->regions[i].end == r->end && streq(s->regions[i].type, r->type))
			m = &s->regions[i];
	if (!m) {
		struct vtd_resv_region *nv = realloc(s->regions, (s->nregions + 1) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		s->regions = nv;
		m = &s->regions[s->nregions];
		*m = (struct vtd_resv_region){ .start = r->start, .end = r->end, .type = strdup(r->type) };
		if (!m->type)
			return -ENOMEM;
		s->nregions++;
	}
	ng = realloc(m->groups, (m->ngroups + 1) * sizeof(*ng));
	if (!ng)
		return -ENOMEM;
	m->groups = ng;
	m->groups[m->ngroups++] = group;
	return 0;
}

static int cmp_region(const void *a, const void *b)
{
	const struct vtd_resv_region *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return strcmp(x->type, y->type);
}

static int read_groups(struct vtd_status *s)
{
	_cleanup_strv_free_ char **names = NULL;
	size_t n;
	int r = root_list(GROUPS, &names);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return add_warning(s, "%s: %s, ignoring", GROUPS, strerror(-r));
	n = strv_length(names);
	s->groups = calloc(n ? n : 1, sizeof(*s->groups));
	if (!s->groups)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct vtd_group *g = &s->groups[s->ngroups];
		uint64_t id;
		char path[128];
		_cleanup_strv_free_ char **devs = NULL;

		if (parse_u64(names[i], 10, &id) < 0 || id > UINT32_MAX)
			continue;
		*g = (struct vtd_group){ .id = (unsigned)id, .ndevices = -1 };
		snprintf(path, sizeof(path), GROUPS "/%s/type", names[i]);
		r = root_read(path, &g->type);
		if (r == -ENOMEM)
			return r;
		if (g->type)
			strstrip(g->type);
		snprintf(path, sizeof(path), GROUPS "/%s/devices", names[i]);
		if (root_list(path, &devs) >= 0)
			g->ndevices = (int)strv_length(devs);
		s->ngroups++;
	}
	qsort(s->groups, s->ngroups, sizeof(*s->groups), cmp_group);

	for (size_t i = 0; i < s->ngroups; i++) {
		_cleanup_free_ char *text = NULL;
		struct vtd_resv_region *rr = NULL;
		size_t nr = 0;
		char path[128];

		snprintf(path, sizeof(path), GROUPS "/%u/reserved_regions", s->groups[i].id);
		r = root_read(path, &text);
		if (r == -ENOENT)
			continue;
		if (r < 0) {
			if ((r = add_warning(s, "%s: %s, ignoring", path, strerror(-r))) < 0)
				return r;
			continue;
		}
		r = vtd_parse_reserved_regions(text, &rr, &nr);
		if (r == -EBADMSG) {
			if ((r = add_warning(s, "%s: malformed line, ignoring the file", path)) < 0)
				return r;
			continue;
		}
		if (r < 0)
			return r;
		for (size_t j = 0; j < nr && r >= 0; j++)
			r = merge_region(s, &rr[j], s->groups[i].id);
		resv_regions_free(rr, nr);
		if (r < 0)
			return r;
	}
	if (s->nregions)
		qsort(s->regions, s->nregions, sizeof(*s->regions), cmp_region);
	return 0;
}

static int read_unit(struct vtd_status *s, const char *name)
{
	struct vtd_unit *u = &s->units[s->nunits];
	char path[128];
	_cleanup_free_ char *ver = NULL;
	_cleanup_strv_free_ char **devs = NULL;
	unsigned maj, min;
	int r;

	*u = (struct vtd_unit){ .name = strdup(name), .ndevices = -1 };
	if (!u->name)
		return -ENOMEM;
	s->nunits++;
	snprintf(path, sizeof(path), CLASS_IOMMU "/%s/intel-iommu/cap", name);
	r = root_read_u64(path, 16, &u->cap);
	if (r >= 0) {
		snprintf(path, sizeof(path), CLASS_IOMMU "/%s/intel-iommu/ecap", name);
		r = root_read_u64(path, 16, &u->ecap);
	}
	if (r >= 0) {
		snprintf(path, sizeof(path), CLASS_IOMMU "/%s/intel-iommu/address", name);
		r = root_read_u64(path, 16, &u->register_base);
	}
	if (r >= 0) {
		snprintf(path, sizeof(path), CLASS_IOMMU "/%s/intel-iommu/version", name);
		r = root_read(path, &ver);
		if (r >= 0 && sscanf(ver, "%u:%u", &maj, &min) == 2) {
			u->version_major = maj;
			u->version_minor = min;
		} else if (r >= 0) {
			r = -EBADMSG;
		}
	}
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		/* Registers that cannot be read are not decoded as zeros: the unit is left out. */
		free(u->name);
		s->nunits--;
		return add_warning(s, "%s: %s, ignoring the unit", path, strerror(-r));
	}
	snprintf(path, sizeof(path), CLASS_IOMMU "/%s/devices", name);
	if (root_list(path, &devs) >= 0)
		u->ndevices = (int)strv_length(devs);
	return 0;
}

static int read_units(struct vtd_status *s)
{
	_cleanup_strv_free_ char **names = NULL;
	size_t n, nother = 0;
	int r = root_list(CLASS_IOMMU, &names);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return add_warning(s, "%s: %s, ignoring", CLASS_IOMMU, strerror(-r));
	n = strv_length(names);
	s->units = calloc(n ? n : 1, sizeof(*s->units));
	if (!s->units)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (startswith(names[i], "dmar")) {
			s->kind = VTD_IOMMU_INTEL;
			if ((r = read_unit(s, names[i])) < 0)
				return r;
		} else if (startswith(names[i], "ivhd")) {
			if (s->kind == VTD_IOMMU_NONE)
				s->kind = VTD_IOMMU_AMD;
		} else {
			char *o = strdup(names[i]);
			if (!o || strv_push(&s->other_iommus, &nother, o) < 0)
				return -ENOMEM;
		}
	}
	if (s->kind == VTD_IOMMU_NONE && nother)
		s->kind = VTD_IOMMU_OTHER;
	return 0;
}

static bool is_ir_chip(const char *name)
{
	return startswith(name, "IR-");
}

/* Per-IRQ chip names in sysfs first (exact), /proc/interrupts otherwise (the chip is a column). */
static int read_irq_remap(struct vtd_status *s)
{
	_cleanup_strv_free_ char **irqs = NULL;
	_cleanup_free_ char *text = NULL;
	int r = root_list("/sys/kernel/irq", &irqs);

	s->irq_remap = (struct vtd_irq_remap){ .enabled = -1 };
	if (r >= 0 && irqs[0]) {
		for (size_t i = 0; irqs[i]; i++) {
			_cleanup_free_ char *chip = NULL;
			char path[96];
			snprintf(path, sizeof(path), "/sys/kernel/irq/%s/chip_name", irqs[i]);
			if (root_read(path, &chip) >= 0 && is_ir_chip(strstrip(chip)))
				s->irq_remap.ir_irqs++;
		}
		s->irq_remap.enabled = s->irq_remap.ir_irqs > 0;
		s->irq_remap.source = "/sys/kernel/irq/*/chip_name";
		return 0;
	}
	r = root_read("/proc/interrupts", &text);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return 0;
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *tok, *save2 = NULL;
		for (tok = strtok_r(line, " \t", &save2); tok; tok = strtok_r(NULL, " \t", &save2))
			if (is_ir_chip(tok)) {
				s->irq_remap.ir_irqs++;
				break;
			}
	}
	s->irq_remap.enabled = s->irq_remap.ir_irqs > 0;
	s->irq_remap.source = "/proc/interrupts";
	return 0;
}

void vtd_status_free(struct vtd_status *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nunits; i++)
		free(s->units[i].name);
	free(s->units);
	strv_free(s->other_iommus);
	dmar_table_free(s->dmar);
	for (size_t i = 0; i < s->ngroups; i++)
		free(s->groups[i].type);
	free(s->groups);
	resv_regions_free(s->regions, s->nregions);
	vtd_cmdline_clear(&s->cmdline);
	strv_free(s->warnings);
	free(s);
}

bool vtd_status_dma_remapping(const struct vtd_status *s)
{
	if (s->kind == VTD_IOMMU_NONE || s->ngroups == 0)
		return false;
	return s->kind != VTD_IOMMU_INTEL || s->nunits > 0;
}

int vtd_status_read(struct vtd_status **ret)
{
	struct vtd_status *s _cleanup_(vtd_status_freep) = calloc(1, sizeof(*s));
	_cleanup_free_ char *cmdline = NULL;
	int r;

	if (!s)
		return -ENOMEM;
	if ((r = read_units(s)) < 0 || (r = read_groups(s)) < 0 || (r = read_irq_remap(s)) < 0)
		return r;
	s->dmar_errno = dmar_read(&s->dmar, s->dmar_error, sizeof(s->dmar_error));
	if (s->dmar_errno == -ENOMEM)
		return -ENOMEM;
	if (s->dmar_errno > 0)
		s->dmar_errno = 0;
	s->ivrs_present = root_exists("/sys/firmware/acpi/tables/IVRS");
	r = root_read("/proc/cmdline", &cmdline);
	if (r == -ENOMEM)
		return r;
	if (r >= 0 && (r = vtd_cmdline_parse(cmdline, &s->cmdline)) < 0)
		return r;
	*ret = TAKE_PTR(s);
	return 0;
}
