/* vfio-pci.h: the seam between the vfio-pci device model and the VFIO device it drives: the model
 * calls only these operations, so unit tests run it against a fake device (config region, BAR regions,
 * IRQ set). Shared by vfio-pci.c and its tests only. */
#pragma once

#include "irq/irq.h"
#include "vfio/vfio.h"
#include "vm/devices/devices.h"

struct vm_vfio_backend_ops {
	/* pread/pwrite of a region (config space, BARs); -errno on failure. */
	int (*region_read)(void *be, unsigned index, uint64_t off, void *buf, size_t len);
	int (*region_write)(void *be, unsigned index, uint64_t off, const void *buf, size_t len);
	/* What VFIO_DEVICE_GET_REGION_INFO / GET_IRQ_INFO said; NULL when the index does not exist. */
	const struct vfio_region_desc *(*region)(void *be, unsigned index);
	const struct vfio_irq_desc *(*irq)(void *be, unsigned index);
	/* VFIO_DEVICE_SET_IRQS. */
	int (*set_irqs)(void *be, const struct irq_vfio_req *req);
	/* VFIO_DEVICE_RESET; -ENOTTY when the device cannot reset. */
	int (*reset)(void *be);
	/* The BAR's mmappable areas mapped into this process (vfio_device_bar_map). */
	int (*bar_map)(void *be, unsigned index, struct vfio_bar_map **ret);
	/* Closes the device (and whatever the backend holds for it). */
	void (*free)(void *be);
};

/* Builds the model over an opened backend and adds it to the VM's bus; returns the slot. On failure
 * the backend is freed and nothing is on the bus; *why names the problem. */
int vm_vfio_pci_add_backend(struct vm *vm, const char *name, const struct vm_vfio_backend_ops *ops, void *be,
			    const char **why);
