/* fakesys.h: fake sysfs/proc trees for unit tests, with a model of the kernel's PCI driver core.
 * Every module's tests use it; ptctl code under test sees the tree through util/root.h.
 *
 * A tree lives in a temporary directory that becomes the root (root_set), laid out as the kernel
 * lays out its own: /sys/devices/pci0000:00/.../DEVICE (real directories, nested behind bridges),
 * /sys/bus/pci/devices/ADDR -> that directory, /sys/bus/pci/drivers/NAME/{bind,unbind,new_id} with
 * a link per bound device, /sys/kernel/iommu_groups/N/devices/ADDR, /sys/class/{net,block}/NAME
 * -> under the device, SR-IOV links physfn/virtfnN, a `config` file with real capability bytes
 * (libpci reads it), /proc/net/{route,ipv6_route}, /proc/self/mountinfo, /proc/swaps, /run, and
 * a small pci.ids at /usr/share/misc/pci.ids (ptctl uses it instead of the host's under a root).
 *
 * The kernel model (a root_set_write_hook, active after fakesys_new): writes through root_write()
 * to driver_override, drivers/NAME/{bind,unbind,new_id} and drivers_probe behave like the kernel:
 * the `driver` link moves, driver_override decides the match when set, otherwise the driver's id
 * table does ("8086:10c9" or "*"); drivers_probe succeeds even when nothing binds. Faults can be
 * injected to test rollback. Every write is logged (fakesys_writes). Not modelled: asynchronous
 * probing, sriov_numvfs, remove/rescan.
 *
 * Typical use:
 *     struct fakesys *fs;
 *     assert_int_equal(fakesys_new(&fs), 0);
 *     fakesys_add_driver(fs, "igb", (const char *[]){ "8086:10c9", NULL });
 *     fakesys_add_driver(fs, "vfio-pci", NULL);
 *     fakesys_add_dev(fs, &(struct fakesys_dev){ .addr = "0000:01:00.0", .vendor = 0x8086,
 *             .device = 0x10c9, .class_code = 0x020000, .iommu_group = 3, .driver = "igb",
 *             .msix_vectors = 10, .pcie = true, .flr = true });
 *     ... code under test ...
 *     fakesys_free(fs);
 * Set FAKESYS_KEEP=1 to keep the directory for inspection (its path is printed). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fakesys;

struct fakesys_dev {
	const char *addr; /* canonical "0000:03:00.0" */
	uint16_t vendor, device, subsystem_vendor, subsystem_device;
	uint32_t class_code;      /* 24-bit: 0x020000 Ethernet; 0x0604xx makes a bridge (header type 1) */
	int iommu_group;          /* -1: none (no IOMMU) */
	int numa_node;            /* written as is; -1 for none */
	const char *parent;       /* the bridge it sits behind (added before), NULL: root bus */
	const char *driver;       /* bound at creation (must exist), NULL: unbound */
	int msi_vectors;          /* 0: no MSI capability; else 1, 2, 4, ... 32 */
	int msix_vectors;         /* 0: no MSI-X capability; else the table size */
	bool pcie;                /* PCI Express capability, 4096-byte config space */
	bool flr;                 /* FLR in the PCIe device capabilities (implies pcie) */
	int sriov_total_vfs;      /* > 0: an SR-IOV PF (sriov_totalvfs, sriov_numvfs = 0) */
	const char *reset_method; /* NULL: no reset_method file */
	const uint8_t *config;    /* raw config space instead of the generated one */
	size_t config_len;
};

enum fakesys_fault {
	FAKESYS_PROBE_FAILS = 1 << 0,  /* the driver's probe fails: bind -ENXIO, drivers_probe binds nothing */
	FAKESYS_UNBIND_EBUSY = 1 << 1, /* unbind from this driver fails with -EBUSY */
};

/* A tree in a new temporary directory, made the root, with the kernel model hooked in. */
int fakesys_new(struct fakesys **ret);
/* A tree at an existing empty directory, without changing the root or hooking (fixture programs
 * that build a tree for a ptctl binary to read). */
int fakesys_new_at(const char *dir, struct fakesys **ret);
/* Unhooks, resets the root, removes the directory (unless FAKESYS_KEEP=1 or made by _new_at). */
void fakesys_free(struct fakesys *fs);
const char *fakesys_dir(const struct fakesys *fs);

int fakesys_add_driver(struct fakesys *fs, const char *name, const char *const *ids);
/* A driver that appears only when its module is loaded: fakesys_modprobe_path() is a modprobe
 * script (point PTCTL_MODPROBE at it) that registers it; unknown modules make it exit 1. */
int fakesys_add_module(struct fakesys *fs, const char *module, const char *driver, const char *const *ids);
const char *fakesys_modprobe_path(const struct fakesys *fs);
int fakesys_fault(struct fakesys *fs, const char *driver, unsigned faults); /* replaces the set */
/* The nth (1-based) future write whose host path ends with suffix fails with err (< 0). */
int fakesys_fail_write(struct fakesys *fs, const char *suffix, int nth, int err);

int fakesys_add_dev(struct fakesys *fs, const struct fakesys_dev *d);
/* A VF of pf as virtfn<index>; d->addr is the VF's address. sriov_numvfs of the PF is raised. */
int fakesys_add_vf(struct fakesys *fs, const char *pf, int index, const struct fakesys_dev *d);

/* Interfaces and disks. flags as in /sys/class/net/X/flags (0x1 = up). */
int fakesys_add_netdev(struct fakesys *fs, const char *dev, const char *ifname, unsigned flags, int ifindex);
int fakesys_add_route(struct fakesys *fs, const char *ifname);      /* a line in /proc/net/route */
int fakesys_add_ipv6_route(struct fakesys *fs, const char *ifname, const char *dest32hex);
/* A disk (disk NULL) or a partition of disk, with its major:minor. */
int fakesys_add_block(struct fakesys *fs, const char *dev, const char *disk, const char *name, const char *devno);
int fakesys_add_mount(struct fakesys *fs, const char *devno, const char *mountpoint);
int fakesys_add_holder(struct fakesys *fs, const char *blk, const char *holder);

/* Called before the model for every write (after the write is logged): return 0 to let the model
 * handle it, < 0 to fail the write with that error. Lets a test act at an exact step. */
typedef int (*fakesys_write_cb)(const char *path, const char *value, void *userdata);
void fakesys_on_write(struct fakesys *fs, fakesys_write_cb cb, void *userdata);

/* The driver a device is bound to now (*ret NULL when unbound). */
int fakesys_driver(struct fakesys *fs, const char *dev, char **ret);
/* driver_override as the kernel shows it ("(null)" when unset). */
int fakesys_override(struct fakesys *fs, const char *dev, char **ret);
/* The writes seen so far, "PATH <- VALUE", NULL-terminated (owned by fs); and their count. */
char *const *fakesys_writes(const struct fakesys *fs);
size_t fakesys_n_writes(const struct fakesys *fs);
void fakesys_clear_writes(struct fakesys *fs);

/* Raw helpers on host paths inside the tree: a file (parents made), a symlink. */
int fakesys_write(struct fakesys *fs, const char *path, const char *content);
int fakesys_append(struct fakesys *fs, const char *path, const char *content);
int fakesys_symlink(struct fakesys *fs, const char *target, const char *path);

/* A sample host shaped like the test rig's q35 machine, for tests that need a whole inventory:
 *   00:00.0 host bridge (group 0, unbound)
 *   00:1c.0 root port (pcieport) -> 01:00.0 igb 82576 PF (igb, enp1s0 up with a route, 7 VFs
 *           possible, 2 enabled: 01:10.0 on igbvf, 01:10.2 on vfio-pci); root port and PF share group 1
 *   00:1c.1 root port (pcieport) -> 02:00.0 e1000e 82574L (e1000e, enp2s0 down), group 2
 *   00:1c.2 root port (pcieport) -> 03:00.0 NVMe (nvme, nvme0n1 with nvme0n1p1 mounted on /srv), group 3
 *   00:05.0 QEMU edu device, unbound, MSI, group 7
 *   00:1f.0 LPC (lpc_ich), 00:1f.2 SATA (ahci), 00:1f.3 SMBus (i801_smbus): one group, 4
 * Groups: root port i is in group i+1 with its device; VFs in 5 and 6. Drivers: pcieport, igb,
 * igbvf, e1000e, nvme, lpc_ich, ahci, i801_smbus, vfio-pci, pci-stub. With iommu false no
 * device has a group (DMA remapping off). */
int fakesys_add_sample_host(struct fakesys *fs, bool iommu);
