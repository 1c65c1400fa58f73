/* iommu.h: the iommu module's one public header: VT-d status (DMAR table, cap/ecap, reserved
 * regions) and DMA mapping of guest memory into VFIO containers (IOVA = guest-physical). */
#pragma once

#include "util/util.h"

/* ---- VT-d status ---- */
/* Intel VT-d as the host sees it: the DMAR units' cap/ecap registers decoded from the spec's
 * layout, the firmware's ACPI DMAR table (parsed with every length checked), and the kernel's
 * state (IOMMU groups, reserved regions, interrupt remapping, command line). Read-only. */

/* One field of the capability (cap) or extended capability (ecap) register. */
struct vtd_field {
	const char *abbrev; /* the spec's name: "CM" */
	const char *title;  /* "Caching Mode" */
	uint8_t shift, width;
};

enum vtd_cap_field {
	VTD_CAP_ND, VTD_CAP_AFL, VTD_CAP_RWBF, VTD_CAP_PLMR, VTD_CAP_PHMR, VTD_CAP_CM,
	VTD_CAP_SAGAW, VTD_CAP_MGAW, VTD_CAP_ZLR, VTD_CAP_FRO, VTD_CAP_SLLPS, VTD_CAP_PSI,
	VTD_CAP_NFR, VTD_CAP_MAMV, VTD_CAP_DWD, VTD_CAP_DRD, VTD_CAP_FL1GP, VTD_CAP_PI,
	VTD_CAP_FL5LP, VTD_CAP_ECMDS, VTD_CAP_ESIRTPS, VTD_CAP_ESRTPS,
	VTD_CAP__MAX,
};

enum vtd_ecap_field {
	VTD_ECAP_C, VTD_ECAP_QI, VTD_ECAP_DT, VTD_ECAP_IR, VTD_ECAP_EIM, VTD_ECAP_PT,
	VTD_ECAP_SC, VTD_ECAP_IRO, VTD_ECAP_MHMV, VTD_ECAP_MTS, VTD_ECAP_NEST, VTD_ECAP_PRS,
	VTD_ECAP_ERS, VTD_ECAP_SRS, VTD_ECAP_NWFS, VTD_ECAP_EAFS, VTD_ECAP_PSS, VTD_ECAP_PASID,
	VTD_ECAP_DIT, VTD_ECAP_PDS, VTD_ECAP_SMTS, VTD_ECAP_VCS, VTD_ECAP_SLADS, VTD_ECAP_SLTS,
	VTD_ECAP_FLTS, VTD_ECAP_SMPWCS, VTD_ECAP_RPS, VTD_ECAP_PMS, VTD_ECAP_ADMS, VTD_ECAP_RPRIVS,
	VTD_ECAP__MAX,
};

/* The field tables, indexed by the enums above (n = VTD_CAP__MAX / VTD_ECAP__MAX). */
const struct vtd_field *vtd_cap_fields(void);
const struct vtd_field *vtd_ecap_fields(void);
static inline uint64_t vtd_field_get(uint64_t reg, const struct vtd_field *f)
{
	return (reg >> f->shift) & ((f->width >= 64 ? 0 : (1ull << f->width)) - 1);
}
uint64_t vtd_cap(uint64_t cap, enum vtd_cap_field f);
uint64_t vtd_ecap(uint64_t ecap, enum vtd_ecap_field f);

/* Derived values. Widths are in bits; sizes in bytes. */
uint64_t vtd_cap_domains(uint64_t cap);        /* 2^(4 + 2*ND); 0 for the reserved ND=7 */
unsigned vtd_cap_mgaw(uint64_t cap);           /* MGAW + 1 */
/* Guest address widths the second-level tables support (SAGAW bit i -> 30 + 9*i bits:
 * 3 levels 39, 4 levels 48, 5 levels 57), ascending. Returns how many (<= 5). */
size_t vtd_cap_sagaw_widths(uint64_t cap, unsigned widths[5]);
/* Second-level superpage sizes (SLLPS bit i -> 2^(21 + 9*i): 2M, 1G, 512G, 256T). */
size_t vtd_cap_superpages(uint64_t cap, uint64_t sizes[4]);

/* ACPI DMAR table. */
enum dmar_struct_type {
	DMAR_DRHD = 0, /* a remapping unit and the devices behind it */
	DMAR_RMRR = 1, /* memory a device must keep reaching (identity-mapped by the kernel) */
	DMAR_ATSR = 2, /* root ports that allow Address Translation Services */
	DMAR_RHSA = 3, /* a unit's NUMA proximity domain */
	DMAR_ANDD = 4, /* an ACPI namespace device named in scopes */
	DMAR_SATC = 5, /* devices whose ATC must be used (SoC integrated) */
};

#define DMAR_FLAG_INTR_REMAP 0x1
#define DMAR_FLAG_X2APIC_OPT_OUT 0x2
#define DMAR_FLAG_DMA_CTRL_OPT_IN 0x4
#define DMAR_DRHD_INCLUDE_PCI_ALL 0x1
#define DMAR_ATSR_ALL_PORTS 0x1
#define DMAR_SATC_ATC_REQUIRED 0x1

enum dmar_scope_type {
	DMAR_SCOPE_ENDPOINT = 1,
	DMAR_SCOPE_BRIDGE = 2,
	DMAR_SCOPE_IOAPIC = 3,
	DMAR_SCOPE_HPET = 4,
	DMAR_SCOPE_NAMESPACE = 5,
};

#define DMAR_SCOPE_MAX_PATH 124 /* (255 - 6) / 2: the entry length is one byte */

struct dmar_scope {
	uint8_t type, enumeration_id, start_bus, npath;
	struct {
		uint8_t dev, fn;
	} path[DMAR_SCOPE_MAX_PATH];
};

struct dmar_struct {
	uint16_t type, length;
	uint32_t offset;       /* in the table, for messages */
	uint8_t flags;         /* DRHD, ATSR, SATC */
	uint8_t size;          /* DRHD: register set is 2^size pages */
	uint16_t segment;      /* DRHD, RMRR, ATSR, SATC */
	uint64_t base, limit;  /* DRHD, RHSA: register base; RMRR: the range, limit inclusive */
	uint32_t proximity;    /* RHSA */
	uint8_t acpi_device;   /* ANDD */
	char *acpi_name;       /* ANDD */
	struct dmar_scope *scopes;
	size_t nscopes;
};

struct dmar_table {
	uint32_t length;
	uint8_t revision;
	bool checksum_ok;
	char oem_id[7], oem_table_id[9];
	unsigned host_address_width; /* bits (the field + 1) */
	uint8_t flags;
	struct dmar_struct *structs;
	size_t nstructs;
	char **warnings; /* oddities that do not stop parsing (checksum, misaligned RMRR, unknown types) */
};

/* Parses a DMAR table. Every length is checked against the bytes given; a malformed table
 * returns -EBADMSG with the reason (and its offset) in err, and nothing is kept. */
int dmar_parse(const void *buf, size_t len, struct dmar_table **ret, char *err, size_t errlen);
/* Reads /sys/firmware/acpi/tables/DMAR: -ENOENT without one, -EACCES for non-root. */
int dmar_read(struct dmar_table **ret, char *err, size_t errlen);
void dmar_table_free(struct dmar_table *t);
static inline void dmar_table_freep(struct dmar_table **t)
{
	dmar_table_free(*t);
}
const char *dmar_struct_type_name(uint16_t type); /* "drhd", ...; "unknown" */
/* "endpoint 0000:00:02.0", "ioapic 0000:f0:1f.0 id 8". A path of several hops is followed
 * through the bridges' secondary bus numbers in sysfs config space when it can be, else
 * written as start/dev.fn/dev.fn ("0000:00:1c.0/00.0"). */
int dmar_scope_format(const struct dmar_scope *s, uint16_t segment, char *buf, size_t len);

/* The kernel's view. */
struct vtd_unit {
	char *name;            /* dmar0 */
	uint64_t register_base;
	unsigned version_major, version_minor;
	uint64_t cap, ecap;
	int ndevices;          /* entries in /sys/class/iommu/NAME/devices, -1 unknown */
};

struct vtd_resv_region {
	uint64_t start, end; /* inclusive */
	char *type;          /* direct, direct-relaxable, reserved, msi, sw-msi */
	unsigned *groups;    /* every group that reports exactly this region, ascending */
	size_t ngroups;
};

struct vtd_group {
	unsigned id;
	char *type;    /* default domain: DMA, DMA-FQ, identity, ... (NULL when not exposed) */
	int ndevices;
};

/* Parameters from /proc/cmdline that change what the IOMMU does (NULL when absent; the last
 * occurrence wins, as in the kernel). */
struct vtd_cmdline {
	char *intel_iommu, *amd_iommu, *iommu, *iommu_passthrough, *intremap;
};

enum vtd_iommu_kind {
	VTD_IOMMU_NONE,  /* no IOMMU device registered with the kernel */
	VTD_IOMMU_INTEL, /* /sys/class/iommu/dmar* */
	VTD_IOMMU_AMD,   /* /sys/class/iommu/ivhd* */
	VTD_IOMMU_OTHER, /* some other driver registered one */
};

/* Interrupt remapping as the kernel uses it. No sysfs file exposes the state itself (the
 * kernel only logs "Enabled IRQ remapping"); what it changes is visible: interrupts delivered
 * through remapping have irq chips named "IR-..." in /sys/kernel/irq/N/chip_name (or
 * /proc/interrupts on kernels without that directory). */
struct vtd_irq_remap {
	int enabled;          /* 1 IR- chips seen, 0 none seen, -1 could not tell */
	const char *source;   /* where enabled came from */
	unsigned ir_irqs;     /* how many IRQs use an IR- chip */
};

struct vtd_status {
	enum vtd_iommu_kind kind;
	char **other_iommus;  /* /sys/class/iommu entries of other kinds */
	struct vtd_unit *units;
	size_t nunits;
	struct dmar_table *dmar; /* NULL when absent or unusable (dmar_error says why) */
	int dmar_errno;          /* 0, or why dmar is NULL (-ENOENT absent, -EBADMSG malformed) */
	char dmar_error[160];
	bool ivrs_present;       /* AMD's ACPI table */
	struct vtd_group *groups;
	size_t ngroups;
	struct vtd_resv_region *regions;
	size_t nregions;
	struct vtd_cmdline cmdline;
	struct vtd_irq_remap irq_remap;
	char **warnings; /* unreadable or malformed kernel files, ignored */
};

/* Gathers everything above through the system root. Missing parts are empty, not errors;
 * fails only on allocation failure. */
int vtd_status_read(struct vtd_status **ret);
void vtd_status_free(struct vtd_status *s);
static inline void vtd_status_freep(struct vtd_status **s)
{
	vtd_status_free(*s);
}
/* DMA remapping is on when the kernel registered IOMMU units (VT-d ones with readable registers)
 * and populated IOMMU groups. */
bool vtd_status_dma_remapping(const struct vtd_status *s);
/* Parses reserved_regions text ("0x... 0x... type" lines). -EBADMSG on a malformed line. */
int vtd_parse_reserved_regions(const char *text, struct vtd_resv_region **ret, size_t *n);
int vtd_cmdline_parse(const char *cmdline, struct vtd_cmdline *ret);
void vtd_cmdline_clear(struct vtd_cmdline *c);

/* ---- Guest memory and DMA mapping ---- */
/* Guest RAM is a set of guest-physical regions, mapped into a VFIO container with IOVA =
 * guest-physical, so a device assigned to the guest DMAs to the addresses the guest driver programs.
 * What backs it is chosen per host: hugetlb pages when enough are reserved, else anonymous memory
 * with transparent huge pages, else a memfd with shmem THP, else 4K pages (backing.c). */
#include "vfio/vfio.h"

#define GUESTMEM_MAX_REGIONS 16
#define GUESTMEM_HOLE_START (3ull << 30) /* default PCI hole below 4 GiB: RAM below 3 GiB... */
#define GUESTMEM_HOLE_END (4ull << 30)   /* ...and from 4 GiB on */

enum guestmem_backing {
	GUESTMEM_MEMFD,      /* a memfd (shmem): 4K pages, 2M where the host enables shmem THP */
	GUESTMEM_ANON,       /* private anonymous memory: 2M transparent huge pages where enabled; no fd */
	GUESTMEM_HUGETLB_2M, /* a memfd of reserved 2M hugetlb pages */
	GUESTMEM_HUGETLB_1G, /* a memfd of reserved 1G hugetlb pages */
	GUESTMEM_AUTO,       /* chosen per host by guestmem_choose() */
};
const char *guestmem_backing_name(enum guestmem_backing b); /* "memfd", "anon", "hugetlb-2m", ... */
int guestmem_backing_from_string(const char *s, enum guestmem_backing *ret);

/* The host's settings, as /sys/kernel/mm shows them (through util's root). */
enum guestmem_thp { GUESTMEM_THP_UNKNOWN, GUESTMEM_THP_NEVER, GUESTMEM_THP_MADVISE, GUESTMEM_THP_ALWAYS };
enum guestmem_shmem_thp {
	GUESTMEM_SHMEM_UNKNOWN, GUESTMEM_SHMEM_NEVER, GUESTMEM_SHMEM_ADVISE, GUESTMEM_SHMEM_WITHIN_SIZE,
	GUESTMEM_SHMEM_ALWAYS, GUESTMEM_SHMEM_DENY, GUESTMEM_SHMEM_FORCE,
};
const char *guestmem_thp_name(enum guestmem_thp t);
const char *guestmem_shmem_thp_name(enum guestmem_shmem_thp t);
struct guestmem_pool {
	bool present;                /* /sys/kernel/mm/hugepages/hugepages-NkB exists */
	uint64_t total, free;        /* nr_hugepages, free_hugepages */
	uint64_t available;          /* free minus those reserved for other mappings (resv_hugepages) */
};
struct guestmem_host {
	enum guestmem_thp thp;         /* transparent_hugepage/enabled */
	enum guestmem_shmem_thp shmem; /* transparent_hugepage/shmem_enabled */
	uint64_t thp_size;             /* transparent_hugepage/hpage_pmd_size (2M on x86) */
	struct guestmem_pool pool_2m, pool_1g;
};
/* Missing or malformed files read as unknown/absent: never fails today. */
int guestmem_host_read(struct guestmem_host *ret);

/* What backs guest RAM, and why (words for `ptctl vm show`, `bench dma`). */
struct guestmem_choice {
	enum guestmem_backing backing; /* never GUESTMEM_AUTO */
	uint64_t page_size;            /* 4K, 2M or 1G: what the backing gives (THP: best effort) */
	bool transparent;              /* THP: huge pages are taken when the kernel has them (see guestmem_huge_bytes) */
	char reason[160];
};
/* Pure: the backing for size bytes on host h. AUTO picks: 1G hugetlb when the free pool covers the
 * size, then 2M hugetlb, then anonymous THP (enabled always or madvise), then a memfd with shmem THP,
 * then 4K anonymous memory. A named backing is checked: hugetlb -ENOMEM when the pool is short,
 * -EINVAL when the size is not a multiple of the page (err says which, in words). */
int guestmem_choose(const struct guestmem_host *h, enum guestmem_backing want, uint64_t size,
		    struct guestmem_choice *ret, char *err, size_t errlen);

struct guestmem_config {
	uint64_t size;       /* bytes of RAM; a multiple of the layout granule */
	enum guestmem_backing backing; /* 0: memfd */
	/* Layout granule: regions start and end on it (0: the backing's page size, so huge pages can be
	 * huge IOMMU pages). 4K, 2M or 1G; hugetlb backings need their page size or 0. */
	uint64_t page_size;
	uint64_t hole_start; /* no RAM in [hole_start, hole_end); both 0: the defaults above */
	uint64_t hole_end;   /* hole_start == hole_end (non-zero): no hole */
	/* Optional: the container's usable IOVA windows; RAM is placed only inside them (so it
	 * steps around reserved windows such as the MSI range 0xfee00000-0xfeefffff). */
	const struct vfio_iommu_limits *limits;
	const char *name;    /* memfd name (shows in /proc/PID/maps); NULL: "ptctl-guestmem" */
	const struct guestmem_host *host; /* for GUESTMEM_AUTO: NULL reads the host's settings */
};

struct guestmem_region {
	uint64_t gpa, size;
	uint8_t *hva;       /* host virtual address (aligned to the backing's page size) */
	int fd;             /* borrowed: the guestmem's memfd; -1 for anonymous memory */
	uint64_t fd_offset; /* where the region starts in fd (meaningless when fd is -1) */
};

struct guestmem;

/* Pure: where RAM of cfg->size goes. Fills gpa/size (hva NULL, fd -1, fd_offset running).
 * -EINVAL: size 0 or not page-aligned, bad hole; -E2BIG: more than 'max' regions needed;
 * -ENOSPC: the usable windows cannot hold the size. */
int guestmem_layout(const struct guestmem_config *cfg, struct guestmem_region *regions, size_t max,
		    size_t *n);
/* Chooses the backing (AUTO), lays out, creates the memory and maps every region, each at a host
 * address aligned to the backing's page size, with MADV_HUGEPAGE for THP. Memory is not touched (see
 * guestmem_prefault). -ENOMEM from hugetlb means too few huge pages reserved. */
int guestmem_new(const struct guestmem_config *cfg, struct guestmem **ret);
struct guestmem *guestmem_free(struct guestmem *m);
size_t guestmem_n_regions(const struct guestmem *m);
const struct guestmem_region *guestmem_region(const struct guestmem *m, size_t i);
uint64_t guestmem_size(const struct guestmem *m);
uint64_t guestmem_page_size(const struct guestmem *m);  /* the choice's page size */
const struct guestmem_choice *guestmem_choice(const struct guestmem *m);
int guestmem_fd(const struct guestmem *m); /* borrowed; -1 for anonymous memory */
/* Host pointer for [gpa, gpa+len) if it lies in one region, else NULL. */
void *guestmem_hva(const struct guestmem *m, uint64_t gpa, uint64_t len);
/* Bytes of the regions that the kernel backs with huge pages now (/proc/self/smaps: AnonHugePages,
 * ShmemPmdMapped; all of it for hugetlb). Meaningful once the memory is touched. */
int guestmem_huge_bytes(const struct guestmem *m, uint64_t *ret);

/* A share of prefault work: bytes [offset, offset + size) of region 'region', done by 'thread'. */
struct guestmem_chunk {
	size_t region;
	uint64_t offset, size;
	unsigned thread;
};
/* Pure: splits the regions into 'threads' shares of nearly equal size cut at 'granule' boundaries
 * (a share may span regions: one chunk per region it touches), in address order. Fewer threads are
 * used when there are fewer granules. -E2BIG when more than max chunks would be needed
 * (threads + n always suffice), -EINVAL for a zero granule or thread count. */
int guestmem_chunks(const struct guestmem_region *regions, size_t n, uint64_t granule, unsigned threads,
		    struct guestmem_chunk *out, size_t max, size_t *n_out);
/* CPUs this thread may run on (sched_getaffinity); 1 when unknown. */
unsigned guestmem_usable_cpus(void);
/* Faults every page in with MADV_POPULATE_WRITE (touching each page on kernels without it), split
 * by guestmem_chunks() across 'threads' threads (0: one per usable CPU). */
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
/* Pure: the IOMMU pages a mapping of these runs takes, as type1 and the IOMMU driver build it: each
 * physically contiguous run is cut, front to back, into the largest size of pgsize_bitmap that both
 * its IOVA (gpa) and its physical address are aligned to and that still fits. counts[i] is the number
 * of pages of size 1 << i. */
void iommu_dma_page_counts(const struct iommu_phys_run *runs, size_t n, uint64_t pgsize_bitmap,
			   uint64_t counts[64]);

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
