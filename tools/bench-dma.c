/* bench-dma.c: `ptctl bench dma`: how fast guest memory becomes DMA-able: pinning cold memory in
 * MAP_DMA versus prefaulting it in parallel first, then MAP_DMA and UNMAP_DMA. Prints, never judges. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <time.h>

#include "iommu/iommu.h"
#include "util/log.h"
#include "util/output.h"
#include "verb.h"
#include "verb-vfio.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_page(const char *s, uint64_t *ret)
{
	if (!strcasecmp(s, "4k"))
		*ret = 4096;
	else if (!strcasecmp(s, "2m"))
		*ret = 2ull << 20;
	else if (!strcasecmp(s, "1g"))
		*ret = 1ull << 30;
	else
		return -EINVAL;
	return 0;
}

/* One error line for a refused or failed mapping, with the numbers the report carries. */
static void report_map_error(int r, const struct iommu_dma_report *rep, const char *size)
{
	char a[32], b[32];

	switch (r) {
	case -ENOMEM:
		format_size(a, sizeof(a), rep->bytes + rep->memlock_used);
		format_size(b, sizeof(b), rep->memlock_limit);
		log_error("DMA mapping of %s refused: it needs %s of locked memory, RLIMIT_MEMLOCK is %s "
			  "(raise it with `ulimit -l`, or run with CAP_IPC_LOCK)", size, a, b);
		break;
	case -ENOSPC:
		log_error("DMA mapping of %s refused: it needs %u MAP_DMA entries, the container has %u left "
			  "(raise vfio_iommu_type1's dma_entry_limit)", size, rep->entries, rep->dma_avail);
		break;
	case -EADDRNOTAVAIL:
		log_error("DMA mapping of %s refused: guest memory 0x%" PRIx64 "+0x%" PRIx64
			  " collides with the reserved IOVA window 0x%" PRIx64 "-0x%" PRIx64 " (use a smaller --size)",
			  size, rep->bad_gpa, rep->bad_size, rep->reserved_first, rep->reserved_last);
		break;
	default:
		log_error("DMA mapping of %s failed: %s", size, strerror(-r));
	}
}

static int alloc_mem(const struct guestmem_config *cfg, const char *size, struct guestmem **ret)
{
	int r = guestmem_new(cfg, ret);
	bool hugetlb = cfg->backing == GUESTMEM_HUGETLB_2M || cfg->backing == GUESTMEM_HUGETLB_1G;
	uint64_t page = cfg->backing == GUESTMEM_HUGETLB_1G ? 1ull << 30 : 2ull << 20;

	if (r >= 0)
		return 0;
	if (hugetlb && (r == -ENOMEM || r == -EINVAL))
		log_error("cannot allocate %s of %s huge pages: too few are reserved "
			  "(echo N > /sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/nr_hugepages)",
			  size, page == (1ull << 30) ? "1G" : "2M", page / 1024);
	else if (r == -ENOSPC)
		log_error("%s of guest memory does not fit the container's usable IOVA ranges", size);
	else
		log_error("cannot allocate %s of guest memory (%s): %s", size, guestmem_backing_name(cfg->backing),
			  strerror(-r));
	return r;
}

static int add_ms(json_object *o, const char *key, double seconds)
{
	char k[64];
	snprintf(k, sizeof(k), "%s_ms", key);
	return json_add(o, k, json_object_new_double(seconds * 1e3));
}

static int add_rate(json_object *o, const char *key, double seconds, uint64_t bytes)
{
	char k[64];
	int r = add_ms(o, key, seconds);

	snprintf(k, sizeof(k), "%s_gb_per_s", key);
	if (r >= 0)
		r = json_add(o, k, json_object_new_double(seconds > 0 ? (double)bytes / seconds / 1e9 : 0));
	return r;
}

struct bench {
	const char *device;
	struct guestmem_config cfg;
	unsigned threads;
	char size[32];
	/* results */
	struct guestmem_choice choice;
	uint32_t entries;
	double cold_alloc, cold, alloc, prefault, map, unmap; /* seconds */
	uint64_t huge_bytes;
	bool huge_known;
	bool phys_known;
	size_t phys_runs;
	uint64_t largest_run;
	uint64_t iommu_pages[64];
};

/* Both rounds time the same MAP_DMA call; only what the pages looked like beforehand differs. */
static int map_timed(const struct bench *b, struct vfio_container *c, const struct guestmem *m, double *secs,
		     struct iommu_dma_report *rep, struct iommu_dma_map **ret)
{
	double t0 = now();
	int r = iommu_dma_map_guestmem(c, m, rep, ret);

	*secs = now() - t0;
	if (r < 0)
		report_map_error(r, rep, b->size);
	return r;
}

/* Cold round: MAP_DMA faults and zeroes every page itself while pinning, in one thread. */
static int round_cold(struct bench *b, struct vfio_container *c)
{
	_cleanup_guestmem_ struct guestmem *m = NULL;
	struct iommu_dma_map *d = NULL;
	struct iommu_dma_report rep;
	double t0 = now();
	int r;

	if (alloc_mem(&b->cfg, b->size, &m) < 0)
		return -ENOMEM;
	b->cold_alloc = now() - t0;
	r = map_timed(b, c, m, &b->cold, &rep, &d);
	if (r < 0)
		return r;
	b->entries = rep.entries;
	iommu_dma_map_free(d);
	return 0;
}

/* Where the prefaulted pages landed (not timed): physically contiguous runs and the IOMMU pages they
 * make. Fewer, larger runs let the IOMMU use superpages. */
static void phys_layout(struct bench *b, const struct guestmem *m, const struct vfio_iommu_limits *l)
{
	struct iommu_phys_run *runs = NULL;
	bool hidden = false;
	int r = iommu_pagemap_report(m, &runs, &b->phys_runs, &hidden);

	if (r < 0)
		log_warning("cannot read /proc/self/pagemap: %s, ignoring", strerror(-r));
	else if (hidden)
		log_warning("physical addresses read as 0: /proc/self/pagemap shows them only with "
			    "CAP_SYS_ADMIN, ignoring");
	b->phys_known = r >= 0 && !hidden;
	for (size_t i = 0; b->phys_known && i < b->phys_runs; i++)
		if (runs[i].size > b->largest_run)
			b->largest_run = runs[i].size;
	if (b->phys_known)
		iommu_dma_page_counts(runs, b->phys_runs, l->pgsize_bitmap, b->iommu_pages);
	free(runs);
	b->huge_known = guestmem_huge_bytes(m, &b->huge_bytes) >= 0;
}

/* Warm round, what a VM with an assigned device does: allocate, fault the pages in with N threads,
 * then MAP_DMA (pinning only walks page tables), then UNMAP_DMA. */
static int round_warm(struct bench *b, struct vfio_container *c)
{
	_cleanup_guestmem_ struct guestmem *m = NULL;
	struct iommu_dma_map *d = NULL;
	struct iommu_dma_report rep;
	double t0 = now();
	int r;

	if (alloc_mem(&b->cfg, b->size, &m) < 0)
		return -ENOMEM;
	b->alloc = now() - t0;
	b->choice = *guestmem_choice(m);
	t0 = now();
	r = guestmem_prefault(m, b->threads);
	b->prefault = now() - t0;
	if (r < 0) {
		log_error("prefaulting %s of guest memory failed: %s", b->size, strerror(-r));
		return r;
	}
	phys_layout(b, m, vfio_container_limits(c));
	r = map_timed(b, c, m, &b->map, &rep, &d);
	if (r < 0)
		return r;
	b->entries = rep.entries;
	t0 = now();
	iommu_dma_map_free(d);
	b->unmap = now() - t0;
	return 0;
}

static int pages_json(const struct bench *b, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object();
	char k[32];
	int r = 0;

	if (!o)
		return -ENOMEM;
	for (int i = 0; i < 64 && r >= 0; i++) {
		if (!b->iommu_pages[i])
			continue;
		format_size(k, sizeof(k), 1ull << i);
		r = json_add_int(o, k, (int64_t)b->iommu_pages[i]);
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

static int bench_json(const struct bench *b, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object();
	json_object *pages = NULL;
	uint64_t n = b->cfg.size;
	char page[32];
	int r;

	if (!o)
		return -ENOMEM;
	format_size(page, sizeof(page), b->choice.page_size);
	r = json_add_str(o, "device", b->device);
	if (r >= 0)
		r = json_add_int(o, "size", (int64_t)n);
	if (r >= 0)
		r = json_add_str(o, "backing", guestmem_backing_name(b->choice.backing));
	if (r >= 0)
		r = json_add_str(o, "page", page);
	if (r >= 0)
		r = json_add_bool(o, "transparent", b->choice.transparent);
	if (r >= 0)
		r = json_add_str(o, "why", b->choice.reason);
	if (r >= 0)
		r = b->huge_known ? json_add_int(o, "huge_bytes", (int64_t)b->huge_bytes) : json_add_null(o, "huge_bytes");
	if (r >= 0)
		r = json_add_int(o, "threads", b->threads);
	if (r >= 0)
		r = json_add_int(o, "entries", b->entries);
	if (r >= 0 && b->phys_known && (r = pages_json(b, &pages)) >= 0)
		r = json_add(o, "iommu_pages", pages);
	else if (r >= 0)
		r = json_add_null(o, "iommu_pages");
	if (r >= 0)
		r = b->phys_known ? json_add_int(o, "phys_runs", (int64_t)b->phys_runs) : json_add_null(o, "phys_runs");
	if (r >= 0)
		r = b->phys_known ? json_add_int(o, "largest_phys_run", (int64_t)b->largest_run)
				  : json_add_null(o, "largest_phys_run");
	if (r >= 0)
		r = b->cold > 0 ? add_rate(o, "cold_map", b->cold, n) : json_add_null(o, "cold_map_ms");
	if (r >= 0)
		r = add_ms(o, "alloc", b->alloc);
	if (r >= 0)
		r = add_rate(o, "prefault", b->prefault, n);
	if (r >= 0)
		r = add_rate(o, "map", b->map, n);
	if (r >= 0)
		r = add_rate(o, "unmap", b->unmap, n);
	if (r >= 0)
		r = add_rate(o, "prefault_and_map", b->prefault + b->map, n);
	if (r >= 0)
		r = add_rate(o, "ready", b->alloc + b->prefault + b->map, n);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

#define MAX_SIZES 8

struct opts {
	const char *device;
	enum guestmem_backing backing;
	unsigned threads;
	uint64_t sizes[MAX_SIZES];
	size_t nsizes;
	bool sweep;
	bool no_cold;      /* only the warm round (what a VM does) */
	double vfio_setup; /* seconds to open the group and set up the container */
};

static int parse_sizes(const char *s, struct opts *o)
{
	_cleanup_free_ char *copy = strdup(s);
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	o->nsizes = 0;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (o->nsizes == MAX_SIZES || parse_size(t, &o->sizes[o->nsizes]) < 0 || o->sizes[o->nsizes] == 0)
			return -EINVAL;
		o->nsizes++;
	}
	return o->nsizes ? 0 : -EINVAL;
}

static int parse_args(int argc, char **argv, const struct verb_ctx *ctx, struct opts *o)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' }, { "size", required_argument, NULL, 's' },
		{ "sizes", required_argument, NULL, 'S' },  { "backing", required_argument, NULL, 'b' },
		{ "page", required_argument, NULL, 'p' },   { "threads", required_argument, NULL, 't' },
		{ "no-cold", no_argument, NULL, 'n' },      {},
	};
	uint64_t page;
	int opt, t;

	while ((opt = getopt_long(argc, argv, "d:s:S:b:p:t:", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			o->device = optarg;
			break;
		case 's':
			if (parse_size(optarg, &o->sizes[0]) < 0 || o->sizes[0] == 0)
				return verb_usage_error(ctx, argv[0], "--size '%s' is not a size (e.g. 256M, 2G)", optarg);
			o->nsizes = 1;
			o->sweep = false;
			break;
		case 'S':
			if (parse_sizes(optarg, o) < 0)
				return verb_usage_error(ctx, argv[0], "--sizes '%s': give 1 to %d sizes separated by commas "
						       "(e.g. 64M,256M,1G)", optarg, MAX_SIZES);
			o->sweep = true;
			break;
		case 'b':
			if (guestmem_backing_from_string(optarg, &o->backing) < 0)
				return verb_usage_error(ctx, argv[0], "--backing must be anon, memfd, hugetlb-2m, hugetlb-1g "
						       "or auto, not '%s'", optarg);
			break;
		case 'p':
			/* The older spelling: 4k is a plain memfd, 2m and 1g are hugetlb. */
			if (parse_page(optarg, &page) < 0)
				return verb_usage_error(ctx, argv[0], "--page must be 4k, 2m or 1g, not '%s'", optarg);
			o->backing = page == 4096 ? GUESTMEM_MEMFD : page == (2ull << 20) ? GUESTMEM_HUGETLB_2M
											    : GUESTMEM_HUGETLB_1G;
			break;
		case 'n':
			o->no_cold = true;
			break;
		case 't':
			if (parse_int(optarg, &t) < 0 || t < 1 || t > 64)
				return verb_usage_error(ctx, argv[0], "--threads must be 1..64, not '%s'", optarg);
			o->threads = (unsigned)t;
			break;
		default:
			return verb_usage_error(ctx, argv[0], "unknown option");
		}
	}
	if (optind != argc)
		return verb_usage_error(ctx, argv[0], "unexpected argument '%s'", argv[optind]);
	if (!o->device)
		return verb_usage_error(ctx, argv[0], "--device ADDRESS is required (a device on vfio-pci: its IOMMU "
						      "group gives the container an IOMMU)");
	for (size_t i = 0; i < o->nsizes; i++) {
		uint64_t p = o->backing == GUESTMEM_HUGETLB_1G ? 1ull << 30
			     : o->backing == GUESTMEM_HUGETLB_2M ? 2ull << 20 : 4096;
		if (o->sizes[i] % p)
			return verb_usage_error(ctx, argv[0], "--size must be a multiple of the page size (%s)",
						p == 4096 ? "4K" : p == (2ull << 20) ? "2M" : "1G");
	}
	return EXIT_OK;
}

static int run_one(const struct opts *o, uint64_t size, struct vfio_container *c, json_object **ret)
{
	struct bench b = {
		.device = o->device,
		.cfg = { .size = size, .backing = o->backing, .name = "ptctl-bench-dma", .limits = vfio_container_limits(c) },
		.threads = o->threads ? o->threads : guestmem_usable_cpus(),
	};

	json_object *j;
	int r;

	format_size(b.size, sizeof(b.size), size);
	if ((!o->no_cold && round_cold(&b, c) < 0) || round_warm(&b, c) < 0)
		return -EIO;
	r = bench_json(&b, &j);
	if (r < 0)
		return r;
	/* The container's set-up, once per run: with ready_ms, all of the VFIO work a VM's start pays. */
	if (add_ms(j, "vfio_setup", o->vfio_setup) < 0) {
		json_object_put(j);
		return -ENOMEM;
	}
	*ret = j;
	return 0;
}

static double member_double(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_double(v) : 0;
}

/* Least-squares fit of ready time against size: a fixed cost plus a cost per GiB, and how far the
 * worst point strays from the line. */
static int scaling_json(json_object *runs, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object();
	size_t n = json_object_array_length(runs);
	double sx = 0, sy = 0, sxx = 0, sxy = 0, a, b, worst = 0;
	int r;

	if (!o)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(runs, i);
		double x = member_double(e, "size") / (1u << 30), y = member_double(e, "ready_ms");
		sx += x, sy += y, sxx += x * x, sxy += x * y;
	}
	if (n < 2 || n * sxx - sx * sx <= 0) {
		b = sx > 0 ? sy / sx : 0;
		a = 0;
	} else {
		b = (n * sxy - sx * sy) / (n * sxx - sx * sx);
		a = (sy - b * sx) / n;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(runs, i);
		double x = member_double(e, "size") / (1u << 30), y = member_double(e, "ready_ms");
		double dev = y > 0 ? fabs(a + b * x - y) / y : 0;
		worst = dev > worst ? dev : worst;
	}
	r = json_add(o, "fixed_ms", json_object_new_double(a));
	if (r >= 0)
		r = json_add(o, "ms_per_gib", json_object_new_double(b));
	if (r >= 0)
		r = json_add(o, "worst_deviation_pct", json_object_new_double(worst * 100));
	/* Within 20% of a straight line at every size is what we call linear. */
	if (r >= 0)
		r = json_add_bool(o, "linear", worst <= 0.20);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

static const struct out_column sweep_columns[] = {
	{ "size", "SIZE" },         { "backing", "BACKING" },      { "page", "PAGE" },
	{ "huge_bytes", "HUGE" },   { "entries", "ENTRIES" },      { "iommu", "IOMMU PAGES" },
	{ "cold_map_ms", "COLD MAP ms" }, { "prefault_ms", "PREFAULT ms" }, { "map_ms", "MAP ms" },
	{ "ready_ms", "READY ms" }, { "ready_gb_per_s", "READY GB/s" },
};

/* Table rows: the sizes and counts as people read them. */
static int sweep_row(json_object *run, json_object **ret)
{
	_cleanup_json_ json_object *row = json_object_new_object();
	json_object *v;
	char buf[128] = "", size[32];
	size_t len = 0;

	if (!row)
		return -ENOMEM;
	json_object_object_foreach(run, key, val) {
		if (json_object_object_add(row, key, json_object_get(val)) < 0)
			return -ENOMEM;
	}
	format_size(size, sizeof(size), (uint64_t)member_double(run, "size"));
	if (json_add_str(row, "size", size) < 0)
		return -ENOMEM;
	if (json_object_object_get_ex(run, "huge_bytes", &v) && json_object_get_type(v) == json_type_int) {
		format_size(size, sizeof(size), (uint64_t)json_object_get_int64(v));
		if (json_add_str(row, "huge_bytes", size) < 0)
			return -ENOMEM;
	}
	if (json_object_object_get_ex(run, "iommu_pages", &v) && json_object_get_type(v) == json_type_object) {
		json_object_object_foreach(v, k, count) {
			len += (size_t)snprintf(buf + len, len < sizeof(buf) ? sizeof(buf) - len : 0, "%s%" PRId64 "x%s",
						len ? " " : "", json_object_get_int64(count), k);
		}
	}
	if (json_add_str(row, "iommu", len ? buf : NULL) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(row);
	return 0;
}

static int print_sweep(json_object *runs, json_object *scaling)
{
	_cleanup_json_ json_object *rows = json_object_new_array();
	bool linear;

	if (!rows)
		return -ENOMEM;
	for (size_t i = 0; i < json_object_array_length(runs); i++) {
		json_object *row;
		if (sweep_row(json_object_array_get_idx(runs, i), &row) < 0 || json_object_array_add(rows, row) < 0)
			return -ENOMEM;
	}
	if (out_table(stdout, rows, sweep_columns, ARRAY_SIZE(sweep_columns)) < 0)
		return -EIO;
	linear = member_double(scaling, "linear") != 0;
	printf("ready time ~ %.0f ms + %.0f ms per GiB; worst deviation from that line %.0f%%: %s\n",
	       member_double(scaling, "fixed_ms"), member_double(scaling, "ms_per_gib"),
	       member_double(scaling, "worst_deviation_pct"),
	       linear ? "linear in size" : "NOT linear in size (see the per-size figures)");
	return 0;
}

static int run_bench(int argc, char **argv, const struct verb_ctx *ctx)
{
	_cleanup_vfio_container_ struct vfio_container *c = NULL;
	_cleanup_vfio_group_ struct vfio_group *g = NULL;
	_cleanup_json_ json_object *runs = json_object_new_array(), *top = NULL, *scaling = NULL;
	struct opts o = { .backing = GUESTMEM_AUTO, .sizes = { 256ull << 20 }, .nsizes = 1 };
	double setup;
	int r;

	if (!runs)
		return EXIT_FAIL;
	r = parse_args(argc, argv, ctx, &o);
	if (r != EXIT_OK)
		return r;
	setup = now();
	r = verb_vfio_open(ctx, argv[0], o.device, &c, &g, NULL);
	if (r != EXIT_OK)
		return r;
	o.vfio_setup = now() - setup;
	for (size_t i = 0; i < o.nsizes; i++) {
		json_object *one;
		if (run_one(&o, o.sizes[i], c, &one) < 0)
			return EXIT_FAIL;
		if (!o.sweep)
			return out_record(stdout, one) < 0 ? (json_object_put(one), EXIT_FAIL)
							   : (json_object_put(one), EXIT_OK);
		if (json_object_array_add(runs, one) < 0)
			return EXIT_FAIL;
	}
	if (scaling_json(runs, &scaling) < 0)
		return EXIT_FAIL;
	if (!out_is_json())
		return print_sweep(runs, scaling) < 0 ? EXIT_FAIL : EXIT_OK;
	top = json_object_new_object();
	if (!top || json_add(top, "runs", json_object_get(runs)) < 0 ||
	    json_add(top, "scaling", json_object_get(scaling)) < 0)
		return EXIT_FAIL;
	return out_json(stdout, top) < 0 ? EXIT_FAIL : EXIT_OK;
}

PTCTL_VERB(bench_dma, .name = "bench dma",
	   .synopsis = "--device ADDRESS [--size S | --sizes S,S,...] [--backing B] [--threads N] [--no-cold]",
	   .summary = "time making guest memory DMA-ready: allocate, prefault, MAP_DMA, UNMAP_DMA",
	   .flags = VERB_JSON, .run = run_bench,
	   .help = "DESCRIPTION\n"
		   "    Measures what it costs to give a VM's memory to a device. Guest memory of the given\n"
		   "    size is laid out as a VM would have it (RAM below 3 GiB, the rest from 4 GiB, around\n"
		   "    the container's reserved IOVA windows), backed as `ptctl vm run` backs it, and mapped\n"
		   "    into a VFIO container with IOVA = guest-physical address.\n"
		   "\n"
		   "    Two rounds on fresh memory each: cold, where MAP_DMA faults in, zeroes and pins every\n"
		   "    page itself in one thread; and warm, what a VM with an assigned device does: the pages\n"
		   "    are faulted in by N threads first (MADV_POPULATE_WRITE), then mapped, then unmapped.\n"
		   "    ready = allocate + prefault + map. A benchmark: it prints figures and judges nothing.\n"
		   "\n"
		   "    The backing is chosen per host unless --backing names one: hugetlb pages when enough\n"
		   "    are reserved (1G, then 2M), else anonymous memory with transparent huge pages (THP\n"
		   "    enabled always or madvise), else a memfd with shmem THP, else 4K pages; `why` says\n"
		   "    which settings decided. Regions and host addresses are aligned to the page size so\n"
		   "    each huge page can be a huge IOMMU page; iommu_pages counts the IOMMU pages the\n"
		   "    mapping takes, worked out from the physical layout (/proc/self/pagemap) and the\n"
		   "    IOMMU's page sizes, as type1 and the IOMMU driver build it.\n"
		   "\n"
		   "    The container needs an IOMMU group, so --device names a device bound to vfio-pci\n"
		   "    whose group is viable and not in use; the device itself is not touched. Memory is\n"
		   "    pinned: without CAP_IPC_LOCK, RLIMIT_MEMLOCK must cover the size.\n"
		   "\n"
		   "OPTIONS\n"
		   "    --device ADDRESS  a PCI device on vfio-pci (required)\n"
		   "    --size S          guest memory size, e.g. 256M (default), 2G\n"
		   "    --sizes S,S,...   a sweep (up to 8 sizes): one row per size, then how ready time grows\n"
		   "                      with size (a fixed cost plus a cost per GiB; linear when every size\n"
		   "                      is within 20% of that line)\n"
		   "    --backing B       auto (default), anon, memfd, hugetlb-2m or hugetlb-1g (reserve the\n"
		   "                      pages first under /sys/kernel/mm/hugepages)\n"
		   "    --page P          older spelling: 4k (memfd), 2m (hugetlb-2m), 1g (hugetlb-1g)\n"
		   "    --threads N       prefault threads (default: one per usable CPU)\n"
		   "    --no-cold         skip the cold round (cold_map_ms is null)\n"
		   "\n"
		   "OUTPUT\n"
		   "    device, size (bytes), backing, page (the backing's page size), transparent (THP: huge\n"
		   "    pages are best effort), why (the host settings that chose it), huge_bytes (bytes the\n"
		   "    kernel backs with huge pages after prefault), threads, entries (MAP_DMA calls)\n"
		   "    iommu_pages       IOMMU pages by size, e.g. {\"2M\": 128}\n"
		   "    phys_runs, largest_phys_run  physically contiguous runs of the prefaulted memory and\n"
		   "                      the largest in bytes (null without CAP_SYS_ADMIN, which the kernel\n"
		   "                      needs to show physical addresses)\n"
		   "    cold_map_ms, cold_map_gb_per_s           MAP_DMA on untouched memory\n"
		   "    alloc_ms                                 creating and mapping the memory (warm round)\n"
		   "    prefault_ms, prefault_gb_per_s           parallel prefault\n"
		   "    map_ms, map_gb_per_s                     MAP_DMA on prefaulted memory\n"
		   "    unmap_ms, unmap_gb_per_s                 UNMAP_DMA\n"
		   "    prefault_and_map_ms, ..._gb_per_s        prefault + map\n"
		   "    ready_ms, ready_gb_per_s                 allocate + prefault + map: DMA-ready\n"
		   "    vfio_setup_ms     opening the IOMMU group and setting up the container (once)\n"
		   "    (GB are 10^9 bytes). With --sizes and --json: {\"runs\": [...], \"scaling\": {fixed_ms,\n"
		   "    ms_per_gib, worst_deviation_pct, linear}}.\n"
		   "\n"
		   "EXAMPLES\n"
		   "    ptctl bench dma --device 0000:03:00.0 --size 1G --threads 4\n"
		   "    ptctl bench dma --device 03:00.0 --backing hugetlb-2m --json\n"
		   "    ptctl bench dma --device 03:00.0 --sizes 64M,256M,1G\n");
