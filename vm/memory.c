/* memory.c: guest RAM for a VM: iommu's guestmem (the backing chosen per host: hugetlb when reserved,
 * anonymous THP, shmem THP, 4K) behind one function, the host-capacity checks, and the prefault. */
#include <inttypes.h>
#include <time.h>

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

static enum guestmem_backing to_guestmem(enum vm_ram_backing b)
{
	switch (b) {
	case VM_RAM_ANON: return GUESTMEM_ANON;
	case VM_RAM_MEMFD: return GUESTMEM_MEMFD;
	case VM_RAM_HUGETLB_2M: return GUESTMEM_HUGETLB_2M;
	case VM_RAM_HUGETLB_1G: return GUESTMEM_HUGETLB_1G;
	default: return GUESTMEM_AUTO;
	}
}

/* The backing the config asks for: --hugepages (hugepage_size) still means hugetlb of that size. */
static int wanted_backing(const struct vm_config *cfg, enum guestmem_backing *ret, const char **why)
{
	if (cfg->hugepage_size && cfg->hugepage_size != SZ_2M && cfg->hugepage_size != SZ_1G)
		return *why = "huge pages are 2M or 1G", -EINVAL;
	if (cfg->hugepage_size) {
		*ret = cfg->hugepage_size == SZ_1G ? GUESTMEM_HUGETLB_1G : GUESTMEM_HUGETLB_2M;
		if (cfg->backing != VM_RAM_AUTO && to_guestmem(cfg->backing) != *ret)
			return *why = "--hugepages and --backing disagree", -EINVAL;
		return 0;
	}
	*ret = to_guestmem(cfg->backing);
	return 0;
}

/* Refuses what the host cannot give before anything is allocated, with the reason in words. */
static int check_host(const struct vm_config *cfg, enum guestmem_backing b, const char **why)
{
	uint64_t page = b == GUESTMEM_HUGETLB_1G ? SZ_1G : SZ_2M, free_pages, avail;

	if (b == GUESTMEM_HUGETLB_2M || b == GUESTMEM_HUGETLB_1G) {
		if (cfg->memory % page)
			return *why = "memory must be a multiple of the huge page size", -EINVAL;
		if (vm_host_hugepages_free(page, &free_pages) < 0)
			return *why = "the host has no huge pages of that size (see /sys/kernel/mm/hugepages)", -ENOMEM;
		if (free_pages < cfg->memory / page)
			return *why = "not enough free huge pages on the host (raise nr_hugepages)", -ENOMEM;
		return 0;
	}
	if (vm_host_memory_available(&avail) >= 0 && cfg->memory > avail)
		return *why = "guest memory is more than the host has available", -ENOMEM;
	return 0;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int vm_memory_prefault(struct vm_memory *m)
{
	double t0 = now_ms();
	unsigned threads = guestmem_usable_cpus();
	int r;

	if (m->prefaulted)
		return 0;
	r = guestmem_prefault(m->gm, threads);
	if (r < 0)
		return r;
	m->prefaulted = true;
	m->prefault_ms = now_ms() - t0;
	m->prefault_threads = threads;
	log_debug("guest RAM prefaulted in %.1f ms with %u thread(s)", m->prefault_ms, threads);
	return 0;
}

/* The layout (RAM below 3 GiB, the rest from 4 GiB) comes from iommu's guestmem, so the same object maps
 * into a VFIO container at IOVA = guest-physical. Pinned memory (an assigned device) or the user's
 * --prefault faults it all in first, in parallel; otherwise the guest faults it in as it goes. */
int vm_memory_new(const struct vm_config *cfg, struct vm_memory **ret, const char **why)
{
	_cleanup_(vm_memory_freep) struct vm_memory *m = NULL;
	struct guestmem_config gc = { .size = cfg->memory, .name = "ptctl-guest-ram" };
	const struct guestmem_choice *c;
	double t0 = now_ms();
	int r;

	if (cfg->memory < (16ull << 20) || cfg->memory % SZ_2M)
		return *why = "memory must be at least 16M and a multiple of 2M", -EINVAL;
	if ((r = wanted_backing(cfg, &gc.backing, why)) < 0 || (r = check_host(cfg, gc.backing, why)) < 0)
		return r;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	r = guestmem_new(&gc, &m->gm);
	if (r < 0)
		return *why = r == -ENOMEM ? "cannot allocate guest memory (too few huge pages reserved?)"
					   : "cannot allocate guest memory", r;
	c = guestmem_choice(m->gm);
	m->size = cfg->memory;
	m->page_size = guestmem_page_size(m->gm);
	m->nregions = guestmem_n_regions(m->gm);
	if (m->nregions > VM_MAX_RAM_REGIONS)
		return *why = "guest memory needs too many regions", -E2BIG;
	for (size_t i = 0; i < m->nregions; i++) {
		const struct guestmem_region *g = guestmem_region(m->gm, i);
		m->regions[i] = (struct vm_ram_region){
			.gpa = g->gpa, .size = g->size, .hva = g->hva, .fd = g->fd, .fd_offset = g->fd_offset,
			.page_size = m->page_size,
		};
	}
	log_debug("guest RAM: %" PRIu64 " MiB in %zu region(s), %s, page size %" PRIu64 "K%s: %s (%.1f ms)",
		  cfg->memory >> 20, m->nregions, guestmem_backing_name(c->backing), m->page_size >> 10,
		  c->transparent ? " (transparent)" : "", c->reason, now_ms() - t0);
	if (cfg->prefault || cfg->nassign > 0) {
		r = vm_memory_prefault(m);
		if (r < 0)
			return *why = "cannot fault in guest memory (the host ran out of memory)", r;
	}
	*ret = TAKE_PTR(m);
	return 0;
}

int vm_memory_info(const struct vm_memory *m, struct vm_ram_info *ret)
{
	const struct guestmem_choice *c = guestmem_choice(m->gm);
	uint64_t huge = 0;
	bool known = guestmem_huge_bytes(m->gm, &huge) >= 0;

	*ret = (struct vm_ram_info){
		.backing = guestmem_backing_name(c->backing),
		.page_size = c->page_size,
		.transparent = c->transparent,
		.reason = c->reason,
		.huge_bytes = known ? huge : 0,
		.huge_bytes_known = known,
		.prefaulted = m->prefaulted,
		.prefault_ms = m->prefault_ms,
		.prefault_threads = m->prefault_threads,
	};
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
