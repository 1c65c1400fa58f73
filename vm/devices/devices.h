/* devices.h: the device models of ptctl's VMs (one file each in vm/devices/), as vm_new() adds them
 * from struct vm_config. Shared by vm/ and the models' unit tests only; vm/vm.h is the public contract. */
#pragma once

#include "vm/internal.h"

/* Each constructor builds its model, adds it to the VM's PCI bus (vm_pci_add) and returns the slot;
 * on failure nothing is left on the bus and *why (if not NULL) names the problem for the user. */

/* vfio-pci.c: a host device bound to vfio-pci, given to the guest (pass-through). */
int vm_vfio_pci_add(struct vm *vm, const char *address, const char **why);
/* For `vm show`: the device's guest slot, BARs and every interrupt (guest vector and destination from
 * what the guest wrote, GSI, host IRQ with count and affinity, masked). -ENODEV: not a vfio-pci device. */
struct json_object;
int vm_vfio_pci_describe(struct vm_pci_device *d, struct json_object **ret);
/* Whether the VM's guest RAM is mapped into a VFIO container (an assigned device exists). */
bool vm_vfio_pci_dma_mapped(const struct vm *vm);
/* e1000.c: the emulated Intel 82540EM. index: the NIC's position in vm_config (for the default MAC). */
int vm_e1000_add(struct vm *vm, const struct vm_nic_config *nic, unsigned index, const char **why);
/* nic.c: the MAC of a NIC the user gave none: locally administered, unicast, from the VM name and the
 * NIC's index (stable across runs, distinct between NICs of a VM). */
void vm_nic_default_mac(const char *vm_name, unsigned index, uint8_t mac[6]);
/* virtio-net.c: virtio-net-pci (modern) with the VMM's own data path or vhost-net (nic->model). */
int vm_virtio_net_add(struct vm *vm, const struct vm_nic_config *nic, unsigned index, const char **why);

/* ---- tap.c: the host end of a NIC model (e1000, virtio-net, vhost-net) ---- */
#define VM_TAP_VNET_HDR_LEN 12 /* struct virtio_net_hdr_mrg_rxbuf: what virtio 1.x always uses */
struct vm_tap {
	int fd;            /* /dev/net/tun attached to the interface; O_NONBLOCK */
	char name[16];     /* IFNAMSIZ */
	bool created;      /* created by us: it goes away when the last fd closes */
	bool vnet_hdr;     /* every frame read or written starts with a VM_TAP_VNET_HDR_LEN header */
	unsigned offload;  /* TUN_F_* set by vm_tap_set_offload */
};
/* Opens the tap name (attaching if it exists, creating it otherwise) or, with name NULL, creates one
 * named ptctlN; brings it up. vnet_hdr: IFF_VNET_HDR with the 12-byte header and no offloads yet.
 * -EINVAL for a bad name; *why names the problem for the user. */
int vm_tap_open(const char *name, bool vnet_hdr, struct vm_tap **ret, const char **why);
/* TUNSETOFFLOAD: what the reader of the tap (the guest) accepts (TUN_F_CSUM, TUN_F_TSO4, ...). */
int vm_tap_set_offload(struct vm_tap *t, unsigned tun_flags);
/* The subset of tun_flags the tap accepts (the kernel's own set depends on its version); leaves the
 * current offloads as they were. */
int vm_tap_probe_offload(struct vm_tap *t, unsigned tun_flags, unsigned *ret);
bool vm_tap_name_valid(const char *name);
struct vm_tap *vm_tap_free(struct vm_tap *t);
static inline void vm_tap_freep(struct vm_tap **t)
{
	vm_tap_free(*t);
}
