/* dma.c: mapping guest memory into a VFIO container with IOVA = guest-physical: the checks that
 * refuse a layout before anything is pinned, the memlock budget, map with rollback, unmap. */
#include <inttypes.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "iommu/iommu.h"
#include "util/log.h"
#include "util/root.h"

struct iommu_dma_map {
	struct vfio_container *c; /* referenced */
	size_t n;
	struct {
		uint64_t iova, size;
	} maps[GUESTMEM_MAX_REGIONS];
};

/* The reserved window (gap between usable spans) that [gpa, gpa+size) runs into, if any. */
static bool find_collision(const struct vfio_iommu_limits *l, uint64_t gpa, uint64_t size, uint64_t *first,
			   uint64_t *last)
{
	uint64_t end = gpa + (size - 1); /* inclusive; size > 0 and no wrap checked by the caller */
	uint64_t gap_first = 0;

	for (size_t i = 0; i < l->n_iova_spans; i++) {
		const struct vfio_iova_span *s = &l->iova_spans[i];
		if (s->last < gpa) {
			gap_first = s->last + 1;
			continue;
		}
		if (s->first > gpa) {
			/* gpa itself lies in the gap before this span. */
			*first = gap_first;
			*last = s->first - 1;
			return true;
		}
		if (end <= s->last)
			return false; /* wholly inside this span */
		*first = s->last + 1;
		*last = i + 1 < l->n_iova_spans ? l->iova_spans[i + 1].first - 1 : UINT64_MAX;
		return true;
	}
	*first = gap_first;
	*last = UINT64_MAX;
	return true;
}

int iommu_dma_check(const struct guestmem_region *regions, size_t n, const struct vfio_iommu_limits *limits,
		    uint64_t memlock_limit, uint64_t memlock_used, struct iommu_dma_report *report)
{
	struct iommu_dma_report rep = {
		.memlock_limit = memlock_limit,
		.memlock_used = memlock_used,
		.has_dma_avail = limits->has_dma_avail,
		.dma_avail = limits->dma_avail,
		.granule = limits->pgsize_bitmap ? limits->pgsize_bitmap & -limits->pgsize_bitmap : 4096,
	};
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		if (regions[i].size > UINT64_MAX - rep.bytes) {
			r = -EINVAL;
			break;
		}
		rep.bytes += regions[i].size;
	}
	rep.entries = (uint32_t)n;
	for (size_t i = 0; i < n && r == 0; i++) {
		const struct guestmem_region *g = &regions[i];
		if (g->size == 0 || g->gpa % rep.granule || g->size % rep.granule || g->size - 1 > UINT64_MAX - g->gpa) {
			rep.bad_gpa = g->gpa;
			rep.bad_size = g->size;
			r = -EINVAL;
		} else if (limits->has_iova_spans &&
			   find_collision(limits, g->gpa, g->size, &rep.reserved_first, &rep.reserved_last)) {
			rep.bad_gpa = g->gpa;
			rep.bad_size = g->size;
			r = -EADDRNOTAVAIL;
		}
	}
	if (r == 0 && limits->has_dma_avail && rep.entries > limits->dma_avail)
		r = -ENOSPC;
	if (r == 0 && memlock_limit != UINT64_MAX &&
	    (memlock_used > memlock_limit || rep.bytes > memlock_limit - memlock_used))
		r = -ENOMEM;
	if (report)
		*report = rep;
	return r;
}

static bool has_cap_ipc_lock(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2] = { 0 };

	if (syscall(SYS_capget, &h, d) < 0)
		return false;
	return d[CAP_IPC_LOCK / 32].effective & (1u << (CAP_IPC_LOCK % 32));
}

int iommu_memlock_budget(uint64_t *limit, uint64_t *used)
{
	_cleanup_free_ char *status = NULL;
	struct rlimit rl;
	uint64_t kb = 0;
	const char *p;
	int r;

	/* type1 charges pinned pages to locked_vm unless the task has CAP_IPC_LOCK. */
	if (has_cap_ipc_lock())
		*limit = UINT64_MAX;
	else if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return negative_errno();
	else
		*limit = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
	r = root_read("/proc/self/status", &status);
	if (r < 0)
		return r;
	p = strstr(status, "\nVmLck:");
	if (p && sscanf(p + 7, "%" SCNu64, &kb) != 1)
		kb = 0;
	*used = kb * 1024;
	return 0;
}

static void unmap_all(struct iommu_dma_map *d)
{
	while (d->n > 0) {
		d->n--;
		int r = vfio_container_unmap_dma(d->c, d->maps[d->n].iova, d->maps[d->n].size);
		if (r < 0)
			log_debug("unmap iova 0x%" PRIx64 ": %s, ignoring", d->maps[d->n].iova, strerror(-r));
	}
}

int iommu_dma_map_guestmem(struct vfio_container *c, const struct guestmem *m, struct iommu_dma_report *report,
			   struct iommu_dma_map **ret)
{
	const struct vfio_iommu_limits *l;
	uint64_t limit, used;
	struct iommu_dma_map *d;
	size_t n = guestmem_n_regions(m);
	int r;

	/* dma_avail shrinks with every mapping in the container: ask now, not at attach. */
	r = vfio_container_refresh_limits(c);
	if (r < 0)
		return r;
	l = vfio_container_limits(c);
	r = iommu_memlock_budget(&limit, &used);
	if (r < 0)
		return r;
	r = iommu_dma_check(guestmem_region(m, 0), n, l, limit, used, report);
	if (r < 0)
		return r;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->c = vfio_container_ref(c);
	for (size_t i = 0; i < n; i++) {
		const struct guestmem_region *g = guestmem_region(m, i);
		r = vfio_container_map_dma(c, g->gpa, g->hva, g->size);
		if (r < 0) {
			log_debug("map gpa 0x%" PRIx64 " size 0x%" PRIx64 ": %s; undoing %zu mapping(s)", g->gpa,
				  g->size, strerror(-r), d->n);
			iommu_dma_map_free(d);
			return r;
		}
		d->maps[d->n].iova = g->gpa;
		d->maps[d->n].size = g->size;
		d->n++;
	}
	*ret = d;
	return 0;
}

struct iommu_dma_map *iommu_dma_map_free(struct iommu_dma_map *d)
{
	if (!d)
		return NULL;
	unmap_all(d);
	vfio_container_unref(d->c);
	free(d);
	return NULL;
}
