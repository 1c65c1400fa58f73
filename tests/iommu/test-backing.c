/* test-backing.c: the guest RAM backing chosen per host, read from fake /sys/kernel/mm trees (THP
 * never/madvise/always, every shmem_enabled value, hugetlb pools empty/partial/full), and the split
 * of regions into prefault chunks across threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <sys/stat.h>

#include "iommu/iommu.h"
#include "util/root.h"

#define M (1ull << 20)
#define G (1ull << 30)

static char tree[PATH_MAX];

static void put(const char *rel, const char *content)
{
	char p[PATH_MAX * 2], cmd[PATH_MAX * 3];
	FILE *f;

	snprintf(p, sizeof(p), "%s%s", tree, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", p);
	assert_int_equal(system(cmd), 0);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

#define THP "/sys/kernel/mm/transparent_hugepage/"
#define HP2 "/sys/kernel/mm/hugepages/hugepages-2048kB/"
#define HP1 "/sys/kernel/mm/hugepages/hugepages-1048576kB/"

static void pool(const char *dir, unsigned nr, unsigned free_pages, unsigned resv)
{
	char f[256], v[32];
	snprintf(f, sizeof(f), "%snr_hugepages", dir);
	snprintf(v, sizeof(v), "%u\n", nr);
	put(f, v);
	snprintf(f, sizeof(f), "%sfree_hugepages", dir);
	snprintf(v, sizeof(v), "%u\n", free_pages);
	put(f, v);
	snprintf(f, sizeof(f), "%sresv_hugepages", dir);
	snprintf(v, sizeof(v), "%u\n", resv);
	put(f, v);
}

/* A host like Debian's by default: THP always, shmem THP never, hugetlb pools present but empty. */
static int setup(void **s)
{
	(void)s;
	snprintf(tree, sizeof(tree), "/tmp/ptctl-backing-XXXXXX");
	assert_non_null(mkdtemp(tree));
	put(THP "enabled", "[always] madvise never\n");
	put(THP "shmem_enabled", "always within_size advise [never] deny force\n");
	put(THP "hpage_pmd_size", "2097152\n");
	pool(HP2, 0, 0, 0);
	pool(HP1, 0, 0, 0);
	root_set(tree);
	return 0;
}

static int teardown(void **s)
{
	char cmd[PATH_MAX + 16];
	(void)s;
	root_set(NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tree);
	return system(cmd);
}

static struct guestmem_choice choose(enum guestmem_backing want, uint64_t size, int expect)
{
	struct guestmem_host h;
	struct guestmem_choice c = { .backing = GUESTMEM_AUTO };
	char err[160] = "";

	assert_int_equal(guestmem_host_read(&h), 0);
	assert_int_equal(guestmem_choose(&h, want, size, &c, err, sizeof(err)), expect);
	if (expect < 0)
		assert_true(err[0] != '\0'); /* a refusal says why */
	return c;
}

static void test_host_read(void **s)
{
	struct guestmem_host h;
	(void)s;

	assert_int_equal(guestmem_host_read(&h), 0);
	assert_int_equal(h.thp, GUESTMEM_THP_ALWAYS);
	assert_int_equal(h.shmem, GUESTMEM_SHMEM_NEVER);
	assert_int_equal(h.thp_size, 2 * M);
	assert_true(h.pool_2m.present);
	assert_int_equal(h.pool_2m.available, 0);

	/* Reserved pages promised to other mappings are not available. */
	pool(HP2, 100, 60, 20);
	assert_int_equal(guestmem_host_read(&h), 0);
	assert_int_equal(h.pool_2m.total, 100);
	assert_int_equal(h.pool_2m.free, 60);
	assert_int_equal(h.pool_2m.available, 40);

	/* Malformed or missing files read as unknown, never as a choice. */
	put(THP "enabled", "always madvise never\n");
	put(THP "shmem_enabled", "[sometimes]\n");
	put(THP "hpage_pmd_size", "3\n");
	assert_int_equal(guestmem_host_read(&h), 0);
	assert_int_equal(h.thp, GUESTMEM_THP_UNKNOWN);
	assert_int_equal(h.shmem, GUESTMEM_SHMEM_UNKNOWN);
	assert_int_equal(h.thp_size, 2 * M);
	root_set("/nonexistent-ptctl-root");
	assert_int_equal(guestmem_host_read(&h), 0);
	assert_int_equal(h.thp, GUESTMEM_THP_UNKNOWN);
	assert_false(h.pool_2m.present);
	assert_false(h.pool_1g.present);
	root_set(tree);
}

static void test_thp_modes(void **s)
{
	struct guestmem_choice c;
	(void)s;

	/* always and madvise both give anonymous THP (the memory is madvised). */
	c = choose(GUESTMEM_AUTO, 256 * M, 0);
	assert_int_equal(c.backing, GUESTMEM_ANON);
	assert_int_equal(c.page_size, 2 * M);
	assert_true(c.transparent);
	assert_non_null(strstr(c.reason, "always"));
	assert_non_null(strstr(c.reason, "no huge pages reserved"));

	put(THP "enabled", "always [madvise] never\n");
	c = choose(GUESTMEM_AUTO, 256 * M, 0);
	assert_int_equal(c.backing, GUESTMEM_ANON);
	assert_int_equal(c.page_size, 2 * M);
	assert_non_null(strstr(c.reason, "madvise"));

	/* never, with shmem THP never too: 4K anonymous pages, and the reason names both settings. */
	put(THP "enabled", "always madvise [never]\n");
	c = choose(GUESTMEM_AUTO, 256 * M, 0);
	assert_int_equal(c.backing, GUESTMEM_ANON);
	assert_int_equal(c.page_size, 4096);
	assert_false(c.transparent);
	assert_non_null(strstr(c.reason, "never"));

	/* A size that is not whole 2M pages cannot be THP-backed throughout. */
	put(THP "enabled", "[always] madvise never\n");
	c = choose(GUESTMEM_AUTO, 3 * M, 0);
	assert_int_equal(c.page_size, 4096);
	assert_non_null(strstr(c.reason, "multiple"));

	/* Asked for anon on a THP-never host: 4K, not an error. */
	put(THP "enabled", "always madvise [never]\n");
	c = choose(GUESTMEM_ANON, 256 * M, 0);
	assert_int_equal(c.backing, GUESTMEM_ANON);
	assert_int_equal(c.page_size, 4096);
}

static void test_shmem_values(void **s)
{
	static const struct {
		const char *file;
		bool huge;
	} cases[] = {
		{ "[always] within_size advise never deny force", true },
		{ "always [within_size] advise never deny force", true },
		{ "always within_size [advise] never deny force", true },
		{ "always within_size advise [never] deny force", false },
		{ "always within_size advise never [deny] force", false },
		{ "always within_size advise never deny [force]", true },
	};
	(void)s;

	/* With anonymous THP off, shmem THP decides. */
	put(THP "enabled", "always madvise [never]\n");
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct guestmem_choice c;
		put(THP "shmem_enabled", cases[i].file);
		c = choose(GUESTMEM_AUTO, 64 * M, 0);
		assert_int_equal(c.backing, cases[i].huge ? GUESTMEM_MEMFD : GUESTMEM_ANON);
		assert_int_equal(c.page_size, cases[i].huge ? 2 * M : 4096);
		assert_int_equal(c.transparent, cases[i].huge);
		/* memfd asked for: huge exactly when shmem THP is usable. */
		c = choose(GUESTMEM_MEMFD, 64 * M, 0);
		assert_int_equal(c.backing, GUESTMEM_MEMFD);
		assert_int_equal(c.page_size, cases[i].huge ? 2 * M : 4096);
	}
	/* Anonymous THP wins over shmem THP when both are on. */
	put(THP "enabled", "[always] madvise never\n");
	put(THP "shmem_enabled", "[always] within_size advise never deny force");
	assert_int_equal(choose(GUESTMEM_AUTO, 64 * M, 0).backing, GUESTMEM_ANON);
}

static void test_hugetlb_pools(void **s)
{
	struct guestmem_choice c;
	(void)s;

	/* Empty pool: THP. */
	assert_int_equal(choose(GUESTMEM_AUTO, 256 * M, 0).backing, GUESTMEM_ANON);
	choose(GUESTMEM_HUGETLB_2M, 256 * M, -ENOMEM);

	/* Partial pool (100 of 128 pages free): THP, and the reason counts the pages. */
	pool(HP2, 100, 100, 0);
	c = choose(GUESTMEM_AUTO, 256 * M, 0);
	assert_int_equal(c.backing, GUESTMEM_ANON);
	assert_non_null(strstr(c.reason, "100 of 128"));
	choose(GUESTMEM_HUGETLB_2M, 256 * M, -ENOMEM);

	/* Full pool: hugetlb 2M, by default and on request. */
	pool(HP2, 128, 128, 0);
	c = choose(GUESTMEM_AUTO, 256 * M, 0);
	assert_int_equal(c.backing, GUESTMEM_HUGETLB_2M);
	assert_int_equal(c.page_size, 2 * M);
	assert_false(c.transparent);
	assert_int_equal(choose(GUESTMEM_HUGETLB_2M, 256 * M, 0).backing, GUESTMEM_HUGETLB_2M);
	/* ... unless other mappings hold reservations on those pages. */
	pool(HP2, 128, 128, 1);
	assert_int_equal(choose(GUESTMEM_AUTO, 256 * M, 0).backing, GUESTMEM_ANON);

	/* 1G pages win when they cover a size of whole 1G pages; not for 256M. */
	pool(HP2, 2048, 2048, 0);
	pool(HP1, 2, 2, 0);
	assert_int_equal(choose(GUESTMEM_AUTO, 2 * G, 0).backing, GUESTMEM_HUGETLB_1G);
	assert_int_equal(choose(GUESTMEM_AUTO, 2 * G, 0).page_size, G);
	assert_int_equal(choose(GUESTMEM_AUTO, 256 * M, 0).backing, GUESTMEM_HUGETLB_2M);
	assert_int_equal(choose(GUESTMEM_AUTO, 3 * G, 0).backing, GUESTMEM_HUGETLB_2M); /* 1G pool short */
	choose(GUESTMEM_HUGETLB_1G, 256 * M, -EINVAL);                                   /* not whole pages */
	choose(GUESTMEM_HUGETLB_1G, 3 * G, -ENOMEM);
}

static void test_names(void **s)
{
	enum guestmem_backing b;
	(void)s;
	for (int i = GUESTMEM_MEMFD; i <= GUESTMEM_AUTO; i++) {
		assert_int_equal(guestmem_backing_from_string(guestmem_backing_name((enum guestmem_backing)i), &b), 0);
		assert_int_equal(b, i);
	}
	assert_int_equal(guestmem_backing_from_string("hugetlb-4m", &b), -EINVAL);
	assert_int_equal(guestmem_backing_from_string(NULL, &b), -EINVAL);
}

/* Every byte of every region lands in exactly one chunk, chunks are in address order, each thread's
 * share is contiguous, and shares differ by at most one granule (plus a region's ragged end). */
static void check_chunks(const struct guestmem_region *r, size_t n, uint64_t granule, unsigned threads,
			 unsigned expect_threads)
{
	struct guestmem_chunk c[64];
	uint64_t share[64] = { 0 }, covered[GUESTMEM_MAX_REGIONS] = { 0 }, min = UINT64_MAX, max = 0;
	size_t k = 0;
	unsigned used = 0;

	assert_int_equal(guestmem_chunks(r, n, granule, threads, c, ARRAY_SIZE(c), &k), 0);
	for (size_t i = 0; i < k; i++) {
		assert_true(c[i].region < n);
		assert_int_equal(c[i].offset, covered[c[i].region]); /* no gap, no overlap */
		assert_true(c[i].size > 0);
		covered[c[i].region] += c[i].size;
		if (i > 0)
			assert_true(c[i].thread == c[i - 1].thread || c[i].thread == c[i - 1].thread + 1);
		if (i > 0 && c[i].region == c[i - 1].region)
			assert_int_equal(c[i].thread, c[i - 1].thread + 1); /* a cut inside a region starts a share */
		share[c[i].thread] += c[i].size;
		used = c[i].thread + 1 > used ? c[i].thread + 1 : used;
	}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(covered[i], r[i].size);
	assert_int_equal(used, expect_threads);
	for (unsigned t = 0; t < used; t++) {
		min = share[t] < min ? share[t] : min;
		max = share[t] > max ? share[t] : max;
	}
	assert_true(max - min <= granule * n);
}

static void test_chunks(void **s)
{
	struct guestmem_region one[] = { { .gpa = 0, .size = 256 * M } };
	struct guestmem_region two[] = { { .gpa = 0, .size = 3 * G }, { .gpa = 4 * G, .size = G } };
	struct guestmem_region small[] = { { .gpa = 0, .size = 4 * M } };
	struct guestmem_region ragged[] = { { .gpa = 0, .size = 5 * 4096 }, { .gpa = 8 * M, .size = 3 * 4096 } };
	struct guestmem_chunk c[8];
	size_t k;
	(void)s;

	/* One region, 2 threads: two halves on 2M boundaries. */
	assert_int_equal(guestmem_chunks(one, 1, 2 * M, 2, c, 8, &k), 0);
	assert_int_equal(k, 2);
	assert_int_equal(c[0].offset, 0);
	assert_int_equal(c[0].size, 128 * M);
	assert_int_equal(c[1].offset, 128 * M);
	assert_int_equal(c[1].thread, 1);
	check_chunks(one, 1, 2 * M, 2, 2);
	check_chunks(one, 1, 2 * M, 3, 3); /* 128 pages in 43/43/42 */
	check_chunks(one, 1, 4096, 7, 7);

	/* Two regions, 4 threads: 1G each; the second region is thread 3's alone. */
	assert_int_equal(guestmem_chunks(two, 2, 2 * M, 4, c, 8, &k), 0);
	assert_int_equal(k, 4);
	assert_int_equal(c[3].region, 1);
	assert_int_equal(c[3].thread, 3);
	assert_int_equal(c[3].size, G);
	/* 3 threads: a share spans the hole (one chunk per region it touches). */
	assert_int_equal(guestmem_chunks(two, 2, 2 * M, 3, c, 8, &k), 0);
	assert_int_equal(k, 4);
	assert_int_equal(c[2].thread, 2);
	assert_int_equal(c[2].region, 0);
	assert_int_equal(c[3].thread, 2);
	assert_int_equal(c[3].region, 1);
	check_chunks(two, 2, 2 * M, 3, 3);
	check_chunks(two, 2, G, 4, 4);

	/* More threads than granules: one per granule. */
	check_chunks(small, 1, 2 * M, 8, 2);
	/* Regions that end mid-granule (4K pieces with a 2M granule) still get covered. */
	check_chunks(ragged, 2, 2 * M, 4, 2);

	/* Too small an output array, bad arguments. */
	assert_int_equal(guestmem_chunks(two, 2, 2 * M, 3, c, 2, &k), -E2BIG);
	assert_int_equal(guestmem_chunks(two, 2, 0, 3, c, 8, &k), -EINVAL);
	assert_int_equal(guestmem_chunks(two, 2, 2 * M, 0, c, 8, &k), -EINVAL);
	assert_true(guestmem_usable_cpus() >= 1);
}

/* Real anonymous guest memory: no fd, aligned host addresses, prefault over threads fills it all. */
static void test_anon_real(void **s)
{
	_cleanup_guestmem_ struct guestmem *m = NULL;
	uint64_t huge = UINT64_MAX;
	(void)s;

	root_set(NULL);
	assert_int_equal(guestmem_new(&(struct guestmem_config){ .size = 12 * M, .backing = GUESTMEM_ANON,
								 .hole_start = 4 * M, .hole_end = 8 * M },
				      &m),
			 0);
	assert_int_equal(guestmem_fd(m), -1);
	assert_int_equal(guestmem_choice(m)->backing, GUESTMEM_ANON);
	for (size_t i = 0; i < guestmem_n_regions(m); i++) {
		assert_int_equal(guestmem_region(m, i)->fd, -1);
		assert_int_equal((uintptr_t)guestmem_region(m, i)->hva % guestmem_page_size(m), 0);
	}
	assert_int_equal(guestmem_prefault(m, 3), 0);
	assert_int_equal(guestmem_prefault(m, 0), 0); /* one thread per usable CPU */
	assert_int_equal(guestmem_huge_bytes(m, &huge), 0);
	assert_true(huge <= 12 * M);
	root_set(tree);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_host_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thp_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shmem_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hugetlb_pools, setup, teardown),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_chunks),
		cmocka_unit_test_setup_teardown(test_anon_real, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
