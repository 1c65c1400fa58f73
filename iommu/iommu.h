/* iommu.h: the iommu module's one public header: VT-d status (DMAR table, cap/ecap, reserved
 * regions) and DMA mapping of guest memory into VFIO containers (IOVA = guest-physical). */
#pragma once

#include "util/util.h"

/* ---- VT-d status ---- */

/* ---- Guest memory and DMA mapping ---- */
