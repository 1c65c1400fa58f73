/* container-info.c: the pure side of the container: the capability chain walker, the type1
 * IOMMU info (IOVA ranges, DMA entries, migration) and the MAP/UNMAP_DMA arguments. No I/O. */
#include <inttypes.h>

#include "util/log.h"
#include "vfio/vfio.h"

int vfio_caps_walk(const void *buf, size_t len, size_t fixed_size, uint32_t first, vfio_cap_fn fn,
		   void *userdata)
{
	const uint8_t *p = buf;
	size_t off = first;

	if (first == 0)
		return 0;
	while (off != 0) {
		struct vfio_info_cap_header h;
		size_t end;

		/* Offsets are relative to the start of the info struct and caps are appended in
		 * order, so a next pointer that does not move past the current header is corrupt
		 * (and would loop). Kernels before 6.5 pack caps at 4-byte offsets (a 12-byte DMA
		 * avail cap puts the next one off 8-byte alignment), so every read is a copy. */
		if (off < fixed_size || off % 4 != 0 || off > len || len - off < sizeof(h)) {
			log_debug("capability at offset %zu outside [%zu, %zu)", off, fixed_size, len);
			return -EBADMSG;
		}
		memcpy(&h, p + off, sizeof(h));
		if (h.next != 0 && h.next < off + sizeof(h)) {
			log_debug("capability %u at %zu points back to %u", h.id, off, h.next);
			return -EBADMSG;
		}
		end = h.next ? h.next : len;
		if (end > len) {
			log_debug("capability %u at %zu: next %zu past argsz %zu", h.id, off, end, len);
			return -EBADMSG;
		}
		if (fn) {
			int r = fn((const void *)(p + off), end - off, userdata);
			if (r < 0)
				return r;
		}
		off = h.next;
	}
	return 0;
}

static int spans_from_cap(const uint8_t *p, size_t cap_len, struct vfio_iommu_limits *l)
{
	struct vfio_iommu_type1_info_cap_iova_range c;
	const uint8_t *ranges = p + sizeof(c);
	size_t need;
	struct vfio_iova_span *spans;

	if (cap_len < sizeof(c))
		return -EBADMSG;
	memcpy(&c, p, sizeof(c));
	if (c.nr_iovas > (cap_len - sizeof(c)) / sizeof(struct vfio_iova_range)) {
		log_debug("IOVA range capability: %u ranges do not fit its %zu bytes", c.nr_iovas, cap_len);
		return -EBADMSG;
	}
	need = c.nr_iovas;
	spans = calloc(need ? need : 1, sizeof(*spans));
	if (!spans)
		return -ENOMEM;
	for (size_t i = 0; i < need; i++) {
		struct vfio_iova_range rg;
		uint64_t s, e;
		memcpy(&rg, ranges + i * sizeof(rg), sizeof(rg));
		s = rg.start;
		e = rg.end;
		/* Consumers rely on sorted, disjoint spans to find gaps: refuse anything else. */
		if (s > e || (i > 0 && s <= spans[i - 1].last)) {
			log_debug("IOVA range %zu 0x%" PRIx64 "-0x%" PRIx64 " is empty, unsorted or overlapping", i, s, e);
			free(spans);
			return -EBADMSG;
		}
		spans[i] = (struct vfio_iova_span){ .first = s, .last = e };
	}
	free(l->iova_spans);
	l->iova_spans = spans;
	l->n_iova_spans = need;
	l->has_iova_spans = true;
	return 0;
}

static int iommu_cap(const struct vfio_info_cap_header *h, size_t cap_len, void *userdata)
{
	struct vfio_iommu_limits *l = userdata;

	struct vfio_info_cap_header hd;

	memcpy(&hd, h, sizeof(hd));
	switch (hd.id) {
	case VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE:
		return spans_from_cap((const uint8_t *)h, cap_len, l);
	case VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL: {
		struct vfio_iommu_type1_info_dma_avail c;
		if (cap_len < sizeof(c)) {
			log_debug("DMA avail capability: %zu bytes", cap_len);
			return -EBADMSG;
		}
		memcpy(&c, h, sizeof(c));
		l->has_dma_avail = true;
		l->dma_avail = c.avail;
		return 0;
	}
	case VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION: {
		struct vfio_iommu_type1_info_cap_migration c;
		if (cap_len < sizeof(c)) {
			log_debug("migration capability: %zu bytes", cap_len);
			return -EBADMSG;
		}
		memcpy(&c, h, sizeof(c));
		l->has_migration = true;
		l->migration_flags = c.flags;
		l->migration_pgsize_bitmap = c.pgsize_bitmap;
		l->migration_max_dirty_bitmap_size = c.max_dirty_bitmap_size;
		return 0;
	}
	default:
		log_debug("IOMMU info capability %u v%u ignored", hd.id, hd.version);
		return 0;
	}
}

int vfio_iommu_limits_parse(const void *buf, size_t len, struct vfio_iommu_limits *ret)
{
	/* copied, not cast: buf carries no alignment promise (fuzz-vfio-caps found the misaligned read) */
	struct vfio_iommu_type1_info info = { 0 };
	struct vfio_iommu_limits l = { 0 };
	int r;

	/* cap_offset is the last fixed member; older kernels' shorter struct ends before it. */
	if (len < offsetof(struct vfio_iommu_type1_info, cap_offset))
		return -EBADMSG;
	memcpy(&info, buf, len < sizeof(info) ? len : sizeof(info));
	l.flags = info.flags;
	if (info.flags & VFIO_IOMMU_INFO_PGSIZES)
		l.pgsize_bitmap = info.iova_pgsizes;
	if ((info.flags & VFIO_IOMMU_INFO_CAPS) && len >= sizeof(info)) {
		r = vfio_caps_walk(buf, len, sizeof(info), info.cap_offset, iommu_cap, &l);
		if (r < 0) {
			vfio_iommu_limits_done(&l);
			return r;
		}
	}
	*ret = l;
	return 0;
}

void vfio_iommu_limits_done(struct vfio_iommu_limits *l)
{
	if (!l)
		return;
	free(l->iova_spans);
	l->iova_spans = NULL;
	l->n_iova_spans = 0;
}

static bool range_ok(uint64_t start, uint64_t size, uint64_t granule)
{
	if (granule == 0)
		granule = 4096;
	if (granule & (granule - 1))
		return false;
	return size != 0 && start % granule == 0 && size % granule == 0 && size - 1 <= UINT64_MAX - start;
}

int vfio_dma_map_arg(uint64_t iova, const void *vaddr, uint64_t size, uint64_t granule,
		     struct vfio_iommu_type1_dma_map *ret)
{
	/* The host address needs only page alignment; the IOVA needs the IOMMU granule. */
	if (!range_ok(iova, size, granule) || !range_ok((uintptr_t)vaddr, size, 4096))
		return -EINVAL;
	*ret = (struct vfio_iommu_type1_dma_map){
		.argsz = sizeof(*ret),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};
	return 0;
}

int vfio_dma_unmap_arg(uint64_t iova, uint64_t size, uint64_t granule, struct vfio_iommu_type1_dma_unmap *ret)
{
	if (!range_ok(iova, size, granule))
		return -EINVAL;
	*ret = (struct vfio_iommu_type1_dma_unmap){
		.argsz = sizeof(*ret),
		.iova = iova,
		.size = size,
	};
	return 0;
}
