/* memory.c: guest RAM: one memfd (hugetlb on request) mapped once, split into the regions below 3 GiB
 * and above 4 GiB, and the host-capacity checks that turn "too much memory" into a clear error. */
#include <inttypes.h>
#include <linux/memfd.h>
#include <sys/mman.h>

#include "internal.h"
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
	if (m->base && m->base != MAP_FAILED)
		munmap(m->base, m->size);
	if (m->fd >= 0)
		close(m->fd);
	free(m);
}

static void vm_memory_freep(struct vm_memory **m)
{
	vm_memory_free(*m);
}

int vm_memory_new(uint64_t size, uint64_t hugepage_size, struct vm_memory **ret)
{
	_cleanup_(vm_memory_freep) struct vm_memory *m = NULL;
	unsigned flags = MFD_CLOEXEC;
	uint64_t low;

	if (size < (16ull << 20) || size % SZ_2M)
		return -EINVAL;
	if (hugepage_size == SZ_2M)
		flags |= MFD_HUGETLB | MFD_HUGE_2MB;
	else if (hugepage_size == SZ_1G)
		flags |= MFD_HUGETLB | MFD_HUGE_1GB;
	else if (hugepage_size)
		return -EINVAL;
	if (hugepage_size && size % hugepage_size)
		return -EINVAL;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->fd = memfd_create("ptctl-guest-ram", flags);
	if (m->fd < 0)
		return negative_errno();
	m->page_size = hugepage_size ? hugepage_size : (uint64_t)sysconf(_SC_PAGESIZE);
	if (ftruncate(m->fd, (off_t)size) < 0)
		return negative_errno();
	/* MAP_NORESERVE for plain memfd: RAM is committed as the guest touches it. hugetlb reserves its
	 * pages at mmap time, so a shortage shows here (ENOMEM) rather than as a SIGBUS later. */
	m->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | (hugepage_size ? 0 : MAP_NORESERVE),
		       m->fd, 0);
	if (m->base == MAP_FAILED) {
		m->base = NULL;
		return negative_errno();
	}
	m->size = size;
	if (!hugepage_size)
		madvise(m->base, size, MADV_MERGEABLE); /* harmless if KSM is off */

	low = size < VM_LOW_RAM_END ? size : VM_LOW_RAM_END;
	m->regions[m->nregions++] = (struct vm_ram_region){
		.gpa = 0, .size = low, .hva = m->base, .fd = m->fd, .fd_offset = 0,
	};
	if (size > low)
		m->regions[m->nregions++] = (struct vm_ram_region){
			.gpa = VM_HIGH_RAM_START,
			.size = size - low,
			.hva = (uint8_t *)m->base + low,
			.fd = m->fd,
			.fd_offset = low,
		};
	log_debug("guest RAM: %" PRIu64 " MiB in %zu region(s), page size %" PRIu64, size >> 20, m->nregions,
		  m->page_size);
	*ret = TAKE_PTR(m);
	return 0;
}

void *vm_memory_hva(const struct vm_memory *m, uint64_t gpa, uint64_t len)
{
	for (size_t i = 0; i < m->nregions; i++) {
		const struct vm_ram_region *r = &m->regions[i];
		/* Written so that no sum can overflow: gpa and len are guest-controlled. */
		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return (uint8_t *)r->hva + (gpa - r->gpa);
	}
	return NULL;
}

uint64_t vm_memory_end(const struct vm_memory *m)
{
	const struct vm_ram_region *r = &m->regions[m->nregions - 1];
	return r->gpa + r->size;
}
