/* virtio-pci.c: the modern virtio PCI transport (virtio 1.x, 4.1; no legacy I/O BAR): the vendor
 * capabilities, one memory BAR with the common configuration, ISR, device configuration, notification
 * area (an ioeventfd per queue while the BAR decodes) and the MSI-X table, for any virtio device model. */
#include <errno.h>
#include <linux/virtio_pci.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"
#include "vm/devices/devices.h"
#include "vm/devices/virtio.h"

#define PCI_VENDOR_VIRTIO 0x1af4
#define PCI_CAP_ID_VNDR 0x09
#define PCI_SUBSYSTEM_VENDOR 0x2c
#define PCI_SUBSYSTEM_ID 0x2e

static struct virtio_pci *to_vp(struct vm_pci_device *d)
{
	return (struct virtio_pci *)d;
}

static void *ram_map(void *opaque, uint64_t gpa, uint64_t len)
{
	return vm_gpa_to_hva(opaque, gpa, len);
}

static int cap_add(struct vm_pci_device *d, uint8_t type, uint32_t off, uint32_t len, const uint32_t *mult)
{
	uint8_t cap[20] = { PCI_CAP_ID_VNDR, 0, mult ? 20 : 16, type, VIRTIO_PCI_BAR };

	put_le32(cap + 8, off);
	put_le32(cap + 12, len);
	if (mult)
		put_le32(cap + 16, *mult);
	return vm_pci_cap_add(d, cap, cap[2]);
}

/* Little-endian bytes <-> a value for the common configuration (fields are at most 4 bytes). */
static uint32_t data_get(const uint8_t *data, unsigned len)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < len && i < 4; i++)
		v |= (uint32_t)data[i] << (8 * i);
	return v;
}

static void data_put(uint8_t *data, unsigned len, uint32_t v)
{
	for (unsigned i = 0; i < len; i++)
		data[i] = i < 4 ? (uint8_t)(v >> (8 * i)) : 0;
}

static void kick(struct virtio_pci *vp, uint64_t off, unsigned len)
{
	unsigned q = (unsigned)(off / VIRTIO_PCI_NOTIFY_MULT);
	uint64_t one = 1;

	(void)len;
	if (q < vp->vdev.nqueues && write(vp->kick_fd[q], &one, sizeof(one)) < 0)
		log_debug("%s: queue %u: kick: %m", vp->pci.name, q);
}

static void bar_io(struct vm_pci_device *d, unsigned bar, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	struct virtio_pci *vp = to_vp(d);

	if (vp->msix && vm_msix_bar_io(vp->msix, bar, off, data, len, is_write))
		return;
	if (bar != VIRTIO_PCI_BAR)
		goto unclaimed;
	if (off < VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_LEN && len <= 4) {
		if (is_write)
			virtio_common_write(&vp->vdev, (unsigned)off, len, data_get(data, len));
		else
			data_put(data, len, virtio_common_read(&vp->vdev, (unsigned)off, len));
		return;
	}
	if (off == VIRTIO_PCI_ISR_OFF && len == 1) {
		/* Interrupts are MSI-X only: there is never an INTx cause to report. */
		if (!is_write)
			data[0] = 0;
		return;
	}
	if (off >= VIRTIO_PCI_DEVCFG_OFF && off - VIRTIO_PCI_DEVCFG_OFF < vp->devcfg_len &&
	    len <= vp->devcfg_len - (off - VIRTIO_PCI_DEVCFG_OFF)) {
		unsigned o = (unsigned)(off - VIRTIO_PCI_DEVCFG_OFF);
		if (!is_write)
			memcpy(data, vp->devcfg + o, len);
		else if (vp->devcfg_write)
			vp->devcfg_write(vp, o, data, len);
		return;
	}
	/* The notification area when no ioeventfd took the write (another width, or activate failed). */
	if (off >= VIRTIO_PCI_NOTIFY_OFF && off < VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * VIRTIO_MAX_QUEUES) {
		if (is_write)
			kick(vp, off - VIRTIO_PCI_NOTIFY_OFF, len);
		else
			memset(data, 0, len);
		return;
	}
unclaimed:
	if (!is_write)
		memset(data, 0, len);
}

static void kicks_unregister(struct virtio_pci *vp)
{
	if (!vp->kick_registered)
		return;
	for (unsigned q = 0; q < vp->vdev.nqueues; q++)
		vm_ioeventfd_remove(vp->pci.vm, true, vp->bar_addr + VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * q, 2,
				    vp->kick_fd[q]);
	vp->kick_registered = false;
}

static int bar_activate(struct vm_pci_device *d, unsigned bar, uint64_t addr)
{
	struct virtio_pci *vp = to_vp(d);
	int r;

	if (bar != VIRTIO_PCI_BAR)
		return 0;
	kicks_unregister(vp);
	vp->bar_addr = addr;
	vp->kick_registered = true;
	/* Linux notifies with a 16-bit write of the queue index: KVM signals the eventfd without an exit. */
	for (unsigned q = 0; q < vp->vdev.nqueues; q++) {
		r = vm_ioeventfd_add(d->vm, true, addr + VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * q, 2,
				     vp->kick_fd[q]);
		if (r < 0) {
			for (unsigned k = 0; k < q; k++)
				vm_ioeventfd_remove(d->vm, true, addr + VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * k, 2,
						    vp->kick_fd[k]);
			vp->kick_registered = false;
			return r;
		}
	}
	return 0;
}

static void bar_deactivate(struct vm_pci_device *d, unsigned bar, uint64_t addr)
{
	(void)addr;
	if (bar == VIRTIO_PCI_BAR)
		kicks_unregister(to_vp(d));
}

static void config_write(struct vm_pci_device *d, unsigned off, unsigned len, uint32_t value)
{
	struct virtio_pci *vp = to_vp(d);

	if (vp->msix && vm_msix_config_write(vp->msix, off, len, value))
		return;
	vm_pci_config_write_default(d, off, len, value);
}

static void reset(struct vm_pci_device *d)
{
	virtio_dev_reset(&to_vp(d)->vdev);
}

static void pci_free(struct vm_pci_device *d)
{
	struct virtio_pci *vp = to_vp(d);

	virtio_dev_reset(&vp->vdev); /* stops the data path */
	virtio_pci_destroy(vp);
	if (vp->free)
		vp->free(vp);
}

static const struct vm_pci_ops virtio_pci_ops = {
	.config_write = config_write,
	.bar_io = bar_io,
	.bar_activate = bar_activate,
	.bar_deactivate = bar_deactivate,
	.reset = reset,
	.free = pci_free,
};

int virtio_pci_init(struct virtio_pci *vp, struct vm *vm, const char *name, uint16_t device_id, uint32_t class_code,
		    uint64_t features, unsigned nqueues, uint16_t queue_size, const struct virtio_dev_ops *ops,
		    uint8_t *devcfg, unsigned devcfg_len)
{
	struct vm_pci_device *d = &vp->pci;
	uint32_t mult = VIRTIO_PCI_NOTIFY_MULT;
	int r;

	if (nqueues == 0 || nqueues > VIRTIO_MAX_QUEUES || devcfg_len > VIRTIO_PCI_NOTIFY_OFF - VIRTIO_PCI_DEVCFG_OFF)
		return -EINVAL;
	vm_pci_device_init(d, name, PCI_VENDOR_VIRTIO, 0x1040 + device_id, class_code, 0);
	d->ops = &virtio_pci_ops;
	d->config[0x08] = 1; /* revision 1: a modern-only (non-transitional) device */
	put_le16(d->config + PCI_SUBSYSTEM_VENDOR, PCI_VENDOR_VIRTIO);
	put_le16(d->config + PCI_SUBSYSTEM_ID, 0x40 + device_id); /* >= 0x40 for non-transitional devices */
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vp->kick_fd[q] = -1;
	vp->devcfg = devcfg;
	vp->devcfg_len = devcfg_len;
	vp->msix = NULL;

	r = vm_pci_bar_init(d, VIRTIO_PCI_BAR, VM_PCI_BAR_MEM32, VIRTIO_PCI_BAR_SIZE, false);
	if (r < 0)
		goto fail;
	if ((r = cap_add(d, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_LEN, NULL)) < 0 ||
	    (r = cap_add(d, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, 1, NULL)) < 0 ||
	    (r = cap_add(d, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVCFG_OFF, devcfg_len ? devcfg_len : 4, NULL)) < 0 ||
	    (r = cap_add(d, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF, VIRTIO_PCI_NOTIFY_MULT * nqueues, &mult)) < 0)
		goto fail;
	for (unsigned q = 0; q < nqueues; q++) {
		vp->kick_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vp->kick_fd[q] < 0) {
			r = -errno;
			goto fail;
		}
	}
	/* Vector 0 for configuration changes, 1 + q for queue q (what Linux asks for first). */
	r = vm_msix_new(d, nqueues + 1, VIRTIO_PCI_BAR, VIRTIO_PCI_MSIX_TABLE_OFF, VIRTIO_PCI_MSIX_PBA_OFF, NULL, vp,
			&vp->msix);
	if (r < 0)
		goto fail;
	virtio_dev_init(&vp->vdev, ops, vp, &(struct virtq_mem){ .map = ram_map, .opaque = vm }, features, nqueues, queue_size, (uint16_t)(nqueues + 1));
	return 0;
fail:
	virtio_pci_destroy(vp);
	return r;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	kicks_unregister(vp);
	vp->msix = vm_msix_free(vp->msix);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (vp->kick_fd[q] >= 0) {
			close(vp->kick_fd[q]);
			vp->kick_fd[q] = -1;
		}
	pthread_mutex_destroy(&vp->pci.lock);
}

void virtio_pci_notify_queue(struct virtio_pci *vp, unsigned q)
{
	uint16_t v = q < vp->vdev.nqueues ? vp->vdev.queues[q].vector : VIRTIO_NO_VECTOR;

	if (v != VIRTIO_NO_VECTOR)
		vm_msix_notify(vp->msix, v);
}

void virtio_pci_notify_config(struct virtio_pci *vp)
{
	uint16_t v = vp->vdev.config_vector;

	if (v != VIRTIO_NO_VECTOR)
		vm_msix_notify(vp->msix, v);
}

void virtio_pci_fail(struct virtio_pci *vp)
{
	if (virtio_dev_set_needs_reset(&vp->vdev))
		virtio_pci_notify_config(vp);
}

int virtio_pci_queue_irqfd(struct virtio_pci *vp, unsigned q)
{
	uint16_t v = q < vp->vdev.nqueues ? vp->vdev.queues[q].vector : VIRTIO_NO_VECTOR;

	return v == VIRTIO_NO_VECTOR ? -1 : vm_msix_eventfd(vp->msix, v);
}
