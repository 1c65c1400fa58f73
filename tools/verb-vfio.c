/* verb-vfio.c: `ptctl vfio probe`: open a device through VFIO and show what it offers (regions,
 * IRQ indexes, the container's IOVA ranges, page sizes and DMA entry limit) before assigning it. */
#include <getopt.h>
#include <inttypes.h>

#include "util/log.h"
#include "util/output.h"
#include "verb.h"
#include "verb-vfio.h"

int verb_vfio_open(const struct verb_ctx *ctx, const char *verb, const char *arg, struct vfio_container **ret_c,
		   struct vfio_group **ret_g, struct vfio_device **ret_d)
{
	_cleanup_vfio_container_ struct vfio_container *c = NULL;
	_cleanup_vfio_group_ struct vfio_group *g = NULL;
	_cleanup_free_ char *driver = NULL;
	struct pci_addr addr;
	char name[PCI_ADDR_STRLEN];
	unsigned id;
	int r;

	if (pci_addr_parse(arg, &addr) < 0)
		return verb_usage_error(ctx, verb, "'%s' is not a PCI address (expected DDDD:BB:DD.F)", arg);
	pci_addr_format(&addr, name);
	r = vfio_device_bound_driver(&addr, &driver);
	if (r == -ENOENT) {
		log_error("%s: no such PCI device (see `ptctl list`)", name);
		return EXIT_USAGE;
	}
	if (r < 0) {
		log_error("%s: cannot read its driver: %s", name, strerror(-r));
		return EXIT_FAIL;
	}
	if (!driver) {
		log_error("%s: not bound to any driver, VFIO needs vfio-pci (bind it with `ptctl bind %s`)", name, name);
		return EXIT_FAIL;
	}
	if (!streq(driver, "vfio-pci")) {
		log_error("%s: bound to %s, not vfio-pci (bind it with `ptctl bind %s`)", name, driver, name);
		return EXIT_FAIL;
	}
	r = vfio_group_id_of_device(&addr, &id);
	if (r < 0) {
		log_error("%s: no IOMMU group (is the IOMMU on? boot with intel_iommu=on)", name);
		return EXIT_FAIL;
	}
	r = vfio_container_new(&c);
	if (r == -ENOENT) {
		log_error("%s: /dev/vfio/vfio is missing (load the vfio-pci module)", name);
		return EXIT_FAIL;
	}
	if (r < 0) {
		log_error("%s: the VFIO container cannot be used: %s (the kernel needs VFIO type1v2)", name,
			  r == -EPROTONOSUPPORT ? "unsupported API" : strerror(-r));
		return EXIT_FAIL;
	}
	r = vfio_container_group(c, id, &g);
	if (r == -EBUSY) {
		log_error("%s: IOMMU group %u is open in another process (a running VM?); stop it first", name, id);
		return EXIT_FAIL;
	}
	if (r == -EPERM) {
		log_error("%s: IOMMU group %u is not viable: every device in /sys/kernel/iommu_groups/%u/devices "
			  "must be on vfio-pci or no driver (see `ptctl show %s`)",
			  name, id, id, name);
		return EXIT_FAIL;
	}
	if (r == -ENODEV) {
		log_error("%s: the type1 IOMMU backend is not available (load vfio_iommu_type1)", name);
		return EXIT_FAIL;
	}
	if (r < 0) {
		log_error("%s: cannot open IOMMU group %u: %s", name, id, strerror(-r));
		return EXIT_FAIL;
	}
	if (ret_d) {
		r = vfio_device_new(g, &addr, ret_d);
		if (r < 0) {
			log_error("%s: cannot open the device through VFIO: %s", name, strerror(-r));
			return EXIT_FAIL;
		}
	}
	if (ret_g)
		*ret_g = TAKE_PTR(g);
	*ret_c = TAKE_PTR(c);
	return EXIT_OK;
}

static json_object *str_array(const char *const *names, uint32_t flags, size_t n)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; a && i < n; i++)
		if (flags & (1u << i) && names[i])
			json_object_array_add(a, json_object_new_string(names[i]));
	return a;
}

static char *hex_range(uint64_t first, uint64_t last)
{
	char *s = NULL;
	if (asprintf(&s, "0x%" PRIx64 "-0x%" PRIx64, first, last) < 0)
		return NULL;
	return s;
}

static int add_region(json_object *rows, const struct vfio_region_desc *rd)
{
	static const char *const flag_names[] = { "read", "write", "mmap", "caps" };
	json_object *o = json_object_new_object(), *areas = json_object_new_array();
	char name[32];
	int r;

	if (!o || !areas || json_object_array_add(rows, o) < 0) {
		json_object_put(o);
		json_object_put(areas);
		return -ENOMEM;
	}
	r = json_add_int(o, "index", rd->index);
	if (r >= 0)
		r = json_add_str(o, "name", vfio_region_name(rd->index, name, sizeof(name)));
	if (r >= 0)
		r = json_add_int(o, "size", (int64_t)rd->size);
	if (r >= 0)
		r = json_add_hex(o, "offset", rd->offset);
	if (r >= 0)
		r = json_add(o, "flags", str_array(flag_names, rd->flags & 0xf, ARRAY_SIZE(flag_names)));
	if (r >= 0)
		r = json_add_str(o, "mmap", !(rd->flags & VFIO_REGION_INFO_FLAG_MMAP) ? "no"
					    : rd->has_sparse                        ? "sparse"
										    : "whole");
	/* The areas that may be mmapped: the sparse list, or the whole region. */
	if (rd->flags & VFIO_REGION_INFO_FLAG_MMAP) {
		size_t n = rd->has_sparse ? rd->n_sparse : 1;
		for (size_t i = 0; r >= 0 && i < n; i++) {
			uint64_t off = rd->has_sparse ? rd->sparse[i].offset : 0;
			uint64_t size = rd->has_sparse ? rd->sparse[i].size : rd->size;
			_cleanup_free_ char *s = size ? hex_range(off, off + size - 1) : strdup("-");
			if (!s || json_object_array_add(areas, json_object_new_string(s)) < 0)
				r = -ENOMEM;
		}
	}
	if (r >= 0)
		r = json_add(o, "mmap_areas", areas);
	else
		json_object_put(areas);
	if (r >= 0)
		r = json_add_bool(o, "msix_mappable", rd->msix_mappable);
	if (r >= 0 && rd->has_type) {
		_cleanup_free_ char *t = NULL;
		r = asprintf(&t, "%u:%u", rd->type, rd->subtype) < 0 ? -ENOMEM : json_add_str(o, "type", t);
	} else if (r >= 0)
		r = json_add_null(o, "type");
	return r;
}

static int add_irq(json_object *rows, const struct vfio_irq_desc *irq)
{
	static const char *const flag_names[] = { "eventfd", "maskable", "automasked", "noresize" };
	json_object *o = json_object_new_object();
	const char *name = vfio_irq_name(irq->index);
	char buf[16];
	int r;

	if (!o || json_object_array_add(rows, o) < 0) {
		json_object_put(o);
		return -ENOMEM;
	}
	if (!name) {
		snprintf(buf, sizeof(buf), "index %u", irq->index);
		name = buf;
	}
	r = json_add_int(o, "index", irq->index);
	if (r >= 0)
		r = json_add_str(o, "name", name);
	if (r >= 0)
		r = json_add_int(o, "count", irq->count);
	if (r >= 0)
		r = json_add(o, "flags", str_array(flag_names, irq->flags, ARRAY_SIZE(flag_names)));
	return r;
}

static int add_iommu(json_object *obj, const struct vfio_iommu_limits *l)
{
	json_object *o = json_object_new_object(), *sizes = json_object_new_array(), *spans = json_object_new_array();
	int r = 0;

	if (!o || !sizes || !spans) {
		json_object_put(o);
		json_object_put(sizes);
		json_object_put(spans);
		return -ENOMEM;
	}
	for (unsigned b = 0; b < 64; b++)
		if (l->pgsize_bitmap & (1ull << b)) {
			char s[32];
			format_size(s, sizeof(s), 1ull << b);
			json_object_array_add(sizes, json_object_new_string(s));
		}
	for (size_t i = 0; i < l->n_iova_spans; i++) {
		json_object *s = json_object_new_object();
		if (!s || json_object_array_add(spans, s) < 0 || json_add_hex(s, "start", l->iova_spans[i].first) < 0 ||
		    json_add_hex(s, "end", l->iova_spans[i].last) < 0) {
			r = -ENOMEM;
			break;
		}
	}
	if (r >= 0)
		r = json_add(o, "page_sizes", sizes);
	else
		json_object_put(sizes);
	if (r >= 0)
		r = json_add_hex(o, "pgsize_bitmap", l->pgsize_bitmap);
	if (r >= 0)
		r = l->has_dma_avail ? json_add_int(o, "dma_avail", l->dma_avail) : json_add_null(o, "dma_avail");
	if (r >= 0)
		r = json_add_bool(o, "dirty_tracking", l->has_migration);
	if (r >= 0)
		r = l->has_iova_spans ? json_add(o, "iova_ranges", spans) : (json_object_put(spans), json_add_null(o, "iova_ranges"));
	else
		json_object_put(spans);
	if (r >= 0)
		r = json_add(obj, "iommu", o);
	else
		json_object_put(o);
	return r;
}

static int add_hot_reset(json_object *obj, struct vfio_device *d)
{
	_cleanup_free_ struct vfio_hot_reset_dep *deps = NULL;
	json_object *a;
	size_t n = 0;
	int r = vfio_device_hot_reset_info(d, &deps, &n);

	/* Not every device can be hot reset (ENODEV) or say so; that is information, not failure. */
	if (r < 0)
		return json_add_null(obj, "hot_reset");
	a = json_object_new_array();
	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_new_object();
		char name[PCI_ADDR_STRLEN];
		if (!o || json_object_array_add(a, o) < 0 ||
		    json_add_str(o, "device", pci_addr_format(&deps[i].addr, name)) < 0 ||
		    json_add_int(o, "iommu_group", deps[i].group_id) < 0) {
			json_object_put(a);
			return -ENOMEM;
		}
	}
	return json_add(obj, "hot_reset", a);
}

static int build(struct vfio_device *d, struct vfio_container *c, json_object **ret)
{
	_cleanup_json_ json_object *obj = json_object_new_object();
	json_object *regions = json_object_new_array(), *irqs = json_object_new_array();
	char name[PCI_ADDR_STRLEN];
	int r;

	if (!obj || !regions || !irqs) {
		json_object_put(regions);
		json_object_put(irqs);
		return -ENOMEM;
	}
	r = json_add_str(obj, "device", pci_addr_format(vfio_device_addr(d), name));
	if (r >= 0)
		r = json_add_str(obj, "driver", "vfio-pci");
	if (r >= 0)
		r = json_add_int(obj, "iommu_group", vfio_group_id(vfio_device_group(d)));
	if (r >= 0)
		r = json_add_bool(obj, "pci", vfio_device_flags(d) & VFIO_DEVICE_FLAGS_PCI);
	if (r >= 0)
		r = json_add_bool(obj, "reset", vfio_device_flags(d) & VFIO_DEVICE_FLAGS_RESET);
	for (unsigned i = 0; r >= 0 && i < vfio_device_n_regions(d); i++) {
		const struct vfio_region_desc *rd = vfio_device_region(d, i);
		if (rd->size > 0) /* absent BARs have no size */
			r = add_region(regions, rd);
	}
	for (unsigned i = 0; r >= 0 && i < vfio_device_n_irqs(d); i++)
		r = add_irq(irqs, vfio_device_irq(d, i));
	if (r >= 0)
		r = json_add(obj, "regions", regions);
	else
		json_object_put(regions);
	if (r >= 0)
		r = json_add(obj, "irqs", irqs);
	else
		json_object_put(irqs);
	if (r >= 0)
		r = add_iommu(obj, vfio_container_limits(c));
	if (r >= 0)
		r = add_hot_reset(obj, d);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(obj);
	return 0;
}

static int run_probe(int argc, char **argv, const struct verb_ctx *ctx)
{
	static const struct option opts[] = { {} };
	_cleanup_vfio_container_ struct vfio_container *c = NULL;
	_cleanup_vfio_device_ struct vfio_device *d = NULL;
	_cleanup_json_ json_object *obj = NULL;
	int r;

	while (getopt_long(argc, argv, "", opts, NULL) != -1)
		return verb_usage_error(ctx, argv[0], "unknown option");
	if (argc - optind != 1)
		return verb_usage_error(ctx, argv[0], "expected one PCI address, got %d arguments", argc - optind);
	r = verb_vfio_open(ctx, argv[0], argv[optind], &c, NULL, &d);
	if (r != EXIT_OK)
		return r;
	r = build(d, c, &obj);
	if (r < 0)
		return log_error_errno(r, "%s: cannot describe the device: %s", argv[optind], strerror(-r)), EXIT_FAIL;
	return out_record(stdout, obj) < 0 ? EXIT_FAIL : EXIT_OK;
}

PTCTL_VERB(vfio_probe, .name = "vfio probe", .synopsis = "ADDRESS",
	   .summary = "open a device through VFIO and show its regions, IRQs and IOMMU limits",
	   .flags = VERB_JSON, .run = run_probe,
	   .help = "DESCRIPTION\n"
		   "    Opens the device the way a VM would: a VFIO container (type1v2 IOMMU), the device's\n"
		   "    IOMMU group attached to it, and the device fd. Prints what the device offers and what\n"
		   "    the IOMMU allows, so an operator can see before assigning it what a guest will get.\n"
		   "    Nothing on the host changes; everything is closed again on exit.\n"
		   "\n"
		   "    The device must be bound to vfio-pci (see `ptctl bind`), and every other device in its\n"
		   "    IOMMU group must be on vfio-pci or no driver. The group must not be open elsewhere\n"
		   "    (a running VM holds it). Needs access to /dev/vfio (normally root).\n"
		   "\n"
		   "OUTPUT\n"
		   "    device, driver, iommu_group  the device and its group\n"
		   "    pci, reset            VFIO flags: a PCI device; VFIO_DEVICE_RESET available\n"
		   "    regions               present regions (absent BARs are left out), each with:\n"
		   "      index, name         VFIO region index; BAR0..BAR5, ROM, config, VGA, region N\n"
		   "      size, offset        bytes; offset of the region within the device fd (hex)\n"
		   "      flags               read, write, mmap, caps\n"
		   "      mmap                no, whole, or sparse (only some areas may be mapped, e.g. around\n"
		   "                          an MSI-X table)\n"
		   "      mmap_areas          mappable areas as first-last byte offsets within the region\n"
		   "      msix_mappable       the MSI-X table may be mapped too\n"
		   "      type                device-specific region type:subtype, or null\n"
		   "    irqs                  every IRQ index: index, name (INTx, MSI, MSI-X, ERR, REQ), count\n"
		   "                          (0: the device lacks it), flags (eventfd, maskable, automasked,\n"
		   "                          noresize)\n"
		   "    iommu.page_sizes      IOMMU page sizes; pgsize_bitmap the same as a bitmap (hex)\n"
		   "    iommu.dma_avail       DMA mappings the container can still take (null: not reported)\n"
		   "    iommu.dirty_tracking  the type1 backend reports dirty-page tracking (migration)\n"
		   "    iommu.iova_ranges     usable IOVA ranges (start, end inclusive); the gaps are reserved,\n"
		   "                          e.g. the MSI window 0xfee00000-0xfeefffff\n"
		   "    hot_reset             devices a bus reset would also reset (device, iommu_group), or\n"
		   "                          null when the device cannot be hot reset\n"
		   "\n"
		   "EXAMPLES\n"
		   "    ptctl vfio probe 0000:03:00.0\n"
		   "    ptctl vfio probe 03:00.0 --json | jq '.irqs[] | select(.name == \"MSI-X\") | .count'\n");
