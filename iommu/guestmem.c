/* guestmem.c: guest RAM as guest-physical regions (anonymous THP, a memfd, or hugetlb: backing.c chooses),
 * laid out around the PCI hole and the container's reserved IOVA windows; prefault split over threads. */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <linux/memfd.h>
#include <sys/mman.h>

#include "iommu/iommu.h"
#include "util/log.h"
#include "util/root.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

struct guestmem {
	int fd; /* -1 for anonymous memory */
	uint64_t size, page_size;
	struct guestmem_choice choice;
	size_t n;
	struct guestmem_region regions[GUESTMEM_MAX_REGIONS];
};

/* Window [first, last] (inclusive) shrunk inward to page boundaries; false if nothing is left. */
static bool align_window(uint64_t first, uint64_t last, uint64_t page, uint64_t *start, uint64_t *size)
{
	uint64_t s, e; /* e exclusive */

	if (first > UINT64_MAX - (page - 1))
		return false;
	s = (first + page - 1) & ~(page - 1);
	e = last == UINT64_MAX ? UINT64_MAX & ~(page - 1) : (last + 1) & ~(page - 1);
	if (e <= s)
		return false;
	*start = s;
	*size = e - s;
	return true;
}

static int add_piece(uint64_t first, uint64_t last, uint64_t page, uint64_t *remaining,
		     struct guestmem_region *regions, size_t max, size_t *n, uint64_t *fd_offset)
{
	uint64_t start, size;

	if (*remaining == 0 || !align_window(first, last, page, &start, &size))
		return 0;
	if (size > *remaining)
		size = *remaining;
	if (*n >= max)
		return -E2BIG;
	regions[(*n)++] = (struct guestmem_region){
		.gpa = start, .size = size, .hva = NULL, .fd = -1, .fd_offset = *fd_offset,
	};
	*fd_offset += size;
	*remaining -= size;
	return 0;
}

int guestmem_layout(const struct guestmem_config *cfg, struct guestmem_region *regions, size_t max, size_t *n)
{
	uint64_t page = cfg->page_size ? cfg->page_size : 4096;
	uint64_t hs = cfg->hole_start, he = cfg->hole_end;
	uint64_t remaining = cfg->size, fd_offset = 0;
	struct vfio_iova_span ram[2];
	size_t n_ram = 0, count = 0;
	const struct vfio_iommu_limits *l = cfg->limits;
	int r;

	if (page != 4096 && page != (2ull << 20) && page != (1ull << 30))
		return -EINVAL;
	if (cfg->size == 0 || cfg->size % page)
		return -EINVAL;
	if (hs == 0 && he == 0) {
		hs = GUESTMEM_HOLE_START;
		he = GUESTMEM_HOLE_END;
	}
	if (hs > he)
		return -EINVAL;
	/* RAM is what lies outside the hole; with no hole, one window of everything. */
	if (hs == he)
		ram[n_ram++] = (struct vfio_iova_span){ 0, UINT64_MAX };
	else {
		if (hs > 0)
			ram[n_ram++] = (struct vfio_iova_span){ 0, hs - 1 };
		ram[n_ram++] = (struct vfio_iova_span){ he, UINT64_MAX };
	}
	for (size_t i = 0; i < n_ram; i++) {
		if (!l || !l->has_iova_spans) {
			r = add_piece(ram[i].first, ram[i].last, page, &remaining, regions, max, &count, &fd_offset);
			if (r < 0)
				return r;
			continue;
		}
		/* Both lists are sorted, so intersecting in order keeps the regions sorted. */
		for (size_t j = 0; j < l->n_iova_spans; j++) {
			uint64_t f = ram[i].first > l->iova_spans[j].first ? ram[i].first : l->iova_spans[j].first;
			uint64_t t = ram[i].last < l->iova_spans[j].last ? ram[i].last : l->iova_spans[j].last;
			if (f > t)
				continue;
			r = add_piece(f, t, page, &remaining, regions, max, &count, &fd_offset);
			if (r < 0)
				return r;
		}
	}
	if (remaining > 0)
		return -ENOSPC;
	*n = count;
	return 0;
}

/* mmap of size bytes at an address aligned to 'align' (THP needs the host address and the guest
 * address to agree modulo 2M; hugetlb mappings come aligned already). */
static void *map_aligned(uint64_t size, uint64_t align, int fd, uint64_t off)
{
	uint8_t *p, *a;
	uint64_t slop = align > 4096 && fd < 0 ? align : 0;

	if (fd >= 0)
		return mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	p = mmap(NULL, size + slop, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED || !slop)
		return p;
	a = (uint8_t *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (a + size < p + size + slop)
		munmap(a + size, (size_t)(p + size + slop - (a + size)));
	return a;
}

static int create_fd(struct guestmem *m, const char *name)
{
	unsigned flags = MFD_CLOEXEC;

	if (m->choice.backing == GUESTMEM_HUGETLB_2M)
		flags |= MFD_HUGETLB | MFD_HUGE_2MB;
	else if (m->choice.backing == GUESTMEM_HUGETLB_1G)
		flags |= MFD_HUGETLB | MFD_HUGE_1GB;
	m->fd = memfd_create(name ? name : "ptctl-guestmem", flags);
	if (m->fd < 0) {
		int r = negative_errno();
		log_debug("memfd_create(%s): %s", guestmem_backing_name(m->choice.backing), strerror(-r));
		return r;
	}
	if (ftruncate(m->fd, (off_t)m->size) < 0) {
		int r = negative_errno();
		log_debug("memfd size %" PRIu64 ": %s", m->size, strerror(-r));
		return r;
	}
	return 0;
}

/* The choice for cfg: AUTO resolved against the host, a named backing checked against it. */
static int resolve_backing(const struct guestmem_config *cfg, struct guestmem_choice *c)
{
	struct guestmem_host host;
	char err[160] = "";
	int r;

	if (cfg->backing == GUESTMEM_AUTO || cfg->backing == GUESTMEM_ANON || cfg->backing == GUESTMEM_MEMFD) {
		if (cfg->host)
			host = *cfg->host;
		else
			guestmem_host_read(&host);
		r = guestmem_choose(&host, cfg->backing, cfg->size, c, err, sizeof(err));
	} else {
		/* hugetlb asked for: the kernel itself says whether the pages are there (ENOMEM at mmap). */
		uint64_t page = cfg->backing == GUESTMEM_HUGETLB_1G ? (1ull << 30) : (2ull << 20);
		if (cfg->backing != GUESTMEM_HUGETLB_2M && cfg->backing != GUESTMEM_HUGETLB_1G)
			return -EINVAL;
		*c = (struct guestmem_choice){ .backing = cfg->backing, .page_size = page };
		snprintf(c->reason, sizeof(c->reason), "asked for");
		r = 0;
	}
	if (r < 0)
		log_debug("guest memory backing %s: %s", guestmem_backing_name(cfg->backing), err);
	return r;
}

int guestmem_new(const struct guestmem_config *cfg, struct guestmem **ret)
{
	struct guestmem_config lay = *cfg;
	struct guestmem *m;
	int r;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->fd = -1;
	m->size = cfg->size;
	r = resolve_backing(cfg, &m->choice);
	if (r < 0)
		goto fail;
	m->page_size = m->choice.page_size;
	/* Regions start and end on the page size, so each huge page is a candidate huge IOMMU page. */
	if (!lay.page_size)
		lay.page_size = m->page_size;
	if ((m->choice.backing == GUESTMEM_HUGETLB_2M || m->choice.backing == GUESTMEM_HUGETLB_1G) &&
	    lay.page_size != m->page_size) {
		r = -EINVAL;
		goto fail;
	}
	r = guestmem_layout(&lay, m->regions, GUESTMEM_MAX_REGIONS, &m->n);
	if (r < 0)
		goto fail;
	if (m->choice.backing != GUESTMEM_ANON && (r = create_fd(m, cfg->name)) < 0)
		goto fail;
	for (size_t i = 0; i < m->n; i++) {
		struct guestmem_region *g = &m->regions[i];
		/* hugetlb reserves pages here: ENOMEM means too few huge pages are set aside. */
		void *p = map_aligned(g->size, m->page_size, m->fd, g->fd_offset);
		if (p == MAP_FAILED) {
			r = negative_errno();
			log_debug("mmap gpa 0x%" PRIx64 " size 0x%" PRIx64 ": %s", g->gpa, g->size, strerror(-r));
			goto fail;
		}
		g->hva = p;
		g->fd = m->fd;
		if (m->choice.transparent && madvise(p, g->size, MADV_HUGEPAGE) < 0)
			log_debug("MADV_HUGEPAGE gpa 0x%" PRIx64 ": %m, ignoring", g->gpa);
	}
	log_debug("guest memory: %" PRIu64 " MiB, %s, %" PRIu64 "K pages%s (%s), %zu region(s)", m->size >> 20,
		  guestmem_backing_name(m->choice.backing), m->page_size >> 10, m->choice.transparent ? " (THP)" : "",
		  m->choice.reason, m->n);
	*ret = m;
	return 0;
fail:
	guestmem_free(m);
	return r;
}

struct guestmem *guestmem_free(struct guestmem *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n; i++)
		if (m->regions[i].hva)
			munmap(m->regions[i].hva, m->regions[i].size);
	if (m->fd >= 0)
		close(m->fd);
	free(m);
	return NULL;
}

size_t guestmem_n_regions(const struct guestmem *m)
{
	return m->n;
}

const struct guestmem_region *guestmem_region(const struct guestmem *m, size_t i)
{
	return i < m->n ? &m->regions[i] : NULL;
}

uint64_t guestmem_size(const struct guestmem *m)
{
	return m->size;
}

uint64_t guestmem_page_size(const struct guestmem *m)
{
	return m->page_size;
}

const struct guestmem_choice *guestmem_choice(const struct guestmem *m)
{
	return &m->choice;
}

int guestmem_fd(const struct guestmem *m)
{
	return m->fd;
}

void *guestmem_hva(const struct guestmem *m, uint64_t gpa, uint64_t len)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct guestmem_region *g = &m->regions[i];
		if (gpa >= g->gpa && len <= g->size && gpa - g->gpa <= g->size - len)
			return g->hva + (gpa - g->gpa);
	}
	return NULL;
}

/* The region whose mapping starts at 'start', or NULL. */
static const struct guestmem_region *region_at(const struct guestmem *m, uintptr_t start)
{
	for (size_t i = 0; i < m->n; i++)
		if ((uintptr_t)m->regions[i].hva == start)
			return &m->regions[i];
	return NULL;
}

int guestmem_huge_bytes(const struct guestmem *m, uint64_t *ret)
{
	_cleanup_free_ char *smaps = NULL;
	bool inside = false;
	uint64_t total = 0;
	int r;

	if (m->choice.backing == GUESTMEM_HUGETLB_2M || m->choice.backing == GUESTMEM_HUGETLB_1G) {
		*ret = m->size;
		return 0;
	}
	r = root_read("/proc/self/smaps", &smaps);
	if (r < 0)
		return r;
	for (char *l = smaps, *nl; l && *l; l = nl) {
		unsigned long start, end;
		unsigned long long kb;
		nl = strchr(l, '\n');
		if (nl)
			*nl++ = '\0';
		/* A mapping's header line: "start-end perms offset dev inode [path]". */
		if (sscanf(l, "%lx-%lx ", &start, &end) == 2 && strchr(l, ' ')) {
			inside = region_at(m, start) != NULL;
			continue;
		}
		if (inside && (sscanf(l, "AnonHugePages: %llu kB", &kb) == 1 || sscanf(l, "ShmemPmdMapped: %llu kB", &kb) == 1))
			total += (uint64_t)kb << 10;
	}
	*ret = total;
	return 0;
}

int guestmem_chunks(const struct guestmem_region *regions, size_t n, uint64_t granule, unsigned threads,
		    struct guestmem_chunk *out, size_t max, size_t *n_out)
{
	uint64_t units = 0, done = 0;
	unsigned t = 0;
	size_t k = 0;

	if (granule == 0 || threads == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		units += (regions[i].size + granule - 1) / granule;
	if (units == 0) {
		*n_out = 0;
		return 0;
	}
	if (threads > units)
		threads = (unsigned)units;
	/* Share t is granules [t * units / threads, (t + 1) * units / threads): sizes differ by at most one.
	 * Walk the regions once, cutting a new chunk whenever a share or a region ends. */
	for (size_t i = 0; i < n; i++) {
		uint64_t off = 0;
		while (off < regions[i].size) {
			uint64_t end, len = regions[i].size - off;
			while ((end = (uint64_t)(t + 1) * units / threads * granule) <= done)
				t++;
			if (len > end - done)
				len = end - done;
			if (k == max)
				return -E2BIG;
			out[k++] = (struct guestmem_chunk){ .region = i, .offset = off, .size = len, .thread = t };
			off += len;
			done += len;
		}
		/* A region that ends mid-granule still counts its whole last granule. */
		done = (done + granule - 1) / granule * granule;
	}
	*n_out = k;
	return 0;
}

unsigned guestmem_usable_cpus(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	n = CPU_COUNT(&set);
	return n > 0 ? (unsigned)n : 1;
}

static int populate(uint8_t *p, uint64_t len, uint64_t page)
{
	if (madvise(p, len, MADV_POPULATE_WRITE) == 0)
		return 0;
	/* Kernels before 5.14 lack MADV_POPULATE_WRITE: fault each page by writing to it (the
	 * memory is fresh, so writing a zero changes nothing). */
	if (errno != EINVAL)
		return negative_errno();
	for (uint64_t o = 0; o < len; o += page)
		((volatile uint8_t *)p)[o] = 0;
	return 0;
}

struct prefault_job {
	const struct guestmem *m;
	const struct guestmem_chunk *chunks;
	size_t n;
	unsigned thread;
	int r;
};

static void *prefault_thread(void *arg)
{
	struct prefault_job *j = arg;

	for (size_t i = 0; i < j->n && j->r == 0; i++) {
		const struct guestmem_chunk *c = &j->chunks[i];
		if (c->thread == j->thread)
			j->r = populate(j->m->regions[c->region].hva + c->offset, c->size, 4096);
	}
	return NULL;
}

int guestmem_prefault(struct guestmem *m, unsigned threads)
{
	struct guestmem_chunk chunks[64 + GUESTMEM_MAX_REGIONS];
	struct prefault_job jobs[64];
	pthread_t tids[64];
	bool started[64] = { false };
	size_t n;
	unsigned used = 0;
	int r;

	if (threads == 0)
		threads = guestmem_usable_cpus();
	if (threads > ARRAY_SIZE(jobs))
		threads = ARRAY_SIZE(jobs);
	r = guestmem_chunks(m->regions, m->n, m->page_size, threads, chunks, ARRAY_SIZE(chunks), &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		used = chunks[i].thread + 1 > used ? chunks[i].thread + 1 : used;
	for (unsigned i = 0; i < used; i++)
		jobs[i] = (struct prefault_job){ .m = m, .chunks = chunks, .n = n, .thread = i };
	/* The calling thread takes the first share itself; a share whose thread cannot start is
	 * done here too rather than failing the prefault. */
	for (unsigned i = 1; i < used; i++) {
		started[i] = pthread_create(&tids[i], NULL, prefault_thread, &jobs[i]) == 0;
		if (!started[i])
			prefault_thread(&jobs[i]);
	}
	if (used > 0)
		prefault_thread(&jobs[0]);
	for (unsigned i = 1; i < used; i++)
		if (started[i])
			pthread_join(tids[i], NULL);
	for (unsigned i = 0; i < used; i++)
		if (jobs[i].r < 0 && r == 0)
			r = jobs[i].r;
	return r;
}
