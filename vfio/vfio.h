/* vfio.h: the vfio module's one public header: PCI inventory, IOMMU groups, driver binding
 * (sysfs through util/root.h) and the VFIO container/group/device objects (/dev/vfio ioctls). */
#pragma once

#include "util/pciaddr.h"
#include "util/util.h"

/* ---- PCI inventory, IOMMU groups, driver binding ---- */

#define VFIO_PCI_DRIVER "vfio-pci"

/* One PCI function as sysfs (ids, driver, group, SR-IOV, netdevs, block devices), config space
 * (MSI/MSI-X vector counts, FLR, read through libpci) and pci.ids (names) describe it.
 * With PTCTL_ROOT set, names come from <root>/usr/share/misc/pci.ids when that file exists. */
struct vfio_pci_dev {
	struct pci_addr addr;
	char name[PCI_ADDR_STRLEN]; /* canonical address, "0000:03:00.0" */
	uint16_t vendor_id, device_id;
	uint16_t subsystem_vendor_id, subsystem_device_id;
	uint32_t class_code; /* base << 16 | sub << 8 | prog-if */
	char *vendor_name, *device_name, *class_name; /* NULL when pci.ids does not know them */
	char *driver;          /* bound driver, NULL when none */
	char *driver_override; /* NULL when unset */
	int iommu_group;       /* -1: none (no IOMMU, or DMA remapping off) */
	int numa_node;         /* -1: none or unknown */
	bool is_bridge;        /* PCI-to-PCI bridge: ignored by group viability, never rebound */
	int sriov_total_vfs;   /* -1 unless the device is an SR-IOV physical function */
	int sriov_num_vfs;     /* -1 unless the device is an SR-IOV physical function */
	char *physfn;          /* address of the physical function for a VF, else NULL */
	bool config_read;      /* config space was readable; the three fields below are valid */
	int msi_vectors;       /* -1: no MSI capability */
	int msix_vectors;      /* -1: no MSI-X capability */
	bool flr;              /* Function Level Reset (PCIe DevCap or the AF capability) */
	char *reset_method;    /* the kernel's reset_method ("flr bus"), NULL when absent */
	char **netdevs;        /* network interfaces of the device, NULL-terminated, never NULL */
	char **block_devices;  /* block devices (disks and partitions), NULL-terminated, never NULL */
	/* Attributes that could not be read or made sense of: the field keeps its "unknown" value (0,
	 * -1, NULL) and is shown as unreadable, so one bad file hides neither the device nor others. */
	struct vfio_pci_problem *problems;
	size_t n_problems;
};

struct vfio_pci_problem {
	char *file;        /* the sysfs path: /sys/bus/pci/devices/ADDR/sriov_totalvfs */
	const char *field; /* the JSON key it feeds: "sriov_total_vfs" */
	char *reason;      /* "'99999999999' is out of range (0-65535)" */
};
/* The problem that feeds field, or NULL. */
const struct vfio_pci_problem *vfio_pci_dev_problem(const struct vfio_pci_dev *d, const char *field);

/* -ENODEV when no such device. */
int vfio_pci_dev_read(const struct pci_addr *addr, struct vfio_pci_dev **ret);
void vfio_pci_dev_free(struct vfio_pci_dev *d);
/* Every PCI device, sorted by address; *ret is NULL-terminated. An absent bus is an empty list. */
int vfio_pci_list(struct vfio_pci_dev ***ret);
void vfio_pci_list_free(struct vfio_pci_dev **v);
/* Drivers that hand a device to user space (vfio-pci and its vendor variants). */
bool vfio_pci_is_vfio_driver(const char *driver);
/* Whether the device is in use by the host: a netdev that is up with addresses or routes, a block
 * device with mounts, swap or holders. Returns 1 (in use, *ret_reason says why), 0 (free), -errno. */
int vfio_pci_in_use(const struct vfio_pci_dev *d, char **ret_reason);

/* An IOMMU group and whether VFIO can use it: every member that is not a bridge must be
 * unbound or bound to a VFIO driver or pci-stub (drivers that do no DMA of their own). */
struct vfio_group_member {
	struct pci_addr addr;
	char name[PCI_ADDR_STRLEN];
	char *driver; /* NULL when unbound */
	bool is_bridge;
	bool blocks; /* this member makes the group not viable */
};
struct vfio_group_info {
	int group;
	bool viable;
	size_t n_members;
	struct vfio_group_member *members; /* sorted by address */
};
/* -ENOENT when the group does not exist. */
int vfio_group_read(int group, struct vfio_group_info **ret);
void vfio_group_info_free(struct vfio_group_info *g);
/* The members that block viability as "0000:00:1f.3 is bound to i801_smbus, ..."; except may name
 * a device to leave out (the one being bound). Empty string when none block. */
int vfio_group_blockers(const struct vfio_group_info *g, const struct pci_addr *except, char **ret);
/* Why the device is or is not ready for pass-through, one sentence; returns 1 ready, 0 not. */
int vfio_pci_readiness(const struct vfio_pci_dev *d, const struct vfio_group_info *g, char **ret);

/* The stable JSON form shared by `ptctl list` (detail false) and `ptctl show` (detail true:
 * group members, capabilities, netdevs, block devices, use, readiness). g may be NULL. Keys are
 * documented in the verbs' help texts. */
struct json_object;
int vfio_pci_dev_to_json(const struct vfio_pci_dev *d, const struct vfio_group_info *g, bool detail,
			 struct json_object **ret);

/* Driver binding. bind: record the original driver under /run/ptctl/devices/<addr>, then
 * driver_override -> unbind -> drivers_probe, then verify the driver link; with .group every
 * endpoint of the IOMMU group is moved. release: clear driver_override, unbind, restore the
 * recorded driver (or the kernel's default match), verify, forget the record. Every step's undo
 * is known before the step runs; a failure part-way rolls back what was done. The record is
 * "original_driver=NAME\noriginal_override=NAME\ndriver=NAME\n" (empty value: none). Under a
 * fake root (PTCTL_ROOT) a missing driver is loaded only through $PTCTL_MODPROBE. */
struct vfio_bind_opts {
	const char *driver; /* NULL: vfio-pci */
	bool group;         /* bind: every endpoint of a non-viable group too; release: every member
			     * of the group that ptctl bound, each on its own */
	bool force;         /* bind devices the host is using */
	bool dry_run;       /* plan only: steps are listed, nothing runs */
	bool locked;        /* the caller holds state_lock() already */
	int timeout_ms;     /* how long to wait for the kernel to bind (0: 3000) */
	int lock_timeout_ms; /* how long to wait for another ptctl's lock (0: 10000) */
};

struct vfio_bind_step {
	char dev[PCI_ADDR_STRLEN];
	const char *action; /* "record", "override", "unbind", "probe", "bind", "verify", "forget" */
	char *file;         /* sysfs or state file written, NULL for verify */
	char *value;        /* value written, NULL for verify / forget */
	bool done;
};

struct vfio_bind_change {
	char dev[PCI_ADDR_STRLEN];
	char *from; /* driver before (NULL: none) */
	char *to;   /* driver after (NULL: none) */
};

enum vfio_bind_failure {
	VFIO_BIND_OK,
	VFIO_BIND_BAD_INPUT, /* no such device, unknown driver: nothing was changed (exit 2) */
	VFIO_BIND_REFUSED,   /* not viable, in use, a bridge, no record: nothing was changed */
	VFIO_BIND_FAILED,    /* a step failed; everything done was rolled back */
	VFIO_BIND_STRANDED,  /* a step failed and so did the rollback: see reason */
};

/* Caller-owned, zero-initialised; filled on success and failure; vfio_bind_result_clear() frees. */
struct vfio_bind_result {
	enum vfio_bind_failure failure;
	char object[PCI_ADDR_STRLEN]; /* the device the reason is about */
	char *reason;                 /* why it failed and what to do, without the object */
	size_t n_steps;
	struct vfio_bind_step *steps;
	size_t n_changes;
	struct vfio_bind_change *changes;
};

int vfio_bind(const struct pci_addr *addr, const struct vfio_bind_opts *o, struct vfio_bind_result *res);
int vfio_release(const struct pci_addr *addr, const struct vfio_bind_opts *o,
		 struct vfio_bind_result *res);
void vfio_bind_result_clear(struct vfio_bind_result *res);

/* ---- VFIO container, group, device ---- */
/* Objects are reference-counted so cleanup order cannot strand a descriptor: a group holds its
 * container, a device holds its group. Each _unref() accepts NULL and returns NULL; the last
 * reference closes the fd (device, then group after VFIO_GROUP_UNSET_CONTAINER, then container).
 * Kernel structure names (struct vfio_region_info, ...) come from <linux/vfio.h>; ours differ. */
#include <linux/vfio.h>

struct vfio_container;
struct vfio_group;
struct vfio_device;

/* A usable IOVA window, both ends inclusive, as VFIO_IOMMU_GET_INFO reports it. */
struct vfio_iova_span {
	uint64_t first, last;
};

/* What a type1 container allows: read once after VFIO_SET_IOMMU. */
struct vfio_iommu_limits {
	uint32_t flags;            /* VFIO_IOMMU_INFO_* */
	uint64_t pgsize_bitmap;    /* IOMMU page sizes; the lowest bit set is the mapping granule */
	bool has_iova_spans;       /* false: the kernel reported no ranges (treat all 64 bits as usable) */
	size_t n_iova_spans;
	struct vfio_iova_span *iova_spans; /* sorted, non-overlapping */
	bool has_dma_avail;
	uint32_t dma_avail;        /* MAP_DMA entries still available (one per mapping call) */
	bool has_migration;
	uint32_t migration_flags;
	uint64_t migration_pgsize_bitmap;
	uint64_t migration_max_dirty_bitmap_size;
};

/* A region of the device fd (BARs, ROM, config space, device-specific regions). */
struct vfio_mmap_area {
	uint64_t offset, size; /* relative to the region */
};
struct vfio_region_desc {
	uint32_t index;
	uint32_t flags;  /* VFIO_REGION_INFO_FLAG_READ/WRITE/MMAP/CAPS */
	uint64_t size;
	uint64_t offset; /* of the region within the device fd */
	bool has_sparse; /* the kernel gave a sparse-mmap capability: only its areas may be mapped */
	size_t n_sparse;
	struct vfio_mmap_area *sparse;
	bool msix_mappable; /* the MSI-X table may be mmapped despite living in this BAR */
	bool has_type;
	uint32_t type, subtype; /* VFIO_REGION_TYPE_* / _SUBTYPE_* */
};
struct vfio_irq_desc {
	uint32_t index; /* VFIO_PCI_INTX_IRQ_INDEX ... */
	uint32_t flags; /* VFIO_IRQ_INFO_EVENTFD/MASKABLE/AUTOMASKED/NORESIZE */
	uint32_t count; /* vectors; 0 when the device lacks the capability */
};
/* One function a PCI hot reset would also reset. */
struct vfio_hot_reset_dep {
	uint32_t group_id;
	struct pci_addr addr;
};

/* Opens /dev/vfio/vfio (through the root), checks VFIO_API_VERSION and the type1v2 extension.
 * -ENOENT: no vfio module; -EPROTONOSUPPORT: API or type1v2 missing. */
int vfio_container_new(struct vfio_container **ret);
struct vfio_container *vfio_container_ref(struct vfio_container *c);
struct vfio_container *vfio_container_unref(struct vfio_container *c);
int vfio_container_fd(const struct vfio_container *c);
/* NULL until the first group is attached (VFIO_SET_IOMMU needs a group). */
const struct vfio_iommu_limits *vfio_container_limits(const struct vfio_container *c);
/* Re-reads VFIO_IOMMU_GET_INFO (dma_avail changes with every mapping). */
int vfio_container_refresh_limits(struct vfio_container *c);
/* Returns a new reference to IOMMU group 'id' in this container: the one already attached, or
 * opens /dev/vfio/ID and attaches it. */
int vfio_container_group(struct vfio_container *c, unsigned id, struct vfio_group **ret);
/* Map / unmap host memory at an IOVA (read+write). The kernel pins the pages. -EINVAL for size 0,
 * wrap-around or misalignment to the IOMMU granule (checked before the ioctl). */
int vfio_container_map_dma(struct vfio_container *c, uint64_t iova, void *vaddr, uint64_t size);
int vfio_container_unmap_dma(struct vfio_container *c, uint64_t iova, uint64_t size);

/* Opens /dev/vfio/ID and checks VFIO_GROUP_GET_STATUS. -EBUSY: another process holds it;
 * -EPERM: not viable (a device of the group is bound to a host driver); -ENOENT: no such group
 * node (is the device bound to vfio-pci?). */
int vfio_group_new(unsigned id, struct vfio_group **ret);
struct vfio_group *vfio_group_ref(struct vfio_group *g);
struct vfio_group *vfio_group_unref(struct vfio_group *g);
/* VFIO_GROUP_SET_CONTAINER, then VFIO_SET_IOMMU(type1v2) if it is the container's first group. */
int vfio_group_attach(struct vfio_group *g, struct vfio_container *c);
/* VFIO_GROUP_UNSET_CONTAINER; -EBUSY while devices of the group are open. */
int vfio_group_detach(struct vfio_group *g);
int vfio_group_fd(const struct vfio_group *g);
unsigned vfio_group_id(const struct vfio_group *g);
struct vfio_container *vfio_group_container(const struct vfio_group *g); /* borrowed; NULL if detached */
/* The IOMMU group of a PCI device (sysfs iommu_group link). -ENOENT: the device has none. */
int vfio_group_id_of_device(const struct pci_addr *addr, unsigned *ret);

/* The driver a PCI device is bound to (*ret NULL when unbound). -ENOENT: no such device. */
int vfio_device_bound_driver(const struct pci_addr *addr, char **ret);
/* Opens a device of an attached group: VFIO_GROUP_GET_DEVICE_FD, device, region and IRQ info. */
int vfio_device_new(struct vfio_group *g, const struct pci_addr *addr, struct vfio_device **ret);
/* All of it in one: the device must be bound to vfio-pci (-EMEDIUMTYPE otherwise; ask
 * vfio_device_bound_driver() for the name); its group is found, opened and attached to c. */
int vfio_device_open(struct vfio_container *c, const struct pci_addr *addr, struct vfio_device **ret);
struct vfio_device *vfio_device_unref(struct vfio_device *d);
int vfio_device_fd(const struct vfio_device *d);
const struct pci_addr *vfio_device_addr(const struct vfio_device *d);
struct vfio_group *vfio_device_group(const struct vfio_device *d); /* borrowed */
uint32_t vfio_device_flags(const struct vfio_device *d);            /* VFIO_DEVICE_FLAGS_* */
unsigned vfio_device_n_regions(const struct vfio_device *d);
unsigned vfio_device_n_irqs(const struct vfio_device *d);
const struct vfio_region_desc *vfio_device_region(const struct vfio_device *d, unsigned index);
const struct vfio_irq_desc *vfio_device_irq(const struct vfio_device *d, unsigned index);
/* pread/pwrite within a region; -EINVAL past its end, -EACCES without READ/WRITE. */
int vfio_device_region_read(struct vfio_device *d, unsigned index, uint64_t off, void *buf, size_t len);
int vfio_device_region_write(struct vfio_device *d, unsigned index, uint64_t off, const void *buf,
			     size_t len);
/* The config region (VFIO_PCI_CONFIG_REGION_INDEX); little-endian as the device has it. */
int vfio_device_config_read(struct vfio_device *d, uint64_t off, void *buf, size_t len);
int vfio_device_config_write(struct vfio_device *d, uint64_t off, const void *buf, size_t len);
int vfio_device_reset(struct vfio_device *d); /* -ENOTTY when the device cannot reset */
/* Functions affected by a hot reset; *ret malloc'ed. -ENODEV: not supported for this device. */
int vfio_device_hot_reset_info(struct vfio_device *d, struct vfio_hot_reset_dep **ret, size_t *n);
/* "BAR0".."BAR5", "ROM", "config", "VGA", or "region N" for device-specific ones. */
const char *vfio_region_name(unsigned index, char *buf, size_t len);
const char *vfio_irq_name(unsigned index); /* "INTx", "MSI", "MSI-X", "ERR", "REQ", NULL */

/* A BAR mmapped as the kernel allows: the whole region, or only its sparse areas (the rest of
 * the reservation is PROT_NONE so stray accesses fault instead of touching other memory). */
struct vfio_bar_map {
	unsigned index;
	uint8_t *base;  /* start of the region's reservation */
	uint64_t size;
	size_t n_areas;
	struct vfio_mmap_area *areas; /* mapped parts */
};
/* -EACCES: the region is not mmap-able (no VFIO_REGION_INFO_FLAG_MMAP or no areas). */
int vfio_device_bar_map(struct vfio_device *d, unsigned index, struct vfio_bar_map **ret);
/* Pointer to [off, off+len) of the BAR if it lies inside one mapped area, else NULL. */
void *vfio_bar_map_ptr(const struct vfio_bar_map *m, uint64_t off, size_t len);
struct vfio_bar_map *vfio_bar_map_free(struct vfio_bar_map *m);

/* Pure parsers behind the objects (exposed for tests; 'len' is the argsz the kernel filled). */
/* Walks a capability chain starting at 'first' (0: none). Caps must lie after the fixed header
 * (fixed_size), inside len, 4-byte aligned (kernels before 6.5 do not align to 8), each next
 * offset beyond the previous cap's header (so no loops); fn must copy, not cast, what it reads. fn gets each cap and the bytes it may span (to the next cap or len); a
 * negative return stops the walk with that value. -EBADMSG for a malformed chain. */
typedef int (*vfio_cap_fn)(const struct vfio_info_cap_header *cap, size_t cap_len, void *userdata);
int vfio_caps_walk(const void *buf, size_t len, size_t fixed_size, uint32_t first, vfio_cap_fn fn,
		   void *userdata);
int vfio_iommu_limits_parse(const void *buf, size_t len, struct vfio_iommu_limits *ret);
void vfio_iommu_limits_done(struct vfio_iommu_limits *l);
int vfio_region_desc_parse(const void *buf, size_t len, struct vfio_region_desc *ret);
void vfio_region_desc_done(struct vfio_region_desc *r);
/* The MAP_DMA / UNMAP_DMA arguments; -EINVAL for size 0, wrap-around of iova or vaddr, or
 * misalignment to 'granule' (a power of two; 0 means 4096). */
int vfio_dma_map_arg(uint64_t iova, const void *vaddr, uint64_t size, uint64_t granule,
		     struct vfio_iommu_type1_dma_map *ret);
int vfio_dma_unmap_arg(uint64_t iova, uint64_t size, uint64_t granule, struct vfio_iommu_type1_dma_unmap *ret);
int vfio_hot_reset_info_parse(const void *buf, size_t len, struct vfio_hot_reset_dep **ret, size_t *n);

static inline void vfio_container_unrefp(struct vfio_container **c)
{
	vfio_container_unref(*c);
}
static inline void vfio_group_unrefp(struct vfio_group **g)
{
	vfio_group_unref(*g);
}
static inline void vfio_device_unrefp(struct vfio_device **d)
{
	vfio_device_unref(*d);
}
static inline void vfio_bar_map_freep(struct vfio_bar_map **m)
{
	vfio_bar_map_free(*m);
}
#define _cleanup_vfio_container_ _cleanup_(vfio_container_unrefp)
#define _cleanup_vfio_group_ _cleanup_(vfio_group_unrefp)
#define _cleanup_vfio_device_ _cleanup_(vfio_device_unrefp)
