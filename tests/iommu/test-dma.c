/* test-dma.c: guest memory layout (hole, reserved IOVA windows, limits), the checks that refuse
 * a mapping before anything is pinned, real memfd-backed guest memory and the pagemap report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>

#include "iommu/iommu.h"
#include "util/root.h"

#define M (1ull << 20)
#define G (1ull << 30)

/* What the test host's type1 container reports: everything but the MSI window. */
static struct vfio_iova_span host_spans[] = { { 0, 0xfedfffff }, { 0xfef00000, (1ull << 48) - 1 } };
static const struct vfio_iommu_limits host_limits = {
	.pgsize_bitmap = 0x40201000,
	.has_iova_spans = true,
	.n_iova_spans = 2,
	.iova_spans = host_spans,
	.has_dma_avail = true,
	.dma_avail = 65535,
};

static void test_layout_hole(void **s)
{
	struct guestmem_region r[GUESTMEM_MAX_REGIONS];
	size_t n = 0;
	(void)s;

	/* Small RAM fits below the hole in one region. */
	assert_int_equal(guestmem_layout(&(struct guestmem_config){ .size = 512 * M }, r, 16, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].gpa, 0);
	assert_int_equal(r[0].size, 512 * M);
	assert_int_equal(r[0].fd, -1);

	/* 5 GiB: 3 GiB below the hole, the rest from 4 GiB; memfd offsets run on. */
	assert_int_equal(guestmem_layout(&(struct guestmem_config){ .size = 5 * G, .limits = &host_limits }, r, 16, &n),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].gpa, 0);
	assert_int_equal(r[0].size, 3 * G);
	assert_int_equal(r[1].gpa, 4 * G);
	assert_int_equal(r[1].size, 2 * G);
	assert_int_equal(r[1].fd_offset, 3 * G);

	/* 1G pages with the default hole still line up. */
	assert_int_equal(
		guestmem_layout(&(struct guestmem_config){ .size = 4 * G, .page_size = G, .limits = &host_limits }, r,
				16, &n),
		0);
	assert_int_equal(n, 2);
	assert_int_equal(r[1].gpa, 4 * G);
	assert_int_equal(r[1].size, G);

	/* A custom hole; its edges are rounded inward to the page size. */
	assert_int_equal(guestmem_layout(&(struct guestmem_config){ .size = 8 * M, .page_size = 2 * M,
								    .hole_start = 3 * M, .hole_end = 5 * M },
					 r, 16, &n),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].size, 2 * M);
	assert_int_equal(r[1].gpa, 6 * M);
	assert_int_equal(r[1].size, 6 * M);

	/* Bad input. */
	assert_int_equal(guestmem_layout(&(struct guestmem_config){ .size = 0 }, r, 16, &n), -EINVAL);
	assert_int_equal(guestmem_layout(&(struct guestmem_config){ .size = 3 * M, .page_size = 2 * M }, r, 16, &n),
			 -EINVAL);
	assert_int_equal(guestmem_layout(&(struct guestmem_config){ .size = 4 * M, .page_size = 8192 }, r, 16, &n),
			 -EINVAL);
	assert_int_equal(guestmem_layout(&(struct guestmem_config){ .size = 4 * M, .hole_start = 8 * M, .hole_end = 4 * M },
					 r, 16, &n),
			 -EINVAL);
}

static void test_layout_reserved(void **s)
{
	struct guestmem_region r[GUESTMEM_MAX_REGIONS];
	size_t n = 0;
	/* No PCI hole asked for: RAM must still step around the MSI window. */
	const struct guestmem_config cfg = {
		.size = 4 * G, .hole_start = 1, .hole_end = 1, .limits = &host_limits,
	};
	struct vfio_iova_span many[20];
	struct vfio_iommu_limits fragmented = { .has_iova_spans = true, .n_iova_spans = 20, .iova_spans = many };
	(void)s;

	assert_int_equal(guestmem_layout(&cfg, r, 16, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].gpa, 0);
	assert_int_equal(r[0].size, 0xfee00000);
	assert_int_equal(r[1].gpa, 0xfef00000);
	assert_int_equal(r[0].size + r[1].size, 4 * G);
	/* With 2M pages the window's edges round inward. */
	assert_int_equal(guestmem_layout(&(struct guestmem_config){ .size = 4 * G, .page_size = 2 * M, .hole_start = 1,
								    .hole_end = 1, .limits = &host_limits },
					 r, 16, &n),
			 0);
	assert_int_equal(r[0].size, 0xfee00000);
	assert_int_equal(r[1].gpa, 0xff000000);

	/* Too fragmented for the region table. */
	for (size_t i = 0; i < 20; i++)
		many[i] = (struct vfio_iova_span){ i * 2 * M, i * 2 * M + M - 1 };
	assert_int_equal(guestmem_layout(&(struct guestmem_config){ .size = 20 * M, .limits = &fragmented }, r, 16, &n),
			 -E2BIG);
	/* The usable windows cannot hold it. */
	fragmented.n_iova_spans = 4;
	assert_int_equal(guestmem_layout(&(struct guestmem_config){ .size = 5 * M, .limits = &fragmented }, r, 16, &n),
			 -ENOSPC);
	assert_int_equal(guestmem_layout(&(struct guestmem_config){ .size = 4 * M, .limits = &fragmented }, r, 16, &n),
			 0);
	assert_int_equal(n, 4);
}

static void test_check(void **s)
{
	struct iommu_dma_report rep;
	struct guestmem_region r[3] = {
		{ .gpa = 0, .size = 3 * G },
		{ .gpa = 4 * G, .size = G },
	};
	struct vfio_iommu_limits l = host_limits;
	(void)s;

	assert_int_equal(iommu_dma_check(r, 2, &l, UINT64_MAX, 0, &rep), 0);
	assert_int_equal(rep.bytes, 4 * G);
	assert_int_equal(rep.entries, 2);
	assert_int_equal(rep.granule, 4096);

	/* A region over the MSI window is refused, naming the window. */
	r[2] = (struct guestmem_region){ .gpa = 0xfe000000, .size = 32 * M };
	assert_int_equal(iommu_dma_check(r, 3, &l, UINT64_MAX, 0, &rep), -EADDRNOTAVAIL);
	assert_int_equal(rep.bad_gpa, 0xfe000000);
	assert_int_equal(rep.reserved_first, 0xfee00000);
	assert_int_equal(rep.reserved_last, 0xfeefffff);
	/* Starting inside it. */
	r[2] = (struct guestmem_region){ .gpa = 0xfee00000, .size = M };
	assert_int_equal(iommu_dma_check(r, 3, &l, UINT64_MAX, 0, &rep), -EADDRNOTAVAIL);
	assert_int_equal(rep.reserved_first, 0xfee00000);
	/* Beyond the address width. */
	r[2] = (struct guestmem_region){ .gpa = 1ull << 48, .size = M };
	assert_int_equal(iommu_dma_check(r, 3, &l, UINT64_MAX, 0, &rep), -EADDRNOTAVAIL);
	assert_int_equal(rep.reserved_first, 1ull << 48);
	assert_int_equal(rep.reserved_last, UINT64_MAX);

	/* Entry limit: 2 needed, 1 left. */
	l.dma_avail = 1;
	assert_int_equal(iommu_dma_check(r, 2, &l, UINT64_MAX, 0, &rep), -ENOSPC);
	assert_int_equal(rep.entries, 2);
	assert_int_equal(rep.dma_avail, 1);
	l.dma_avail = 65535;

	/* Memlock: 4 GiB against 8 MiB (1 MiB already locked). */
	assert_int_equal(iommu_dma_check(r, 2, &l, 8 * M, M, &rep), -ENOMEM);
	assert_int_equal(rep.bytes, 4 * G);
	assert_int_equal(rep.memlock_limit, 8 * M);
	assert_int_equal(rep.memlock_used, M);
	assert_int_equal(iommu_dma_check(r, 2, &l, 4 * G + M, M, &rep), 0);
	assert_int_equal(iommu_dma_check(r, 2, &l, 4 * G + M, M + 1, &rep), -ENOMEM);

	/* Granule: with 2M the smallest IOMMU page, a 4K-aligned region is refused. */
	l.pgsize_bitmap = 0x40200000;
	r[2] = (struct guestmem_region){ .gpa = 0x1000, .size = 0x1000 };
	assert_int_equal(iommu_dma_check(&r[2], 1, &l, UINT64_MAX, 0, &rep), -EINVAL);
	assert_int_equal(rep.granule, 2 * M);
	assert_int_equal(rep.bad_gpa, 0x1000);
}

static void test_pagemap_runs(void **s)
{
	const uint64_t P = 1ull << 63;
	uint64_t e[] = { P | 100, P | 101, P | 102, 0 /* absent */, P | 104, P | 7, P | 8, P | (1ull << 62) | 9 };
	uint64_t hidden[] = { P, P, P };
	struct iommu_phys_run *runs = NULL;
	size_t n = 0;
	bool h = false;
	(void)s;

	assert_int_equal(iommu_pagemap_runs(e, ARRAY_SIZE(e), 0x100000, &runs, &n, &h), 0);
	assert_false(h);
	assert_int_equal(n, 3);
	assert_int_equal(runs[0].gpa, 0x100000);
	assert_int_equal(runs[0].hpa, 100 * 4096);
	assert_int_equal(runs[0].size, 3 * 4096);
	assert_int_equal(runs[1].gpa, 0x104000);
	assert_int_equal(runs[1].hpa, 104 * 4096);
	assert_int_equal(runs[1].size, 4096); /* gpa gap after the absent page */
	assert_int_equal(runs[2].gpa, 0x105000);
	assert_int_equal(runs[2].hpa, 7 * 4096);
	assert_int_equal(runs[2].size, 2 * 4096); /* the swapped page is not resident */
	free(runs);
	runs = NULL;
	n = 0;
	assert_int_equal(iommu_pagemap_runs(hidden, 3, 0, &runs, &n, &h), 0);
	assert_true(h);
	assert_int_equal(n, 1);
	assert_int_equal(runs[0].hpa, 0);
	assert_int_equal(runs[0].size, 3 * 4096);
	free(runs);

	/* Many discontiguous pages: the run array keeps growing correctly. */
	{
		uint64_t many[100];
		for (size_t i = 0; i < 100; i++)
			many[i] = P | (i * 2 + 1000);
		runs = NULL;
		n = 0;
		assert_int_equal(iommu_pagemap_runs(many, 100, 0, &runs, &n, &h), 0);
		assert_int_equal(n, 100);
		assert_int_equal(runs[99].hpa, (99 * 2 + 1000) * 4096ull);
		free(runs);
	}
}

static void test_guestmem_real(void **s)
{
	_cleanup_guestmem_ struct guestmem *m = NULL;
	struct iommu_phys_run *runs = NULL;
	size_t n = 0;
	bool hidden = false;
	uint64_t total = 0;
	char byte = 0;
	(void)s;

	/* 12 MiB of RAM around a 4 MiB hole at 4 MiB. */
	assert_int_equal(guestmem_new(&(struct guestmem_config){ .size = 12 * M, .hole_start = 4 * M, .hole_end = 8 * M },
				      &m),
			 0);
	assert_int_equal(guestmem_n_regions(m), 2);
	assert_int_equal(guestmem_region(m, 1)->gpa, 8 * M);
	assert_int_equal(guestmem_region(m, 1)->fd, guestmem_fd(m));
	assert_null(guestmem_region(m, 2));
	assert_null(guestmem_hva(m, 5 * M, 1));      /* in the hole */
	assert_null(guestmem_hva(m, 4 * M - 1, 2));  /* straddles the hole */
	assert_non_null(guestmem_hva(m, 8 * M, 8 * M));
	assert_null(guestmem_hva(m, 8 * M, 8 * M + 1));

	/* Writes through the gpa land in the one memfd at the region's offset. */
	memcpy(guestmem_hva(m, 8 * M + 5, 1), "Z", 1);
	assert_int_equal(pread(guestmem_fd(m), &byte, 1, (off_t)(guestmem_region(m, 1)->fd_offset + 5)), 1);
	assert_int_equal(byte, 'Z');

	assert_int_equal(guestmem_prefault(m, 3), 0);
	assert_int_equal(iommu_pagemap_report(m, &runs, &n, &hidden), 0);
	for (size_t i = 0; i < n; i++) {
		total += runs[i].size;
		assert_true(runs[i].gpa < 4 * M || runs[i].gpa >= 8 * M);
		if (hidden)
			assert_int_equal(runs[i].hpa, 0);
	}
	/* Prefaulted: every page is resident. */
	assert_int_equal(total, 12 * M);
	free(runs);
	/* Hugetlb without reserved huge pages fails cleanly (or works where pages exist). */
	{
		struct guestmem *h = NULL;
		int r = guestmem_new(&(struct guestmem_config){ .size = 2 * M, .backing = GUESTMEM_HUGETLB_2M }, &h);
		assert_true(r == 0 || r == -ENOMEM || r == -EINVAL);
		assert_true(r != 0 || h != NULL);
		guestmem_free(h);
	}
}

/* IOMMU pages for runs of physically contiguous memory, as the IOMMU driver cuts them. */
static void test_iommu_page_counts(void **s)
{
	uint64_t c[64];
	(void)s;

	/* 256M of 2M pages, each at a 2M-aligned physical address: 128 superpages. */
	const struct iommu_phys_run thp[] = { { .gpa = 0, .hpa = 0x40000000, .size = 256 * M } };
	iommu_dma_page_counts(thp, 1, host_limits.pgsize_bitmap, c);
	assert_int_equal(c[21], 128);
	assert_int_equal(c[12], 0);
	assert_int_equal(c[30], 0);

	/* A 1G-aligned gigabyte on both sides: one 1G page; 4K pages only (bitmap 4K) otherwise. */
	const struct iommu_phys_run gig[] = { { .gpa = G, .hpa = 3 * G, .size = G } };
	iommu_dma_page_counts(gig, 1, host_limits.pgsize_bitmap, c);
	assert_int_equal(c[30], 1);
	iommu_dma_page_counts(gig, 1, 4096, c);
	assert_int_equal(c[12], G / 4096);

	/* IOVA and physical address disagree modulo 2M: 4K pages throughout. */
	const struct iommu_phys_run skew[] = { { .gpa = 0, .hpa = 0x40001000, .size = 4 * M } };
	iommu_dma_page_counts(skew, 1, host_limits.pgsize_bitmap, c);
	assert_int_equal(c[12], 1024);
	assert_int_equal(c[21], 0);

	/* A run starting 4K short of a 2M boundary: 1 x 4K, then 2M pages, then the 4K tail. */
	const struct iommu_phys_run ragged[] = { { .gpa = 2 * M - 4096, .hpa = 0x40000000 + 2 * M - 4096,
						   .size = 4096 + 4 * M + 8192 } };
	iommu_dma_page_counts(ragged, 1, host_limits.pgsize_bitmap, c);
	assert_int_equal(c[12], 3);
	assert_int_equal(c[21], 2);

	/* Several runs add up; a zero bitmap means 4K. */
	const struct iommu_phys_run two[] = { { .gpa = 0, .hpa = 0x200000, .size = 2 * M },
					      { .gpa = 2 * M, .hpa = 0x1000, .size = 8192 } };
	iommu_dma_page_counts(two, 2, host_limits.pgsize_bitmap, c);
	assert_int_equal(c[21], 1);
	assert_int_equal(c[12], 2);
	iommu_dma_page_counts(two, 2, 0, c);
	assert_int_equal(c[12], 514);
}

static void test_memlock_budget(void **s)
{
	char dir[] = "/tmp/ptctl-dma-XXXXXX", p[PATH_MAX];
	uint64_t limit, used;
	FILE *f;
	(void)s;

	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "mkdir -p %s/proc/self", dir);
	assert_int_equal(system(p), 0);
	snprintf(p, sizeof(p), "%s/proc/self/status", dir);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs("Name:\tptctl\nVmPeak:\t  100 kB\nVmLck:\t     128 kB\nVmPin:\t 0 kB\n", f);
	fclose(f);
	root_set(dir);
	assert_int_equal(iommu_memlock_budget(&limit, &used), 0);
	assert_int_equal(used, 128 * 1024);
	assert_true(limit > 0);
	root_set(NULL);
	snprintf(p, sizeof(p), "rm -rf %s", dir);
	assert_int_equal(system(p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_hole),   cmocka_unit_test(test_layout_reserved),
		cmocka_unit_test(test_check),         cmocka_unit_test(test_pagemap_runs),
		cmocka_unit_test(test_guestmem_real), cmocka_unit_test(test_memlock_budget),
		cmocka_unit_test(test_iommu_page_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
