/* container-internal.h: the container/group/device structures shared by their files inside vfio/.
 * Nothing outside vfio/ includes this; vfio.h is the contract. */
#pragma once

#include <inttypes.h>

#include "vfio/vfio.h"

struct vfio_container {
	unsigned n_ref;
	int fd;
	bool iommu_set; /* VFIO_SET_IOMMU done (after the first group joined) */
	struct vfio_iommu_limits limits;
	size_t n_groups;
	struct vfio_group **groups; /* attached, not referenced (each group references us) */
};

struct vfio_group {
	unsigned n_ref;
	unsigned id;
	int fd;
	struct vfio_container *container; /* referenced while attached */
};

struct vfio_device {
	unsigned n_ref;
	int fd;
	struct pci_addr addr;
	struct vfio_group *group; /* referenced */
	uint32_t flags;
	unsigned n_regions, n_irqs;
	struct vfio_region_desc *regions;
	struct vfio_irq_desc *irqs;
};

int vfio_container_set_iommu(struct vfio_container *c);
int vfio_container_add_group(struct vfio_container *c, struct vfio_group *g);
void vfio_container_remove_group(struct vfio_container *c, struct vfio_group *g);
