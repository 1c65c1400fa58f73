/* verb-iommu.c: `ptctl iommu`: is DMA remapping on, what the VT-d units can do, what the firmware
 * reserved, and, when it is off, how to turn it on. */
#include <inttypes.h>

#include "iommu/iommu.h"
#include "util/log.h"
#include "util/output.h"
#include "verb.h"

/* Every call below only fails on allocation failure; one check at the end covers them all. */
struct builder {
	int r;
};

static void keep(struct builder *b, int r)
{
	if (r < 0 && b->r >= 0)
		b->r = r;
}

static json_object *new_obj(struct builder *b)
{
	json_object *o = json_object_new_object();
	if (!o)
		keep(b, -ENOMEM);
	return o;
}

static json_object *new_arr(struct builder *b)
{
	json_object *a = json_object_new_array();
	if (!a)
		keep(b, -ENOMEM);
	return a;
}

static void arr_add(struct builder *b, json_object *a, json_object *v)
{
	if (!a || !v || json_object_array_add(a, v) < 0) {
		json_object_put(v);
		keep(b, -ENOMEM);
	}
}

static void add_bool_or_null(struct builder *b, json_object *o, const char *key, int v)
{
	keep(b, v < 0 ? json_add_null(o, key) : json_add_bool(o, key, v));
}

static json_object *strv_json(struct builder *b, char **v)
{
	json_object *a = new_arr(b);
	for (size_t i = 0; v && v[i]; i++)
		arr_add(b, a, json_object_new_string(v[i]));
	return a;
}

static json_object *size_str(uint64_t bytes)
{
	char buf[32];
	format_size(buf, sizeof(buf), bytes);
	return json_object_new_string(buf);
}

static json_object *scopes_json(struct builder *b, const struct dmar_struct *d)
{
	json_object *a = new_arr(b);
	char buf[64 + 6 * DMAR_SCOPE_MAX_PATH];

	for (size_t i = 0; i < d->nscopes; i++) {
		if (dmar_scope_format(&d->scopes[i], d->segment, buf, sizeof(buf)) < 0)
			snprintf(buf, sizeof(buf), "?");
		arr_add(b, a, json_object_new_string(buf));
	}
	return a;
}

static const struct dmar_struct *find_drhd(const struct vtd_status *s, uint64_t base)
{
	for (size_t i = 0; s->dmar && i < s->dmar->nstructs; i++)
		if (s->dmar->structs[i].type == DMAR_DRHD && s->dmar->structs[i].base == base)
			return &s->dmar->structs[i];
	return NULL;
}

static json_object *fields_json(struct builder *b, uint64_t reg, const struct vtd_field *f, size_t n,
				json_object **flags)
{
	json_object *o = new_obj(b);
	*flags = new_arr(b);
	for (size_t i = 0; i < n; i++) {
		char key[16];
		size_t k;
		for (k = 0; f[i].abbrev[k] && k + 1 < sizeof(key); k++)
			key[k] = (char)(f[i].abbrev[k] | 0x20); /* the spec's names are upper-case ASCII */
		key[k] = '\0';
		keep(b, json_add_int(o, key, (int64_t)vtd_field_get(reg, &f[i])));
		if (f[i].width == 1 && vtd_field_get(reg, &f[i]))
			arr_add(b, *flags, json_object_new_string(f[i].abbrev));
	}
	return o;
}

static json_object *unit_json(struct builder *b, const struct vtd_status *s, const struct vtd_unit *u)
{
	json_object *o = new_obj(b), *a, *cap_flags, *ecap_flags, *cap_fields, *ecap_fields;
	const struct dmar_struct *drhd = find_drhd(s, u->register_base);
	unsigned widths[5];
	uint64_t pages[4];
	size_t n;
	char ver[32];

	keep(b, json_add_str(o, "name", u->name));
	keep(b, json_add_hex(o, "register_base", u->register_base));
	snprintf(ver, sizeof(ver), "%u.%u", u->version_major, u->version_minor);
	keep(b, json_add_str(o, "version", ver));
	keep(b, json_add_hex(o, "cap", u->cap));
	keep(b, json_add_hex(o, "ecap", u->ecap));
	keep(b, u->ndevices < 0 ? json_add_null(o, "device_count") : json_add_int(o, "device_count", u->ndevices));
	add_bool_or_null(b, o, "include_pci_all", drhd ? !!(drhd->flags & DMAR_DRHD_INCLUDE_PCI_ALL) : -1);
	keep(b, json_add(o, "scope", drhd ? scopes_json(b, drhd) : NULL));

	a = new_arr(b);
	n = vtd_cap_sagaw_widths(u->cap, widths);
	for (size_t i = 0; i < n; i++)
		arr_add(b, a, json_object_new_int(widths[i]));
	keep(b, json_add(o, "address_widths", a));
	keep(b, json_add_int(o, "max_guest_address_width", vtd_cap_mgaw(u->cap)));
	a = new_arr(b);
	n = vtd_cap_superpages(u->cap, pages);
	for (size_t i = 0; i < n; i++)
		arr_add(b, a, size_str(pages[i]));
	keep(b, json_add(o, "superpages", a));
	keep(b, json_add_int(o, "domains", (int64_t)vtd_cap_domains(u->cap)));
	keep(b, json_add_int(o, "fault_recording_registers", (int64_t)vtd_cap(u->cap, VTD_CAP_NFR) + 1));
	keep(b, json_add_bool(o, "caching_mode", vtd_cap(u->cap, VTD_CAP_CM)));
	keep(b, json_add_bool(o, "interrupt_remapping", vtd_ecap(u->ecap, VTD_ECAP_IR)));
	keep(b, json_add_bool(o, "x2apic", vtd_ecap(u->ecap, VTD_ECAP_EIM)));
	keep(b, json_add_bool(o, "posted_interrupts", vtd_cap(u->cap, VTD_CAP_PI)));
	keep(b, json_add_bool(o, "pass_through", vtd_ecap(u->ecap, VTD_ECAP_PT)));
	keep(b, json_add_bool(o, "snoop_control", vtd_ecap(u->ecap, VTD_ECAP_SC)));
	keep(b, json_add_bool(o, "coherent", vtd_ecap(u->ecap, VTD_ECAP_C)));
	keep(b, json_add_bool(o, "queued_invalidation", vtd_ecap(u->ecap, VTD_ECAP_QI)));
	keep(b, json_add_bool(o, "device_tlb", vtd_ecap(u->ecap, VTD_ECAP_DT)));
	keep(b, json_add_bool(o, "page_selective_invalidation", vtd_cap(u->cap, VTD_CAP_PSI)));
	keep(b, json_add_bool(o, "nested", vtd_ecap(u->ecap, VTD_ECAP_NEST)));
	keep(b, json_add_bool(o, "scalable_mode", vtd_ecap(u->ecap, VTD_ECAP_SMTS)));
	keep(b, json_add_bool(o, "pasid", vtd_ecap(u->ecap, VTD_ECAP_PASID)));
	cap_fields = fields_json(b, u->cap, vtd_cap_fields(), VTD_CAP__MAX, &cap_flags);
	ecap_fields = fields_json(b, u->ecap, vtd_ecap_fields(), VTD_ECAP__MAX, &ecap_flags);
	keep(b, json_add(o, "cap_flags", cap_flags));
	keep(b, json_add(o, "ecap_flags", ecap_flags));
	keep(b, json_add(o, "cap_fields", cap_fields));
	keep(b, json_add(o, "ecap_fields", ecap_fields));
	return o;
}

static json_object *struct_json(struct builder *b, const struct dmar_struct *d)
{
	json_object *o = new_obj(b);

	keep(b, json_add_str(o, "type", dmar_struct_type_name(d->type)));
	keep(b, json_add_hex(o, "offset", d->offset));
	keep(b, json_add_int(o, "length", d->length));
	switch (d->type) {
	case DMAR_DRHD:
		keep(b, json_add_int(o, "segment", d->segment));
		keep(b, json_add_hex(o, "register_base", d->base));
		keep(b, json_add_bool(o, "include_pci_all", d->flags & DMAR_DRHD_INCLUDE_PCI_ALL));
		break;
	case DMAR_RMRR:
		keep(b, json_add_int(o, "segment", d->segment));
		keep(b, json_add_hex(o, "start", d->base));
		keep(b, json_add_hex(o, "end", d->limit));
		break;
	case DMAR_ATSR:
		keep(b, json_add_int(o, "segment", d->segment));
		keep(b, json_add_bool(o, "all_ports", d->flags & DMAR_ATSR_ALL_PORTS));
		break;
	case DMAR_SATC:
		keep(b, json_add_int(o, "segment", d->segment));
		keep(b, json_add_bool(o, "atc_required", d->flags & DMAR_SATC_ATC_REQUIRED));
		break;
	case DMAR_RHSA:
		keep(b, json_add_hex(o, "register_base", d->base));
		keep(b, json_add_int(o, "proximity_domain", d->proximity));
		break;
	case DMAR_ANDD:
		keep(b, json_add_int(o, "acpi_device_number", d->acpi_device));
		keep(b, json_add_str(o, "acpi_object_name", d->acpi_name));
		break;
	default:
		keep(b, json_add_int(o, "type_number", d->type));
		break;
	}
	if (d->type == DMAR_DRHD || d->type == DMAR_RMRR || d->type == DMAR_ATSR || d->type == DMAR_SATC)
		keep(b, json_add(o, "devices", scopes_json(b, d)));
	return o;
}

static json_object *dmar_json(struct builder *b, const struct vtd_status *s)
{
	json_object *o = new_obj(b), *a;
	const struct dmar_table *t = s->dmar;

	keep(b, json_add_bool(o, "present", s->dmar_errno != -ENOENT));
	keep(b, json_add_bool(o, "valid", t != NULL));
	keep(b, json_add_str(o, "error", t || s->dmar_errno == -ENOENT ? NULL : s->dmar_error));
	if (!t)
		return o;
	keep(b, json_add_int(o, "revision", t->revision));
	keep(b, json_add_str(o, "oem_id", t->oem_id));
	keep(b, json_add_str(o, "oem_table_id", t->oem_table_id));
	keep(b, json_add_int(o, "host_address_width", t->host_address_width));
	keep(b, json_add_hex(o, "flags", t->flags));
	keep(b, json_add_bool(o, "intr_remap", t->flags & DMAR_FLAG_INTR_REMAP));
	keep(b, json_add_bool(o, "x2apic_opt_out", t->flags & DMAR_FLAG_X2APIC_OPT_OUT));
	keep(b, json_add_bool(o, "dma_ctrl_platform_opt_in", t->flags & DMAR_FLAG_DMA_CTRL_OPT_IN));
	keep(b, json_add_bool(o, "checksum_ok", t->checksum_ok));
	keep(b, json_add(o, "warnings", strv_json(b, t->warnings)));
	a = new_arr(b);
	for (size_t i = 0; i < t->nstructs; i++)
		arr_add(b, a, struct_json(b, &t->structs[i]));
	keep(b, json_add(o, "structures", a));
	return o;
}

static json_object *rmrrs_json(struct builder *b, const struct vtd_status *s)
{
	json_object *a = new_arr(b);

	for (size_t i = 0; s->dmar && i < s->dmar->nstructs; i++) {
		const struct dmar_struct *d = &s->dmar->structs[i];
		json_object *o;
		if (d->type != DMAR_RMRR)
			continue;
		o = new_obj(b);
		keep(b, json_add_int(o, "segment", d->segment));
		keep(b, json_add_hex(o, "start", d->base));
		keep(b, json_add_hex(o, "end", d->limit));
		keep(b, json_add(o, "size", size_str(d->limit - d->base + 1)));
		keep(b, json_add(o, "devices", scopes_json(b, d)));
		arr_add(b, a, o);
	}
	return a;
}

static json_object *regions_json(struct builder *b, const struct vtd_status *s)
{
	json_object *a = new_arr(b);

	for (size_t i = 0; i < s->nregions; i++) {
		const struct vtd_resv_region *r = &s->regions[i];
		json_object *o = new_obj(b), *g = new_arr(b);
		keep(b, json_add_hex(o, "start", r->start));
		keep(b, json_add_hex(o, "end", r->end));
		keep(b, json_add_str(o, "type", r->type));
		for (size_t j = 0; j < r->ngroups; j++)
			arr_add(b, g, json_object_new_int64(r->groups[j]));
		keep(b, json_add(o, "groups", g));
		arr_add(b, a, o);
	}
	return a;
}

/* 1 when every unit has the bit, 0 when one lacks it, -1 without units. */
static int all_units(const struct vtd_status *s, bool ecap, unsigned field)
{
	if (!s->nunits)
		return -1;
	for (size_t i = 0; i < s->nunits; i++)
		if (!(ecap ? vtd_ecap(s->units[i].ecap, field) : vtd_cap(s->units[i].cap, field)))
			return 0;
	return 1;
}

static json_object *irq_remap_json(struct builder *b, const struct vtd_status *s)
{
	json_object *o = new_obj(b);
	const struct vtd_irq_remap *ir = &s->irq_remap;

	add_bool_or_null(b, o, "in_use", ir->enabled);
	keep(b, json_add_int(o, "remapped_irqs", ir->ir_irqs));
	keep(b, json_add_str(o, "source", ir->source));
	add_bool_or_null(b, o, "firmware_flag", s->dmar ? !!(s->dmar->flags & DMAR_FLAG_INTR_REMAP) : -1);
	add_bool_or_null(b, o, "units_support", all_units(s, true, VTD_ECAP_IR));
	add_bool_or_null(b, o, "x2apic_support", all_units(s, true, VTD_ECAP_EIM));
	add_bool_or_null(b, o, "x2apic_opt_out", s->dmar ? !!(s->dmar->flags & DMAR_FLAG_X2APIC_OPT_OUT) : -1);
	add_bool_or_null(b, o, "posted_interrupts", all_units(s, false, VTD_CAP_PI));
	keep(b, json_add_str(o, "command_line", s->cmdline.intremap));
	return o;
}

static json_object *cmdline_json(struct builder *b, const struct vtd_cmdline *c)
{
	json_object *o = new_obj(b);
	keep(b, json_add_str(o, "intel_iommu", c->intel_iommu));
	keep(b, json_add_str(o, "amd_iommu", c->amd_iommu));
	keep(b, json_add_str(o, "iommu", c->iommu));
	keep(b, json_add_str(o, "iommu_passthrough", c->iommu_passthrough));
	keep(b, json_add_str(o, "intremap", c->intremap));
	return o;
}

static json_object *domain_types_json(struct builder *b, const struct vtd_status *s)
{
	json_object *a = new_arr(b);
	for (size_t i = 0; i < s->ngroups; i++) {
		const char *t = s->groups[i].type;
		bool seen = false;
		if (!t)
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = streq(s->groups[j].type, t);
		if (!seen)
			arr_add(b, a, json_object_new_string(t));
	}
	return a;
}

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; p && *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
		if (strncmp(p, word, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	}
	return false;
}

static size_t count_drhd(const struct vtd_status *s)
{
	size_t n = 0;
	for (size_t i = 0; s->dmar && i < s->dmar->nstructs; i++)
		n += s->dmar->structs[i].type == DMAR_DRHD;
	return n;
}

/* Why DMA remapping is off and what to do, as one sentence for stderr and the output. */
static void advice(const struct vtd_status *s, char *buf, size_t len)
{
	const char *ii = s->cmdline.intel_iommu;
	char cmdnote[96] = "";

	if (!ii)
		snprintf(cmdnote, sizeof(cmdnote), " (/proc/cmdline has no intel_iommu=)");
	if (s->kind == VTD_IOMMU_INTEL)
		snprintf(buf, len,
			 "VT-d units are registered but %s: check `dmesg | grep -i -e DMAR -e IOMMU` for why "
			 "the kernel did not set up DMA remapping",
			 s->nunits ? "no IOMMU groups are populated" : "their registers cannot be read");
	else if (s->ivrs_present)
		snprintf(buf, len,
			 "the firmware describes an AMD IOMMU (ACPI IVRS table) that the kernel did not enable: "
			 "enable the IOMMU in the firmware setup and check amd_iommu=/iommu= on the kernel command line");
	else if (ii && has_word(ii, "off"))
		snprintf(buf, len, "the kernel command line has intel_iommu=%s: replace it with intel_iommu=on and reboot",
			 ii);
	else if (s->dmar)
		snprintf(buf, len,
			 "the firmware describes %zu VT-d unit(s) (ACPI DMAR table) but the kernel did not enable "
			 "them: add intel_iommu=on to the kernel command line and reboot%s",
			 count_drhd(s), cmdnote);
	else if (s->dmar_errno == -ENOENT)
		snprintf(buf, len,
			 "the firmware reports no DMAR table: enable VT-d (Intel Virtualization Technology for "
			 "Directed I/O) in the firmware setup, then boot with intel_iommu=on%s",
			 cmdnote);
	else
		snprintf(buf, len,
			 "no IOMMU is registered with the kernel: enable VT-d in the firmware setup and boot "
			 "with intel_iommu=on%s",
			 cmdnote);
}

static bool has_identity_group(const struct vtd_status *s)
{
	for (size_t i = 0; i < s->ngroups; i++)
		if (streq(s->groups[i].type, "identity"))
			return true;
	return false;
}

static const char *kind_name(enum vtd_iommu_kind k)
{
	switch (k) {
	case VTD_IOMMU_INTEL:
		return "intel-vt-d";
	case VTD_IOMMU_AMD:
		return "amd-vi";
	case VTD_IOMMU_OTHER:
		return "other";
	case VTD_IOMMU_NONE:
		break;
	}
	return "none";
}

static int build(const struct vtd_status *s, const char *note, const char *adv, json_object **ret)
{
	struct builder b = { 0 };
	json_object *o = new_obj(&b), *units = new_arr(&b);

	keep(&b, json_add_bool(o, "dma_remapping", vtd_status_dma_remapping(s)));
	keep(&b, json_add_str(o, "iommu", kind_name(s->kind)));
	keep(&b, json_add_int(o, "iommu_groups", (int64_t)s->ngroups));
	keep(&b, json_add(o, "default_domain_types", domain_types_json(&b, s)));
	keep(&b, json_add(o, "other_iommus", strv_json(&b, s->other_iommus)));
	keep(&b, json_add_str(o, "note", note));
	keep(&b, json_add_str(o, "advice", adv));
	keep(&b, json_add(o, "interrupt_remapping", irq_remap_json(&b, s)));
	keep(&b, json_add(o, "kernel_command_line", cmdline_json(&b, &s->cmdline)));
	keep(&b, json_add(o, "dmar_table", dmar_json(&b, s)));
	keep(&b, json_add(o, "rmrrs", rmrrs_json(&b, s)));
	keep(&b, json_add(o, "reserved_regions", regions_json(&b, s)));
	keep(&b, json_add(o, "warnings", strv_json(&b, s->warnings)));
	for (size_t i = 0; i < s->nunits; i++)
		arr_add(&b, units, unit_json(&b, s, &s->units[i]));
	keep(&b, json_add(o, "units", units));
	if (b.r < 0) {
		json_object_put(o);
		return b.r;
	}
	*ret = o;
	return 0;
}

/* Text: the summary record, then one record per unit (all fields stay in --json), then the DMAR
 * structures as a table. Every value comes from the same tree the JSON prints. */
static int print_text(json_object *root)
{
	_cleanup_json_ json_object *summary = json_object_new_object();
	json_object *units = NULL, *structs = NULL;
	static const struct out_column scols[] = { { "type", "TYPE" },	   { "offset", "OFFSET" },
						   { "length", "LENGTH" }, { "segment", "SEGMENT" },
						   { "register_base", "REGISTER BASE" }, { "devices", "DEVICES" } };
	int r = 0;

	if (!summary)
		return -ENOMEM;
	json_object_object_foreach(root, key, val) {
		if (streq(key, "units")) {
			units = val;
			continue;
		}
		if (streq(key, "dmar_table")) {
			json_object *d = json_object_new_object();
			if (!d || json_add(summary, key, d) < 0)
				return -ENOMEM;
			json_object_object_foreach(val, dk, dv) {
				if (streq(dk, "structures"))
					structs = dv;
				else if (json_add(d, dk, json_object_get(dv)) < 0)
					return -ENOMEM;
			}
			continue;
		}
		if (json_add(summary, key, json_object_get(val)) < 0)
			return -ENOMEM;
	}
	r = out_record(stdout, summary);
	for (size_t i = 0; r >= 0 && units && i < json_object_array_length(units); i++) {
		_cleanup_json_ json_object *u = json_object_new_object();
		if (!u)
			return -ENOMEM;
		json_object_object_foreach(json_object_array_get_idx(units, i), uk, uv) {
			if (streq(uk, "cap_fields") || streq(uk, "ecap_fields"))
				continue;
			if (json_add(u, uk, json_object_get(uv)) < 0)
				return -ENOMEM;
		}
		putchar('\n');
		r = out_record(stdout, u);
	}
	if (r >= 0 && structs && json_object_array_length(structs) > 0) {
		printf("\ndmar structures:\n");
		r = out_table(stdout, structs, scols, ARRAY_SIZE(scols));
	}
	return r;
}

static int run_iommu(int argc, char **argv, const struct verb_ctx *ctx)
{
	_cleanup_(vtd_status_freep) struct vtd_status *s = NULL;
	_cleanup_json_ json_object *root = NULL;
	char adv[512] = "", note[256] = "";
	bool on;
	int r, status = EXIT_OK;

	/* --json and --help are global options, already taken out of argv. */
	if (argc > 1)
		return verb_usage_error(ctx, "iommu", "%s '%s'", argv[1][0] == '-' ? "unknown option" : "unexpected argument",
					argv[1]);

	r = vtd_status_read(&s);
	if (r < 0) {
		log_error("iommu: cannot read the IOMMU state: %s", strerror(-r));
		return EXIT_FAIL;
	}
	on = vtd_status_dma_remapping(s);
	if (s->kind == VTD_IOMMU_AMD) {
		snprintf(note, sizeof(note), "AMD-Vi detected; decoding not supported (groups and reserved regions shown)");
	} else if (s->kind == VTD_IOMMU_OTHER && s->ngroups) {
		snprintf(note, sizeof(note), "IOMMU of another kind (%s); decoding not supported", s->other_iommus[0]);
	} else if (!on) {
		advice(s, adv, sizeof(adv));
		status = EXIT_FAIL;
	} else if (has_identity_group(s)) {
		snprintf(note, sizeof(note),
			 "identity default domains (iommu=pt or passthrough): DMA of devices on host drivers is not "
			 "translated; devices handed to VFIO are still isolated");
	}
	r = build(s, *note ? note : NULL, *adv ? adv : NULL, &root);
	if (r < 0) {
		log_error("iommu: %s", strerror(-r));
		return EXIT_FAIL;
	}
	r = out_is_json() ? out_json(stdout, root) : print_text(root);
	fflush(stdout);
	if (r < 0) {
		log_error("iommu: cannot print: %s", strerror(-r));
		return EXIT_FAIL;
	}
	if (s->dmar_errno == -EBADMSG)
		log_warning("/sys/firmware/acpi/tables/DMAR is malformed: %s, ignoring", s->dmar_error);
	else if (s->dmar_errno == -EACCES)
		log_warning("/sys/firmware/acpi/tables/DMAR is readable by root only: RMRRs and DMAR flags are not shown, ignoring");
	for (size_t i = 0; s->warnings && s->warnings[i]; i++)
		log_warning("%s", s->warnings[i]);
	if (status != EXIT_OK)
		log_error("IOMMU: DMA remapping is off: %s", adv);
	return status;
}

PTCTL_VERB(iommu, .name = "iommu", .synopsis = "",
	   .summary = "show whether DMA remapping is on and what the VT-d units can do", .flags = VERB_JSON,
	   .run = run_iommu,
	   .help =
"DESCRIPTION\n"
"    Reports whether the kernel remaps DMA through an IOMMU (VT-d units registered under\n"
"    /sys/class/iommu and IOMMU groups populated), each VT-d unit's capability (cap) and extended\n"
"    capability (ecap) registers decoded field by field, whether interrupt remapping is in use,\n"
"    the firmware's ACPI DMAR table (remapping units, RMRRs, ATSR, RHSA, ANDD, SATC structures),\n"
"    and the reserved regions of every IOMMU group, merged where groups share one.\n"
"\n"
"    Without an IOMMU it says why and how to enable it (VT-d in the firmware setup, intel_iommu=on\n"
"    on the kernel command line) and exits 1. On AMD-Vi hosts (/sys/class/iommu/ivhd*) the\n"
"    registers are not decoded; groups and reserved regions are shown and it exits 0.\n"
"\n"
"    A malformed DMAR table (a length past the end, a zero-length structure, a device scope cut\n"
"    short) is reported and not used; the units' own registers are shown regardless.\n"
"    Interrupt remapping has no sysfs switch of its own: it is counted as in use when interrupts\n"
"    go through remapping irq chips (named \"IR-...\" in /sys/kernel/irq/N/chip_name, or in\n"
"    /proc/interrupts on kernels without that directory); the source is named in the output.\n"
"\n"
"OUTPUT\n"
"    Text: a summary record, one record per unit, then the DMAR structures. --json prints one\n"
"    object with these keys (stable; absent facts are null):\n"
"    dma_remapping          true when IOMMU units are registered and IOMMU groups populated\n"
"    iommu                  intel-vt-d, amd-vi, other or none\n"
"    iommu_groups           number of groups; default_domain_types: their domain types (DMA,\n"
"                           DMA-FQ, identity for iommu=pt, ...)\n"
"    other_iommus           /sys/class/iommu entries that are neither dmar* nor ivhd*\n"
"    note, advice           what is not decoded or not translated; why DMA remapping is off\n"
"                           and what to do\n"
"    interrupt_remapping    in_use, remapped_irqs, source, firmware_flag (DMAR INTR_REMAP),\n"
"                           units_support (every unit's ecap.IR), x2apic_support (ecap.EIM),\n"
"                           x2apic_opt_out (DMAR flag), posted_interrupts (cap.PI),\n"
"                           command_line (intremap=)\n"
"    kernel_command_line    intel_iommu, amd_iommu, iommu, iommu_passthrough, intremap\n"
"    dmar_table             present, valid, error, revision, oem_id, oem_table_id,\n"
"                           host_address_width, flags, intr_remap, x2apic_opt_out,\n"
"                           dma_ctrl_platform_opt_in, checksum_ok, warnings, structures[]\n"
"                           (type drhd|rmrr|atsr|rhsa|andd|satc|unknown, offset, length and\n"
"                           the structure's own fields; devices[] as \"KIND ADDRESS[ id N]\",\n"
"                           KIND endpoint|bridge|ioapic|hpet|namespace)\n"
"    rmrrs[]                segment, start, end, size, devices[]: memory the firmware keeps\n"
"                           mapped for those devices (they are poor pass-through candidates)\n"
"    reserved_regions[]     start, end, type (direct, direct-relaxable, reserved, msi,\n"
"                           sw-msi), groups[] that report exactly that region. A direct\n"
"                           region is an RMRR the kernel keeps identity-mapped: it refuses to\n"
"                           hand that group to VFIO (direct-relaxable ones, USB and graphics,\n"
"                           it allows); msi is the interrupt window no DMA may use\n"
"    warnings[]             kernel files that could not be read or parsed\n"
"    units[]                name, register_base, version, cap, ecap, device_count (devices the\n"
"                           kernel put behind it), include_pci_all and scope (the DRHD's\n"
"                           devices[], same form), address_widths\n"
"                           (SAGAW: 39, 48, 57 for 3-, 4-, 5-level tables),\n"
"                           max_guest_address_width (MGAW+1), superpages (SLLPS: 2M, 1G),\n"
"                           domains, fault_recording_registers, caching_mode,\n"
"                           interrupt_remapping, x2apic, posted_interrupts, pass_through,\n"
"                           snoop_control, coherent, queued_invalidation, device_tlb,\n"
"                           page_selective_invalidation, nested, scalable_mode, pasid,\n"
"                           cap_flags/ecap_flags (the one-bit fields that are set, by the\n"
"                           spec's names), cap_fields/ecap_fields (every field by its name in\n"
"                           lower case, raw value; JSON only)\n"
"\n"
"FILES\n"
"    /sys/class/iommu/dmar*/intel-iommu/{cap,ecap,version,address}, /sys/firmware/acpi/tables/DMAR\n"
"    (root only), /sys/kernel/iommu_groups/*/{reserved_regions,type}, /sys/kernel/irq/*/chip_name,\n"
"    /proc/interrupts, /proc/cmdline. PTCTL_ROOT prefixes all of them.\n"
"\n"
"EXAMPLES\n"
"    ptctl iommu\n"
"    ptctl iommu --json | jq '.units[] | {name, caching_mode, address_widths}'\n"
"    ptctl iommu --json | jq -r '.reserved_regions[] | select(.type == \"msi\") | .start'\n");
