/* verb-vfio.h: what the VFIO verbs (vfio probe, bench dma) share: opening a device's group the
 * way an operator needs it explained, one error line naming the object, the reason and the fix. */
#pragma once

#include "vfio/vfio.h"

/* Parses ADDRESS, checks the device is on vfio-pci, opens a container and attaches the device's
 * group; *dev (optional) gets the opened device. Reports its own error; returns an exit status. */
int verb_vfio_open(const struct verb_ctx *ctx, const char *verb, const char *arg, struct vfio_container **ret_c,
		   struct vfio_group **ret_g, struct vfio_device **ret_d);
