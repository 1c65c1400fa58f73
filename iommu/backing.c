/* backing.c: what backs guest RAM on this host: the THP, shmem THP and hugetlb settings read through
 * util's root, and the choice (hugetlb when reserved, else anonymous THP, else shmem THP, else 4K). */
#include <inttypes.h>

#include "iommu/iommu.h"
#include "util/log.h"
#include "util/root.h"

#define SZ_2M (2ull << 20)
#define SZ_1G (1ull << 30)
#define THP_DIR "/sys/kernel/mm/transparent_hugepage"

static const char *const backing_names[] = {
	[GUESTMEM_MEMFD] = "memfd",           [GUESTMEM_ANON] = "anon",
	[GUESTMEM_HUGETLB_2M] = "hugetlb-2m", [GUESTMEM_HUGETLB_1G] = "hugetlb-1g",
	[GUESTMEM_AUTO] = "auto",
};

const char *guestmem_backing_name(enum guestmem_backing b)
{
	return (unsigned)b < ARRAY_SIZE(backing_names) ? backing_names[b] : "unknown";
}

int guestmem_backing_from_string(const char *s, enum guestmem_backing *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(backing_names); i++)
		if (s && strcasecmp(s, backing_names[i]) == 0) {
			*ret = (enum guestmem_backing)i;
			return 0;
		}
	return -EINVAL;
}

static const char *const thp_names[] = {
	[GUESTMEM_THP_UNKNOWN] = "unknown", [GUESTMEM_THP_NEVER] = "never",
	[GUESTMEM_THP_MADVISE] = "madvise", [GUESTMEM_THP_ALWAYS] = "always",
};
static const char *const shmem_names[] = {
	[GUESTMEM_SHMEM_UNKNOWN] = "unknown", [GUESTMEM_SHMEM_NEVER] = "never",
	[GUESTMEM_SHMEM_ADVISE] = "advise",   [GUESTMEM_SHMEM_WITHIN_SIZE] = "within_size",
	[GUESTMEM_SHMEM_ALWAYS] = "always",   [GUESTMEM_SHMEM_DENY] = "deny",
	[GUESTMEM_SHMEM_FORCE] = "force",
};

const char *guestmem_thp_name(enum guestmem_thp t)
{
	return (unsigned)t < ARRAY_SIZE(thp_names) ? thp_names[t] : "unknown";
}

const char *guestmem_shmem_thp_name(enum guestmem_shmem_thp t)
{
	return (unsigned)t < ARRAY_SIZE(shmem_names) ? shmem_names[t] : "unknown";
}

/* The kernel marks the active value of a sysfs choice list with brackets: "always [madvise] never".
 * Returns the index into names, or -EBADMSG when no (or an unknown) value is bracketed. */
static int parse_choice(const char *s, const char *const *names, size_t n)
{
	const char *open = strchr(s, '['), *close;

	if (!open || !(close = strchr(open, ']')))
		return -EBADMSG;
	for (size_t i = 1; i < n; i++)
		if (strlen(names[i]) == (size_t)(close - open - 1) && !strncmp(open + 1, names[i], close - open - 1))
			return (int)i;
	return -EBADMSG;
}

static void read_pool(uint64_t size, struct guestmem_pool *p)
{
	char dir[96], f[160];
	uint64_t total, free_pages, resv = 0;

	snprintf(dir, sizeof(dir), "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB", size >> 10);
	snprintf(f, sizeof(f), "%s/nr_hugepages", dir);
	if (root_read_u64(f, 10, &total) < 0)
		return; /* no pool of this size on this host */
	snprintf(f, sizeof(f), "%s/free_hugepages", dir);
	if (root_read_u64(f, 10, &free_pages) < 0)
		free_pages = 0;
	/* Free pages already promised to other mappings are not ours to take. */
	snprintf(f, sizeof(f), "%s/resv_hugepages", dir);
	if (root_read_u64(f, 10, &resv) < 0)
		resv = 0;
	*p = (struct guestmem_pool){
		.present = true, .total = total, .free = free_pages,
		.available = free_pages > resv ? free_pages - resv : 0,
	};
}

int guestmem_host_read(struct guestmem_host *ret)
{
	struct guestmem_host h = { .thp_size = SZ_2M };
	_cleanup_free_ char *thp = NULL, *shmem = NULL;
	uint64_t v;
	int r;

	if (root_read(THP_DIR "/enabled", &thp) >= 0 && (r = parse_choice(thp, thp_names, ARRAY_SIZE(thp_names))) > 0)
		h.thp = (enum guestmem_thp)r;
	if (root_read(THP_DIR "/shmem_enabled", &shmem) >= 0 &&
	    (r = parse_choice(shmem, shmem_names, ARRAY_SIZE(shmem_names))) > 0)
		h.shmem = (enum guestmem_shmem_thp)r;
	if (root_read_u64(THP_DIR "/hpage_pmd_size", 10, &v) >= 0 && v >= 4096 && (v & (v - 1)) == 0)
		h.thp_size = v;
	read_pool(SZ_2M, &h.pool_2m);
	read_pool(SZ_1G, &h.pool_1g);
	*ret = h;
	return 0;
}

static bool thp_anon_usable(const struct guestmem_host *h)
{
	/* madvise is enough: the memory is given MADV_HUGEPAGE. */
	return h->thp == GUESTMEM_THP_ALWAYS || h->thp == GUESTMEM_THP_MADVISE;
}

static bool thp_shmem_usable(const struct guestmem_host *h)
{
	return h->shmem == GUESTMEM_SHMEM_ALWAYS || h->shmem == GUESTMEM_SHMEM_WITHIN_SIZE ||
	       h->shmem == GUESTMEM_SHMEM_ADVISE || h->shmem == GUESTMEM_SHMEM_FORCE;
}

/* Pages of a hugetlb pool for size bytes: whole, partial (with the count) or none. */
static bool pool_fits(const struct guestmem_pool *p, uint64_t page, uint64_t size)
{
	return p->present && size % page == 0 && p->available >= size / page;
}

static void choose_auto(const struct guestmem_host *h, uint64_t size, struct guestmem_choice *c)
{
	char hugetlb[96] = "";
	uint64_t need2 = (size + SZ_2M - 1) / SZ_2M;

	if (pool_fits(&h->pool_1g, SZ_1G, size)) {
		*c = (struct guestmem_choice){ .backing = GUESTMEM_HUGETLB_1G, .page_size = SZ_1G };
		snprintf(c->reason, sizeof(c->reason), "%" PRIu64 " free 1G huge pages reserved cover it",
			 h->pool_1g.available);
		return;
	}
	if (pool_fits(&h->pool_2m, SZ_2M, size)) {
		*c = (struct guestmem_choice){ .backing = GUESTMEM_HUGETLB_2M, .page_size = SZ_2M };
		snprintf(c->reason, sizeof(c->reason), "%" PRIu64 " free 2M huge pages reserved cover it",
			 h->pool_2m.available);
		return;
	}
	/* Why hugetlb was passed over, for the reason below. */
	if (h->pool_2m.present && h->pool_2m.available > 0)
		snprintf(hugetlb, sizeof(hugetlb), "%" PRIu64 " of %" PRIu64 " 2M huge pages free", h->pool_2m.available,
			 need2);
	else
		snprintf(hugetlb, sizeof(hugetlb), "no huge pages reserved");
	if (thp_anon_usable(h) && size % h->thp_size == 0) {
		*c = (struct guestmem_choice){ .backing = GUESTMEM_ANON, .page_size = h->thp_size, .transparent = true };
		snprintf(c->reason, sizeof(c->reason), "transparent huge pages %s, %s", guestmem_thp_name(h->thp), hugetlb);
		return;
	}
	if (thp_shmem_usable(h) && size % h->thp_size == 0) {
		*c = (struct guestmem_choice){ .backing = GUESTMEM_MEMFD, .page_size = h->thp_size, .transparent = true };
		snprintf(c->reason, sizeof(c->reason), "shmem transparent huge pages %s (anonymous THP %s), %s",
			 guestmem_shmem_thp_name(h->shmem), guestmem_thp_name(h->thp), hugetlb);
		return;
	}
	*c = (struct guestmem_choice){ .backing = GUESTMEM_ANON, .page_size = 4096 };
	if (size % h->thp_size)
		snprintf(c->reason, sizeof(c->reason), "size not a multiple of %" PRIu64 "M, %s", h->thp_size >> 20,
			 hugetlb);
	else
		snprintf(c->reason, sizeof(c->reason), "transparent huge pages %s, shmem THP %s, %s",
			 guestmem_thp_name(h->thp), guestmem_shmem_thp_name(h->shmem), hugetlb);
}

int guestmem_choose(const struct guestmem_host *h, enum guestmem_backing want, uint64_t size,
		    struct guestmem_choice *ret, char *err, size_t errlen)
{
	struct guestmem_choice c = { .backing = want };
	const struct guestmem_pool *pool = want == GUESTMEM_HUGETLB_1G ? &h->pool_1g : &h->pool_2m;
	uint64_t page = want == GUESTMEM_HUGETLB_1G ? SZ_1G : SZ_2M;

	if (size == 0)
		return -EINVAL;
	switch (want) {
	case GUESTMEM_AUTO:
		choose_auto(h, size, &c);
		break;
	case GUESTMEM_ANON:
		c.transparent = thp_anon_usable(h) && size % h->thp_size == 0;
		c.page_size = c.transparent ? h->thp_size : 4096;
		snprintf(c.reason, sizeof(c.reason), "asked for; transparent huge pages %s", guestmem_thp_name(h->thp));
		break;
	case GUESTMEM_MEMFD:
		c.transparent = thp_shmem_usable(h) && size % h->thp_size == 0;
		c.page_size = c.transparent ? h->thp_size : 4096;
		snprintf(c.reason, sizeof(c.reason), "asked for; shmem transparent huge pages %s",
			 guestmem_shmem_thp_name(h->shmem));
		break;
	case GUESTMEM_HUGETLB_2M:
	case GUESTMEM_HUGETLB_1G:
		c.page_size = page;
		if (size % page) {
			snprintf(err, errlen, "size is not a multiple of %s", page == SZ_1G ? "1G" : "2M");
			return -EINVAL;
		}
		if (!pool->present || pool->available < size / page) {
			snprintf(err, errlen, "%" PRIu64 " %s huge pages needed, %" PRIu64 " free",
				 size / page, page == SZ_1G ? "1G" : "2M", pool->present ? pool->available : 0);
			return -ENOMEM;
		}
		snprintf(c.reason, sizeof(c.reason), "asked for; %" PRIu64 " free", pool->available);
		break;
	default:
		return -EINVAL;
	}
	*ret = c;
	return 0;
}
