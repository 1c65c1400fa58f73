/* features.c: which device models this build of the VMM links in. The models land one by one after the
 * contract in vm.h; a caller asks here first and reports a missing one as unavailable rather than
 * booting a guest that silently has no such device. */
#include "devices/devices.h"

/* Weak references: a model counts only when something in the VMM really links it (vm_new's device
 * setup), never because its object merely sits in the archive. */
#pragma weak vm_e1000_add
#pragma weak vm_virtio_net_add
#pragma weak vm_vfio_pci_add

int vm_nic_model_available(enum vm_nic_model m, const char **why)
{
	const char *w = NULL;

	switch (m) {
	case VM_NIC_E1000:
		if (!vm_e1000_add)
			w = "this build of ptctl's VMM has no e1000 model yet (vm/devices/e1000.c)";
		break;
	case VM_NIC_VIRTIO:
	case VM_NIC_VHOST:
		if (!vm_virtio_net_add)
			w = "this build of ptctl's VMM has no virtio-net model yet (vm/devices/virtio-net.c)";
		break;
	default:
		w = "unknown NIC model";
	}
	if (w && why)
		*why = w;
	return w ? -EOPNOTSUPP : 0;
}

int vm_assign_available(const char **why)
{
	if (vm_vfio_pci_add)
		return 0;
	if (why)
		*why = "this build of ptctl's VMM cannot pass devices through yet (vm/devices/vfio-pci.c)";
	return -EOPNOTSUPP;
}
