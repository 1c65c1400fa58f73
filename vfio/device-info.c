/* device-info.c: parsing VFIO device info buffers (region info with its capabilities: sparse
 * mmap areas, MSI-X mappable, region type; hot-reset dependents) and naming regions. Pure. */
#include "util/log.h"
#include "vfio/vfio.h"

/* Caps may sit at 4-byte offsets (kernels before 6.5): every read is a copy. */
static int sparse_from_cap(const uint8_t *p, size_t cap_len, struct vfio_region_desc *rd)
{
	struct vfio_region_info_cap_sparse_mmap c;
	struct vfio_mmap_area *areas;

	if (cap_len < sizeof(c))
		return -EBADMSG;
	memcpy(&c, p, sizeof(c));
	if (c.nr_areas > (cap_len - sizeof(c)) / sizeof(struct vfio_region_sparse_mmap_area))
		return -EBADMSG;
	areas = calloc(c.nr_areas ? c.nr_areas : 1, sizeof(*areas));
	if (!areas)
		return -ENOMEM;
	for (size_t i = 0; i < c.nr_areas; i++) {
		struct vfio_region_sparse_mmap_area a;
		uint64_t off, size;
		memcpy(&a, p + sizeof(c) + i * sizeof(a), sizeof(a));
		off = a.offset;
		size = a.size;
		/* An area outside the region would let an mmap reach past it. */
		if (size > rd->size || off > rd->size - size) {
			free(areas);
			return -EBADMSG;
		}
		areas[i] = (struct vfio_mmap_area){ .offset = off, .size = size };
	}
	free(rd->sparse);
	rd->sparse = areas;
	rd->n_sparse = c.nr_areas;
	rd->has_sparse = true;
	return 0;
}

static int region_cap(const struct vfio_info_cap_header *h, size_t cap_len, void *userdata)
{
	struct vfio_region_desc *rd = userdata;

	struct vfio_info_cap_header hd;

	memcpy(&hd, h, sizeof(hd));
	switch (hd.id) {
	case VFIO_REGION_INFO_CAP_SPARSE_MMAP:
		return sparse_from_cap((const uint8_t *)h, cap_len, rd);
	case VFIO_REGION_INFO_CAP_TYPE: {
		struct vfio_region_info_cap_type c;
		if (cap_len < sizeof(c))
			return -EBADMSG;
		memcpy(&c, h, sizeof(c));
		rd->has_type = true;
		rd->type = c.type;
		rd->subtype = c.subtype;
		return 0;
	}
	case VFIO_REGION_INFO_CAP_MSIX_MAPPABLE:
		rd->msix_mappable = true;
		return 0;
	default:
		log_debug("region %u: capability %u v%u ignored", rd->index, hd.id, hd.version);
		return 0;
	}
}

int vfio_region_desc_parse(const void *buf, size_t len, struct vfio_region_desc *ret)
{
	struct vfio_region_info ri; /* copied, not cast: buf carries no alignment promise */
	struct vfio_region_desc rd = { 0 };
	int r;

	if (len < sizeof(ri))
		return -EBADMSG;
	memcpy(&ri, buf, sizeof(ri));
	rd.index = ri.index;
	rd.flags = ri.flags;
	rd.size = ri.size;
	rd.offset = ri.offset;
	if (rd.size > UINT64_MAX - rd.offset)
		return -EBADMSG;
	if (ri.flags & VFIO_REGION_INFO_FLAG_CAPS) {
		r = vfio_caps_walk(buf, len, sizeof(ri), ri.cap_offset, region_cap, &rd);
		if (r < 0) {
			vfio_region_desc_done(&rd);
			return r;
		}
	}
	*ret = rd;
	return 0;
}

void vfio_region_desc_done(struct vfio_region_desc *r)
{
	if (!r)
		return;
	free(r->sparse);
	r->sparse = NULL;
	r->n_sparse = 0;
}

int vfio_hot_reset_info_parse(const void *buf, size_t len, struct vfio_hot_reset_dep **ret, size_t *n)
{
	/* copied, not cast: buf carries no alignment promise (fuzz-vfio-caps found the misaligned read) */
	struct vfio_pci_hot_reset_info hi;
	struct vfio_pci_dependent_device dd;
	struct vfio_hot_reset_dep *deps;
	const uint8_t *p = buf;

	if (len < sizeof(hi))
		return -EBADMSG;
	memcpy(&hi, p, sizeof(hi));
	if (hi.count > (len - sizeof(hi)) / sizeof(dd))
		return -EBADMSG;
	deps = calloc(hi.count ? hi.count : 1, sizeof(*deps));
	if (!deps)
		return -ENOMEM;
	for (size_t i = 0; i < hi.count; i++) {
		memcpy(&dd, p + sizeof(hi) + i * sizeof(dd), sizeof(dd));
		deps[i] = (struct vfio_hot_reset_dep){
			.group_id = dd.group_id,
			.addr = { .domain = dd.segment, .bus = dd.bus, .dev = dd.devfn >> 3, .fn = dd.devfn & 7 },
		};
	}
	*ret = deps;
	*n = hi.count;
	return 0;
}

const char *vfio_region_name(unsigned index, char *buf, size_t len)
{
	if (index <= VFIO_PCI_BAR5_REGION_INDEX)
		snprintf(buf, len, "BAR%u", index);
	else if (index == VFIO_PCI_ROM_REGION_INDEX)
		snprintf(buf, len, "ROM");
	else if (index == VFIO_PCI_CONFIG_REGION_INDEX)
		snprintf(buf, len, "config");
	else if (index == VFIO_PCI_VGA_REGION_INDEX)
		snprintf(buf, len, "VGA");
	else
		snprintf(buf, len, "region %u", index);
	return buf;
}

const char *vfio_irq_name(unsigned index)
{
	static const char *const names[] = {
		[VFIO_PCI_INTX_IRQ_INDEX] = "INTx", [VFIO_PCI_MSI_IRQ_INDEX] = "MSI",
		[VFIO_PCI_MSIX_IRQ_INDEX] = "MSI-X", [VFIO_PCI_ERR_IRQ_INDEX] = "ERR",
		[VFIO_PCI_REQ_IRQ_INDEX] = "REQ",
	};
	return index < ARRAY_SIZE(names) ? names[index] : NULL;
}
