/* guestmem.c: guest RAM as guest-physical regions backed by one memfd (hugetlb on request),
 * laid out around the PCI hole and the container's reserved IOVA windows; parallel prefault. */
#include <inttypes.h>
#include <pthread.h>
#include <linux/memfd.h>
#include <sys/mman.h>

#include "iommu/iommu.h"
#include "util/log.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

struct guestmem {
	int fd;
	uint64_t size, page_size;
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

int guestmem_new(const struct guestmem_config *cfg, struct guestmem **ret)
{
	struct guestmem *m;
	unsigned flags = MFD_CLOEXEC;
	int r;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->fd = -1;
	m->page_size = cfg->page_size ? cfg->page_size : 4096;
	m->size = cfg->size;
	r = guestmem_layout(cfg, m->regions, GUESTMEM_MAX_REGIONS, &m->n);
	if (r < 0)
		goto fail;
	if (m->page_size == (2ull << 20))
		flags |= MFD_HUGETLB | MFD_HUGE_2MB;
	else if (m->page_size == (1ull << 30))
		flags |= MFD_HUGETLB | MFD_HUGE_1GB;
	m->fd = memfd_create(cfg->name ? cfg->name : "ptctl-guestmem", flags);
	if (m->fd < 0) {
		r = negative_errno();
		log_debug("memfd_create(page %" PRIu64 "): %s", m->page_size, strerror(-r));
		goto fail;
	}
	if (ftruncate(m->fd, (off_t)m->size) < 0) {
		r = negative_errno();
		log_debug("memfd size %" PRIu64 ": %s", m->size, strerror(-r));
		goto fail;
	}
	for (size_t i = 0; i < m->n; i++) {
		struct guestmem_region *g = &m->regions[i];
		/* hugetlb reserves pages here: ENOMEM means too few huge pages are set aside. */
		void *p = mmap(NULL, g->size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, (off_t)g->fd_offset);
		if (p == MAP_FAILED) {
			r = negative_errno();
			log_debug("mmap gpa 0x%" PRIx64 " size 0x%" PRIx64 ": %s", g->gpa, g->size, strerror(-r));
			goto fail;
		}
		g->hva = p;
		g->fd = m->fd;
	}
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

struct prefault_job {
	const struct guestmem *m;
	uint64_t from, to; /* offsets into the concatenated regions */
	int r;
};

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

static void *prefault_thread(void *arg)
{
	struct prefault_job *j = arg;
	uint64_t base = 0;

	for (size_t i = 0; i < j->m->n && j->r == 0; i++) {
		const struct guestmem_region *g = &j->m->regions[i];
		uint64_t f = j->from > base ? j->from : base;
		uint64_t t = j->to < base + g->size ? j->to : base + g->size;
		if (f < t)
			j->r = populate(g->hva + (f - base), t - f, j->m->page_size);
		base += g->size;
	}
	return NULL;
}

int guestmem_prefault(struct guestmem *m, unsigned threads)
{
	uint64_t pages = m->size / m->page_size, per;
	struct prefault_job jobs[64];
	pthread_t tids[64];
	bool started[64] = { false };
	int r = 0;

	if (threads == 0)
		threads = 1;
	if (threads > ARRAY_SIZE(jobs))
		threads = ARRAY_SIZE(jobs);
	if (threads > pages)
		threads = (unsigned)pages;
	per = (pages + threads - 1) / threads;
	for (unsigned i = 0; i < threads; i++) {
		uint64_t from = i * per * m->page_size;
		uint64_t to = from + per * m->page_size;
		jobs[i] = (struct prefault_job){ .m = m, .from = from, .to = to < m->size ? to : m->size };
	}
	/* The calling thread takes the first slice itself; a slice whose thread cannot start is
	 * done here too rather than failing the prefault. */
	for (unsigned i = 1; i < threads; i++) {
		started[i] = pthread_create(&tids[i], NULL, prefault_thread, &jobs[i]) == 0;
		if (!started[i])
			prefault_thread(&jobs[i]);
	}
	prefault_thread(&jobs[0]);
	for (unsigned i = 1; i < threads; i++)
		if (started[i])
			pthread_join(tids[i], NULL);
	for (unsigned i = 0; i < threads; i++)
		if (jobs[i].r < 0 && r == 0)
			r = jobs[i].r;
	return r;
}
