/* fake-vfio.h: a fake VFIO device behind the vfio-pci model's backend seam (struct vm_vfio_backend_ops),
 * for the model's unit test and its fuzz target: an igb-VF-like function with PM, MSI (64-bit, per-vector
 * mask, 4 vectors), MSI-X (3 vectors, table at BAR3+0, PBA at BAR3+0x2000), PCIe and a vendor capability;
 * extended space with SR-IOV, AER and ARI; BAR0 16K MEM32, BAR1 32-byte I/O, BAR3 16K MEM64 prefetchable,
 * a 64K ROM. BARs map to anonymous memory. It keeps what the model did to it: IRQ set calls, resets,
 * config writes (dropped: the device's own config is not the model's to change), BAR maps. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "vm/devices/vfio-pci.h"

#define FAKE_VFIO_CALLS 64
struct fake_vfio_irq_call {
	enum irq_vfio_op op;
	uint32_t index, count;
	int32_t fds[8];
};
struct fake_vfio {
	uint8_t cfg[4096];
	uint8_t bar0[0x4000], bar1[32], bar3[0x4000];
	struct vfio_region_desc regions[VFIO_PCI_NUM_REGIONS];
	struct vfio_irq_desc irqs[VFIO_PCI_NUM_IRQS];
	struct fake_vfio_irq_call calls[FAKE_VFIO_CALLS]; /* the first FAKE_VFIO_CALLS; ncalls counts all */
	unsigned ncalls, resets, cfg_writes, maps;
	uint16_t last_cmd;
	bool freed;
	bool free_on_release; /* the model's free() frees the struct too (else it only sets freed) */
};

extern const struct vm_vfio_backend_ops fake_vfio_ops;
void fake_vfio_init(struct fake_vfio *f);
