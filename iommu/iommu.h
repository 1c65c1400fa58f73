/* iommu.h: the iommu module's one public header: VT-d status (DMAR table, cap/ecap, reserved
 * regions) and DMA mapping of guest memory into VFIO containers (IOVA = guest-physical). */
#pragma once

#include "util/util.h"

/* ---- VT-d status ---- */

/* ---- Guest memory and DMA mapping ---- */
/* Guest RAM is a set of guest-physical regions backed by one memfd (hugetlb on request) and
 * mapped into a VFIO container with IOVA = guest-physical, so a device assigned to the guest
 * DMAs to the addresses the guest driver programs. */
#include "vfio/vfio.h"

#define GUESTMEM_MAX_REGIONS 16
#define GUESTMEM_HOLE_START (3ull << 30) /* default PCI hole below 4 GiB: RAM below 3 GiB... */
#define GUESTMEM_HOLE_END (4ull << 30)   /* ...and from 4 GiB on */

struct guestmem_config {
	uint64_t size;       /* bytes of RAM; a multiple of page_size */
	uint64_t page_size;  /* 0 or 4096: memfd; 2M or 1G: MFD_HUGETLB of that size */
	uint64_t hole_start; /* no RAM in [hole_start, hole_end); both 0: the defaults above */
	uint64_t hole_end;   /* hole_start == hole_end (non-zero): no hole */
	/* Optional: the container's usable IOVA windows; RAM is placed only inside them (so it
	 * steps around reserved windows such as the MSI range 0xfee00000-0xfeefffff). */
	const struct vfio_iommu_limits *limits;
	const char *name;    /* memfd name (shows in /proc/PID/maps); NULL: "ptctl-guestmem" */
};

struct guestmem_region {
	uint64_t gpa, size;
	uint8_t *hva;       /* host virtual address (MAP_SHARED of fd at fd_offset) */
	int fd;             /* borrowed: the guestmem's memfd */
	uint64_t fd_offset;
};

struct guestmem;

/* Pure: where RAM of cfg->size goes. Fills gpa/size (hva NULL, fd -1, fd_offset running).
 * -EINVAL: size 0 or not page-aligned, bad hole; -E2BIG: more than 'max' regions needed;
 * -ENOSPC: the usable windows cannot hold the size. */
int guestmem_layout(const struct guestmem_config *cfg, struct guestmem_region *regions, size_t max,
		    size_t *n);
/* Lays out, creates the memfd (MFD_CLOEXEC, MFD_HUGETLB|MFD_HUGE_2MB/1GB on request), sizes it
 * and maps every region. Memory is not touched (see guestmem_prefault). -ENOMEM from hugetlb
 * means too few huge pages reserved (/proc/sys/vm/nr_hugepages). */
int guestmem_new(const struct guestmem_config *cfg, struct guestmem **ret);
struct guestmem *guestmem_free(struct guestmem *m);
size_t guestmem_n_regions(const struct guestmem *m);
const struct guestmem_region *guestmem_region(const struct guestmem *m, size_t i);
uint64_t guestmem_size(const struct guestmem *m);
uint64_t guestmem_page_size(const struct guestmem *m);
int guestmem_fd(const struct guestmem *m); /* borrowed */
/* Host pointer for [gpa, gpa+len) if it lies in one region, else NULL. */
void *guestmem_hva(const struct guestmem *m, uint64_t gpa, uint64_t len);
/* Faults every page in, split across 'threads' threads (page zeroing dominates, so it scales). */
int guestmem_prefault(struct guestmem *m, unsigned threads);

/* Why a mapping was refused, with the numbers an operator needs. */
struct iommu_dma_report {
	uint64_t bytes;          /* to be mapped (and pinned) */
	uint32_t entries;        /* MAP_DMA entries needed */
	bool has_dma_avail;
	uint32_t dma_avail;      /* entries the container has left */
	uint64_t memlock_limit;  /* RLIMIT_MEMLOCK bytes; UINT64_MAX: unlimited or CAP_IPC_LOCK */
	uint64_t memlock_used;   /* already locked by this process (VmLck) */
	/* -EADDRNOTAVAIL: this region collides with a reserved window (outside every usable span) */
	uint64_t bad_gpa, bad_size;
	uint64_t reserved_first, reserved_last; /* the reserved window hit (inclusive) */
	/* -EINVAL: misaligned to the IOMMU granule */
	uint64_t granule;
};
/* Pure: may these regions be mapped into a container with these limits? 0, or
 * -EADDRNOTAVAIL (collision), -ENOSPC (entries > dma_avail), -ENOMEM (memlock), -EINVAL
 * (not aligned to the smallest IOMMU page); the report says what and how much. */
int iommu_dma_check(const struct guestmem_region *regions, size_t n, const struct vfio_iommu_limits *limits,
		    uint64_t memlock_limit, uint64_t memlock_used, struct iommu_dma_report *report);
/* This process's memlock budget as type1 sees it: UINT64_MAX with CAP_IPC_LOCK. */
int iommu_memlock_budget(uint64_t *limit, uint64_t *used);

/* All regions of m mapped into c with IOVA = gpa. Checked first (nothing mapped on refusal; the
 * report filled); a failure half-way unmaps what was mapped. Freeing unmaps. */
struct iommu_dma_map;
int iommu_dma_map_guestmem(struct vfio_container *c, const struct guestmem *m, struct iommu_dma_report *report,
			   struct iommu_dma_map **ret);
struct iommu_dma_map *iommu_dma_map_free(struct iommu_dma_map *d);

/* Guest-physical -> host-physical through /proc/self/pagemap. Runs of physically contiguous
 * present pages; absent pages are skipped. PFNs read as 0 without CAP_SYS_ADMIN: then
 * *pfn_hidden is set and hpa is 0 in every run. */
struct iommu_phys_run {
	uint64_t gpa, hpa, size;
};
/* Pure: pagemap entries for consecutive 4K pages starting at gpa -> runs (appended to *runs). */
int iommu_pagemap_runs(const uint64_t *entries, size_t n, uint64_t gpa, struct iommu_phys_run **runs,
		       size_t *n_runs, bool *pfn_hidden);
int iommu_pagemap_report(const struct guestmem *m, struct iommu_phys_run **runs, size_t *n_runs,
			 bool *pfn_hidden);

static inline void guestmem_freep(struct guestmem **m)
{
	guestmem_free(*m);
}
static inline void iommu_dma_map_freep(struct iommu_dma_map **d)
{
	iommu_dma_map_free(*d);
}
#define _cleanup_guestmem_ _cleanup_(guestmem_freep)
#define _cleanup_iommu_dma_map_ _cleanup_(iommu_dma_map_freep)
