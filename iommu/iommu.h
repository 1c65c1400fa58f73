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
