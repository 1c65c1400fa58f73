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
};

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
 * is known before the step runs; a failure part-way rolls back what was done. */
struct vfio_bind_opts {
	const char *driver; /* NULL: vfio-pci */
	bool group;         /* bind every endpoint of a non-viable group too */
	bool force;         /* bind devices the host is using */
	bool dry_run;       /* plan only: steps are listed, nothing runs */
	bool locked;        /* the caller holds state_lock() already */
	int timeout_ms;     /* how long to wait for the kernel to bind (0: 3000) */
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
