/* devices.h: the device models of ptctl's VMs (one file each in vm/devices/), as vm_new() adds them
 * from struct vm_config. Shared by vm/ and the models' unit tests only; vm/vm.h is the public contract. */
#pragma once

#include "vm/internal.h"

/* Each constructor builds its model, adds it to the VM's PCI bus (vm_pci_add) and returns the slot;
 * on failure nothing is left on the bus and *why (if not NULL) names the problem for the user. */

/* vfio-pci.c: a host device bound to vfio-pci, given to the guest (pass-through). */
int vm_vfio_pci_add(struct vm *vm, const char *address, const char **why);
/* e1000.c: the emulated Intel 82540EM. index: the NIC's position in vm_config (for the default MAC). */
int vm_e1000_add(struct vm *vm, const struct vm_nic_config *nic, unsigned index, const char **why);
/* virtio-net.c: virtio-net-pci (modern) with the VMM's own data path or vhost-net (nic->model). */
int vm_virtio_net_add(struct vm *vm, const struct vm_nic_config *nic, unsigned index, const char **why);
