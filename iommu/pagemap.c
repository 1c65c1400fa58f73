/* pagemap.c: where guest memory really is: guest-physical -> host-physical runs read from
 * /proc/self/pagemap (PFNs need CAP_SYS_ADMIN; without it the kernel reports them as 0). */
#include <fcntl.h>
#include <inttypes.h>

#include "iommu/iommu.h"
#include "util/log.h"
#include "util/root.h"

#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define PM_PFN_MASK ((1ull << 55) - 1)
#define PM_PAGE 4096ull

int iommu_pagemap_runs(const uint64_t *entries, size_t n, uint64_t gpa, struct iommu_phys_run **runs,
		       size_t *n_runs, bool *pfn_hidden)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t e = entries[i], pfn = e & PM_PFN_MASK;
		uint64_t g = gpa + i * PM_PAGE;
		struct iommu_phys_run *last = *n_runs ? &(*runs)[*n_runs - 1] : NULL;

		if (!(e & PM_PRESENT) || (e & PM_SWAPPED))
			continue;
		if (pfn == 0)
			*pfn_hidden = true;
		/* Extend the run when both sides are contiguous (hidden PFNs: contiguous in gpa). */
		if (last && last->gpa + last->size == g &&
		    (pfn == 0 ? last->hpa == 0 : last->hpa != 0 && last->hpa + last->size == pfn * PM_PAGE)) {
			last->size += PM_PAGE;
			continue;
		}
		/* The array holds 8, then doubles: it is full at 0 and at every power of two >= 8. */
		if (*n_runs == 0 || (*n_runs >= 8 && (*n_runs & (*n_runs - 1)) == 0)) {
			size_t cap = *n_runs ? *n_runs * 2 : 8;
			struct iommu_phys_run *nr = realloc(*runs, cap * sizeof(*nr));
			if (!nr)
				return -ENOMEM;
			*runs = nr;
		}
		(*runs)[(*n_runs)++] = (struct iommu_phys_run){ .gpa = g, .hpa = pfn * PM_PAGE, .size = PM_PAGE };
	}
	return 0;
}

int iommu_pagemap_report(const struct guestmem *m, struct iommu_phys_run **runs, size_t *n_runs, bool *pfn_hidden)
{
	_cleanup_close_ int fd = -1;
	struct iommu_phys_run *out = NULL;
	size_t n_out = 0;
	bool hidden = false;
	uint64_t buf[512];
	int r = 0;

	fd = root_open("/proc/self/pagemap", O_RDONLY, 0);
	if (fd < 0)
		return fd;
	for (size_t i = 0; i < guestmem_n_regions(m) && r == 0; i++) {
		const struct guestmem_region *g = guestmem_region(m, i);
		uint64_t pages = g->size / PM_PAGE;
		for (uint64_t done = 0; done < pages && r == 0;) {
			size_t want = pages - done < ARRAY_SIZE(buf) ? (size_t)(pages - done) : ARRAY_SIZE(buf);
			off_t off = (off_t)(((uintptr_t)g->hva / PM_PAGE + done) * sizeof(uint64_t));
			ssize_t got = pread(fd, buf, want * sizeof(uint64_t), off);
			if (got < 0) {
				r = negative_errno();
				break;
			}
			if (got == 0 || got % sizeof(uint64_t)) {
				r = -EIO;
				break;
			}
			r = iommu_pagemap_runs(buf, (size_t)got / sizeof(uint64_t), g->gpa + done * PM_PAGE, &out, &n_out,
					       &hidden);
			done += (uint64_t)got / sizeof(uint64_t);
		}
	}
	if (r < 0) {
		free(out);
		return r;
	}
	*runs = out;
	*n_runs = n_out;
	*pfn_hidden = hidden;
	return 0;
}

void iommu_dma_page_counts(const struct iommu_phys_run *runs, size_t n, uint64_t pgsize_bitmap,
			   uint64_t counts[64])
{
	if (!pgsize_bitmap)
		pgsize_bitmap = PM_PAGE;
	memset(counts, 0, 64 * sizeof(counts[0]));
	for (size_t i = 0; i < n; i++) {
		uint64_t gpa = runs[i].gpa, hpa = runs[i].hpa, left = runs[i].size;
		while (left > 0) {
			int b = 63;
			/* Largest supported size aligned on both sides that fits; the smallest one otherwise. */
			for (; b >= 0; b--) {
				uint64_t sz = 1ull << b;
				if ((pgsize_bitmap & sz) && sz <= left && (gpa & (sz - 1)) == 0 && (hpa & (sz - 1)) == 0)
					break;
			}
			if (b < 0)
				b = __builtin_ctzll(pgsize_bitmap);
			counts[b]++;
			if ((1ull << b) >= left)
				break;
			gpa += 1ull << b;
			hpa += 1ull << b;
			left -= 1ull << b;
		}
	}
}
