/* vfio.h: the vfio module's one public header: PCI inventory, IOMMU groups, driver binding
 * (sysfs through util/root.h) and the VFIO container/group/device objects (/dev/vfio ioctls). */
#pragma once

#include "util/pciaddr.h"
#include "util/util.h"

/* ---- PCI inventory, IOMMU groups, driver binding ---- */

/* ---- VFIO container, group, device ---- */
