/* pci-internal.h: what the inventory files of vfio/ share and nobody else sees: the libpci
 * session (names and capabilities) and sysfs path helpers. */
#pragma once

#include "vfio.h"

struct pcilib;

/* One libpci session on the sysfs access method under the root. Failures are -errno. */
int pcilib_open(struct pcilib **ret);
void pcilib_close(struct pcilib *p);
/* Names from pci.ids; members stay NULL when unknown. */
int pcilib_names(struct pcilib *p, struct vfio_pci_dev *d);
/* MSI / MSI-X vector counts and FLR from config space. -EIO when config space is unreadable. */
int pcilib_caps(struct pcilib *p, struct vfio_pci_dev *d);

/* "/sys/bus/pci/devices/<addr>/<file>" into buf (host path, no root). */
int pci_sysfs_path(char *buf, size_t len, const char *dev, const char *file);
/* Last component of the device's link 'file' (driver, iommu_group, ...); absent -> *ret NULL, 0. */
int pci_read_link_opt(const char *dev, const char *file, char **ret);
/* Fills netdevs and block_devices (pci-use.c). */
int pci_dev_children(struct vfio_pci_dev *d);
/* Whether a sysfs link target lies under the device itself (not under a device behind it). */
bool pci_path_under(const char *target, const char *dev);

/* A running VM of ptctl's holds the device, or (for a PF) one of its VFs (assigned.c): 1 with the
 * holder's address in ret_dev and the record in *ret, 0 none, -errno. */
struct assignment;
int vfio_pci_assigned_running(const char *dev, char ret_dev[PCI_ADDR_STRLEN], struct assignment *ret);
