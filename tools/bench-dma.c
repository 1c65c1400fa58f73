/* bench-dma.c: `ptctl bench dma`: how fast guest memory becomes DMA-able: pinning cold memory in
 * MAP_DMA versus prefaulting it in parallel first, then MAP_DMA and UNMAP_DMA. Prints, never judges. */
#include <getopt.h>
#include <inttypes.h>
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
	char p[32];

	if (r >= 0)
		return 0;
	format_size(p, sizeof(p), cfg->page_size);
	if (r == -ENOMEM && cfg->page_size > 4096)
		log_error("cannot allocate %s of %s huge pages: too few are reserved "
			  "(echo N > /sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/nr_hugepages)",
			  size, p, cfg->page_size / 1024);
	else if (r == -ENOSPC)
		log_error("%s of guest memory does not fit the container's usable IOVA ranges", size);
	else
		log_error("cannot allocate %s of guest memory (%s pages): %s", size, p, strerror(-r));
	return r;
}

static int add_rate(json_object *o, const char *key, double seconds, uint64_t bytes)
{
	char k[64];
	int r;

	snprintf(k, sizeof(k), "%s_ms", key);
	r = json_add(o, k, json_object_new_double(seconds * 1e3));
	snprintf(k, sizeof(k), "%s_gb_per_s", key);
	if (r >= 0)
		r = json_add(o, k, json_object_new_double(seconds > 0 ? (double)bytes / seconds / 1e9 : 0));
	return r;
}

struct bench {
	const char *device;
	struct guestmem_config cfg;
	unsigned threads;
	char size[32], page[32];
	/* results */
	uint32_t entries;
	double cold, prefault, map, unmap; /* seconds */
	bool phys_known;
	size_t phys_runs;
	uint64_t largest_run;
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
	int r;

	if (alloc_mem(&b->cfg, b->size, &m) < 0)
		return -ENOMEM;
	r = map_timed(b, c, m, &b->cold, &rep, &d);
	if (r < 0)
		return r;
	b->entries = rep.entries;
	iommu_dma_map_free(d);
	return 0;
}

/* Where the prefaulted pages landed (not timed): fewer, larger runs let the IOMMU use superpages. */
static void phys_layout(struct bench *b, const struct guestmem *m)
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
	free(runs);
}

/* Warm round: fault the pages in with N threads first; pinning then only walks page tables. */
static int round_warm(struct bench *b, struct vfio_container *c)
{
	_cleanup_guestmem_ struct guestmem *m = NULL;
	struct iommu_dma_map *d = NULL;
	struct iommu_dma_report rep;
	double t0;
	int r;

	if (alloc_mem(&b->cfg, b->size, &m) < 0)
		return -ENOMEM;
	t0 = now();
	r = guestmem_prefault(m, b->threads);
	b->prefault = now() - t0;
	if (r < 0) {
		log_error("prefaulting %s of guest memory failed: %s", b->size, strerror(-r));
		return r;
	}
	phys_layout(b, m);
	r = map_timed(b, c, m, &b->map, &rep, &d);
	if (r < 0)
		return r;
	t0 = now();
	iommu_dma_map_free(d);
	b->unmap = now() - t0;
	return 0;
}

static int bench_json(const struct bench *b, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object();
	uint64_t n = b->cfg.size;
	int r;

	if (!o)
		return -ENOMEM;
	r = json_add_str(o, "device", b->device);
	if (r >= 0)
		r = json_add_int(o, "size", (int64_t)n);
	if (r >= 0)
		r = json_add_str(o, "page", b->page);
	if (r >= 0)
		r = json_add_int(o, "threads", b->threads);
	if (r >= 0)
		r = json_add_int(o, "entries", b->entries);
	if (r >= 0)
		r = b->phys_known ? json_add_int(o, "phys_runs", (int64_t)b->phys_runs) : json_add_null(o, "phys_runs");
	if (r >= 0)
		r = b->phys_known ? json_add_int(o, "largest_phys_run", (int64_t)b->largest_run)
				  : json_add_null(o, "largest_phys_run");
	if (r >= 0)
		r = add_rate(o, "cold_map", b->cold, n);
	if (r >= 0)
		r = add_rate(o, "prefault", b->prefault, n);
	if (r >= 0)
		r = add_rate(o, "map", b->map, n);
	if (r >= 0)
		r = add_rate(o, "unmap", b->unmap, n);
	if (r >= 0)
		r = add_rate(o, "prefault_and_map", b->prefault + b->map, n);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

static int parse_args(int argc, char **argv, const struct verb_ctx *ctx, struct bench *b)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' }, { "size", required_argument, NULL, 's' },
		{ "page", required_argument, NULL, 'p' },   { "threads", required_argument, NULL, 't' },
		{},
	};
	int opt, t;

	while ((opt = getopt_long(argc, argv, "d:s:p:t:", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			b->device = optarg;
			break;
		case 's':
			if (parse_size(optarg, &b->cfg.size) < 0 || b->cfg.size == 0)
				return verb_usage_error(ctx, argv[0], "--size '%s' is not a size (e.g. 256M, 2G)", optarg);
			break;
		case 'p':
			if (parse_page(optarg, &b->cfg.page_size) < 0)
				return verb_usage_error(ctx, argv[0], "--page must be 4k, 2m or 1g, not '%s'", optarg);
			break;
		case 't':
			if (parse_int(optarg, &t) < 0 || t < 1 || t > 64)
				return verb_usage_error(ctx, argv[0], "--threads must be 1..64, not '%s'", optarg);
			b->threads = (unsigned)t;
			break;
		default:
			return verb_usage_error(ctx, argv[0], "unknown option");
		}
	}
	if (optind != argc)
		return verb_usage_error(ctx, argv[0], "unexpected argument '%s'", argv[optind]);
	if (!b->device)
		return verb_usage_error(ctx, argv[0], "--device ADDRESS is required (a device on vfio-pci: its IOMMU "
						      "group gives the container an IOMMU)");
	if (b->cfg.size % b->cfg.page_size)
		return verb_usage_error(ctx, argv[0], "--size must be a multiple of the page size");
	format_size(b->size, sizeof(b->size), b->cfg.size);
	format_size(b->page, sizeof(b->page), b->cfg.page_size);
	return EXIT_OK;
}

static int run_bench(int argc, char **argv, const struct verb_ctx *ctx)
{
	_cleanup_vfio_container_ struct vfio_container *c = NULL;
	_cleanup_vfio_group_ struct vfio_group *g = NULL;
	_cleanup_json_ json_object *obj = NULL;
	struct bench b = {
		.cfg = { .size = 256ull << 20, .page_size = 4096, .name = "ptctl-bench-dma" },
		.threads = 2,
	};
	int r;

	r = parse_args(argc, argv, ctx, &b);
	if (r != EXIT_OK)
		return r;
	r = verb_vfio_open(ctx, argv[0], b.device, &c, &g, NULL);
	if (r != EXIT_OK)
		return r;
	b.cfg.limits = vfio_container_limits(c);
	if (round_cold(&b, c) < 0 || round_warm(&b, c) < 0)
		return EXIT_FAIL;
	if (bench_json(&b, &obj) < 0)
		return EXIT_FAIL;
	return out_record(stdout, obj) < 0 ? EXIT_FAIL : EXIT_OK;
}

PTCTL_VERB(bench_dma, .name = "bench dma", .synopsis = "--device ADDRESS [--size S] [--page 4k|2m|1g] [--threads N]",
	   .summary = "time making guest memory DMA-able: prefault, MAP_DMA, UNMAP_DMA",
	   .flags = VERB_JSON, .run = run_bench,
	   .help = "DESCRIPTION\n"
		   "    Measures what it costs to give a VM's memory to a device. Guest memory of the given\n"
		   "    size is laid out as a VM would have it (RAM below 3 GiB, the rest from 4 GiB, around\n"
		   "    the container's reserved IOVA windows), backed by a memfd (or huge pages) and mapped\n"
		   "    into a VFIO container with IOVA = guest-physical address.\n"
		   "\n"
		   "    Two rounds on fresh memory each: cold, where MAP_DMA faults in, zeroes and pins every\n"
		   "    page itself in one thread; and warm, where the pages are first faulted in by N threads\n"
		   "    in parallel, then mapped, then unmapped. Page zeroing dominates, so the warm round\n"
		   "    shows what parallel prefault buys. A benchmark: it prints figures and judges nothing.\n"
		   "\n"
		   "    The container needs an IOMMU group, so --device names a device bound to vfio-pci\n"
		   "    whose group is viable and not in use; the device itself is not touched. Memory is\n"
		   "    pinned: without CAP_IPC_LOCK, RLIMIT_MEMLOCK must cover --size.\n"
		   "\n"
		   "OPTIONS\n"
		   "    --device ADDRESS  a PCI device on vfio-pci (required)\n"
		   "    --size S          guest memory size, e.g. 256M (default), 2G\n"
		   "    --page P          backing page size: 4k (memfd, default), 2m or 1g (hugetlb; reserve\n"
		   "                      the pages first under /sys/kernel/mm/hugepages)\n"
		   "    --threads N       prefault threads (default 2)\n"
		   "\n"
		   "OUTPUT\n"
		   "    device, size (bytes), page, threads, entries (MAP_DMA calls per round)\n"
		   "    phys_runs, largest_phys_run  physically contiguous runs of the prefaulted memory and\n"
		   "                      the largest in bytes (/proc/self/pagemap; null without\n"
		   "                      CAP_SYS_ADMIN, which the kernel needs to show physical addresses)\n"
		   "    cold_map_ms, cold_map_gb_per_s           MAP_DMA on untouched memory\n"
		   "    prefault_ms, prefault_gb_per_s           parallel prefault\n"
		   "    map_ms, map_gb_per_s                     MAP_DMA on prefaulted memory\n"
		   "    unmap_ms, unmap_gb_per_s                 UNMAP_DMA\n"
		   "    prefault_and_map_ms, prefault_and_map_gb_per_s  the warm round's total\n"
		   "    (GB are 10^9 bytes)\n"
		   "\n"
		   "EXAMPLES\n"
		   "    ptctl bench dma --device 0000:03:00.0 --size 1G --threads 4\n"
		   "    ptctl bench dma --device 03:00.0 --page 2m --json\n");
