/* memory.c: guest RAM for a VM: iommu's guestmem (one memfd, hugetlb on request, regions below 3 GiB
 * and from 4 GiB) behind one function, and the host-capacity checks that make "too much" a clear error. */
#include <inttypes.h>
#include <linux/memfd.h>
#include <sys/mman.h>

#include "internal.h"
#include "iommu/iommu.h"
#include "util/log.h"
#include "util/root.h"

#define SZ_2M (2ull << 20)
#define SZ_1G (1ull << 30)

int vm_host_memory_available(uint64_t *ret)
{
	_cleanup_free_ char *s = NULL;
	int r = root_read("/proc/meminfo", &s);

	if (r < 0)
		return r;
	for (char *l = s; l && *l;) {
		char *nl = strchr(l, '\n');
		unsigned long long kb;
		if (sscanf(l, "MemAvailable: %llu kB", &kb) == 1) {
			*ret = (uint64_t)kb << 10;
			return 0;
		}
		l = nl ? nl + 1 : NULL;
	}
	return -ENODATA;
}

int vm_host_hugepages_free(uint64_t page_size, uint64_t *ret)
{
	char p[128];
	snprintf(p, sizeof(p), "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/free_hugepages", page_size >> 10);
	return root_read_u64(p, 10, ret);
}

void vm_memory_free(struct vm_memory *m)
{
	if (!m)
		return;
	guestmem_free(m->gm);
	free(m);
}

static void vm_memory_freep(struct vm_memory **m)
{
	vm_memory_free(*m);
}

/* The layout (RAM below 3 GiB, the rest from 4 GiB) and the memfd come from iommu's guestmem, so the
 * same object maps into a VFIO container at IOVA = guest-physical. */
int vm_memory_new(uint64_t size, uint64_t hugepage_size, struct vm_memory **ret)
{
	_cleanup_(vm_memory_freep) struct vm_memory *m = NULL;
	struct guestmem_config cfg = { .size = size, .page_size = hugepage_size, .name = "ptctl-guest-ram" };
	int r;

	if (size < (16ull << 20) || size % SZ_2M)
		return -EINVAL;
	if (hugepage_size != 0 && hugepage_size != SZ_2M && hugepage_size != SZ_1G)
		return -EINVAL;
	if (hugepage_size && size % hugepage_size)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	r = guestmem_new(&cfg, &m->gm);
	if (r < 0)
		return r;
	m->size = size;
	m->page_size = guestmem_page_size(m->gm);
	m->nregions = guestmem_n_regions(m->gm);
	if (m->nregions > VM_MAX_RAM_REGIONS)
		return -E2BIG;
	for (size_t i = 0; i < m->nregions; i++) {
		const struct guestmem_region *g = guestmem_region(m->gm, i);
		m->regions[i] = (struct vm_ram_region){
			.gpa = g->gpa, .size = g->size, .hva = g->hva, .fd = g->fd, .fd_offset = g->fd_offset,
		};
		if (!hugepage_size)
			madvise(g->hva, g->size, MADV_HUGEPAGE); /* takes effect where shmem THP is enabled */
	}
	log_debug("guest RAM: %" PRIu64 " MiB in %zu region(s), page size %" PRIu64, size >> 20, m->nregions,
		  m->page_size);
	*ret = TAKE_PTR(m);
	return 0;
}

void *vm_memory_hva(const struct vm_memory *m, uint64_t gpa, uint64_t len)
{
	return guestmem_hva(m->gm, gpa, len);
}

uint64_t vm_memory_end(const struct vm_memory *m)
{
	const struct vm_ram_region *r = &m->regions[m->nregions - 1];
	return r->gpa + r->size;
}
