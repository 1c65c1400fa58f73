/* virtio-common.c: the device side of virtio 1.x initialisation (3.1): feature negotiation, the status
 * state machine (FEATURES_OK, DRIVER_OK, NEEDS_RESET, reset) and per-queue setup, as the driver programs
 * them through the common configuration structure. Transport-independent. */
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <string.h>

#include "util/log.h"
#include "vm/devices/virtio.h"

void virtio_dev_init(struct virtio_dev *d, const struct virtio_dev_ops *ops, void *opaque,
		     const struct virtq_mem *mem, uint64_t device_features, unsigned nqueues, uint16_t max_size,
		     uint16_t nvectors)
{
	*d = (struct virtio_dev){
		.ops = ops,
		.opaque = opaque,
		.mem = *mem,
		.device_features = device_features,
		.nvectors = nvectors,
		.nqueues = nqueues < VIRTIO_MAX_QUEUES ? nqueues : VIRTIO_MAX_QUEUES,
	};
	for (unsigned i = 0; i < d->nqueues; i++)
		d->queues[i].max_size = max_size;
	virtio_dev_reset(d);
}

uint8_t virtio_dev_status(const struct virtio_dev *d)
{
	return __atomic_load_n(&d->status, __ATOMIC_ACQUIRE);
}

bool virtio_dev_has_feature(const struct virtio_dev *d, unsigned bit)
{
	return bit < 64 && (d->driver_features >> bit & 1);
}

bool virtio_dev_set_needs_reset(struct virtio_dev *d)
{
	uint8_t old = __atomic_fetch_or(&d->status, VIRTIO_STATUS_NEEDS_RESET, __ATOMIC_ACQ_REL);

	return !(old & VIRTIO_STATUS_NEEDS_RESET);
}

void virtio_dev_reset(struct virtio_dev *d)
{
	if (d->started && d->ops && d->ops->stop)
		d->ops->stop(d);
	d->started = false;
	d->driver_features = 0;
	d->device_feature_select = d->driver_feature_select = 0;
	d->config_vector = VIRTIO_NO_VECTOR;
	d->queue_select = 0;
	for (unsigned i = 0; i < d->nqueues; i++) {
		struct virtio_queue *q = &d->queues[i];

		*q = (struct virtio_queue){ .max_size = q->max_size, .size = q->max_size, .vector = VIRTIO_NO_VECTOR };
	}
	__atomic_store_n(&d->status, 0, __ATOMIC_RELEASE);
}

static struct virtio_queue *selected(struct virtio_dev *d)
{
	return d->queue_select < d->nqueues ? &d->queues[d->queue_select] : NULL;
}

static uint16_t vector_or_none(const struct virtio_dev *d, uint32_t v)
{
	return v < d->nvectors ? v : VIRTIO_NO_VECTOR;
}

static bool features_acceptable(const struct virtio_dev *d)
{
	uint64_t f = d->driver_features;

	if (f & ~d->device_features)
		return false;
	/* No legacy interface here: a driver that does not speak virtio 1.x cannot drive us. */
	return f >> VIRTIO_F_VERSION_1 & 1;
}

static void queue_enable(struct virtio_dev *d, struct virtio_queue *q)
{
	int r;

	if (q->enabled)
		return;
	if (!(virtio_dev_status(d) & VIRTIO_STATUS_FEATURES_OK) || q->size > q->max_size) {
		r = -EINVAL;
	} else {
		r = virtq_init(&q->vq, &d->mem, q->size, q->desc, q->avail, q->used,
			       virtio_dev_has_feature(d, VIRTIO_RING_F_EVENT_IDX),
			       virtio_dev_has_feature(d, VIRTIO_RING_F_INDIRECT_DESC));
	}
	if (r < 0) {
		log_debug("virtio: queue %u: cannot enable (size %u, rings %#llx %#llx %#llx): %s",
			  (unsigned)(q - d->queues), q->size, (unsigned long long)q->desc,
			  (unsigned long long)q->avail, (unsigned long long)q->used, strerror(-r));
		virtio_dev_set_needs_reset(d);
		return;
	}
	q->enabled = true;
}

static void status_write(struct virtio_dev *d, uint8_t v)
{
	uint8_t old = virtio_dev_status(d);
	uint8_t add = v & ~old & (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
				  VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_FAILED);

	if (v == 0) {
		virtio_dev_reset(d);
		return;
	}
	/* Bits are only ever added (3.1.1); the driver clears them by resetting. */
	if (add & VIRTIO_STATUS_FEATURES_OK) {
		if (!features_acceptable(d) || (d->ops && d->ops->features_ok &&
						d->ops->features_ok(d, d->driver_features) < 0))
			add &= ~VIRTIO_STATUS_FEATURES_OK;
	}
	if (add & VIRTIO_STATUS_DRIVER_OK) {
		if (!((old | add) & VIRTIO_STATUS_FEATURES_OK) || (old & VIRTIO_STATUS_NEEDS_RESET)) {
			log_debug("virtio: DRIVER_OK refused (status %#x)", old);
			add &= ~VIRTIO_STATUS_DRIVER_OK;
			virtio_dev_set_needs_reset(d);
		}
	}
	__atomic_fetch_or(&d->status, add, __ATOMIC_ACQ_REL);
	if ((add & VIRTIO_STATUS_DRIVER_OK) && d->ops && d->ops->start) {
		int r = d->ops->start(d);
		if (r < 0) {
			log_debug("virtio: the device cannot start: %s", strerror(-r));
			virtio_dev_set_needs_reset(d);
		} else {
			d->started = true;
		}
	}
}

uint32_t virtio_common_read(struct virtio_dev *d, unsigned off, unsigned len)
{
	struct virtio_queue *q = selected(d);

#define FIELD(o, l) (off == (o) && len == (l))
	if (FIELD(VIRTIO_PCI_COMMON_DFSELECT, 4))
		return d->device_feature_select;
	if (FIELD(VIRTIO_PCI_COMMON_DF, 4))
		return d->device_feature_select < 2 ? (uint32_t)(d->device_features >> (32 * d->device_feature_select))
						     : 0;
	if (FIELD(VIRTIO_PCI_COMMON_GFSELECT, 4))
		return d->driver_feature_select;
	if (FIELD(VIRTIO_PCI_COMMON_GF, 4))
		return d->driver_feature_select < 2 ? (uint32_t)(d->driver_features >> (32 * d->driver_feature_select))
						     : 0;
	if (FIELD(VIRTIO_PCI_COMMON_MSIX, 2))
		return d->config_vector;
	if (FIELD(VIRTIO_PCI_COMMON_NUMQ, 2))
		return d->nqueues;
	if (FIELD(VIRTIO_PCI_COMMON_STATUS, 1))
		return virtio_dev_status(d);
	if (FIELD(VIRTIO_PCI_COMMON_CFGGENERATION, 1))
		return d->generation;
	if (FIELD(VIRTIO_PCI_COMMON_Q_SELECT, 2))
		return d->queue_select;
	if (!q)
		return 0; /* queue_size 0: no such queue */
	if (FIELD(VIRTIO_PCI_COMMON_Q_SIZE, 2))
		return q->size;
	if (FIELD(VIRTIO_PCI_COMMON_Q_MSIX, 2))
		return q->vector;
	if (FIELD(VIRTIO_PCI_COMMON_Q_ENABLE, 2))
		return q->enabled;
	if (FIELD(VIRTIO_PCI_COMMON_Q_NOFF, 2))
		return d->queue_select; /* queue i notifies at i * multiplier */
	if (FIELD(VIRTIO_PCI_COMMON_Q_DESCLO, 4))
		return (uint32_t)q->desc;
	if (FIELD(VIRTIO_PCI_COMMON_Q_DESCHI, 4))
		return q->desc >> 32;
	if (FIELD(VIRTIO_PCI_COMMON_Q_AVAILLO, 4))
		return (uint32_t)q->avail;
	if (FIELD(VIRTIO_PCI_COMMON_Q_AVAILHI, 4))
		return q->avail >> 32;
	if (FIELD(VIRTIO_PCI_COMMON_Q_USEDLO, 4))
		return (uint32_t)q->used;
	if (FIELD(VIRTIO_PCI_COMMON_Q_USEDHI, 4))
		return q->used >> 32;
	return 0;
}

static void set_lo(uint64_t *a, uint32_t v)
{
	*a = (*a & ~0xffffffffull) | v;
}

static void set_hi(uint64_t *a, uint32_t v)
{
	*a = (*a & 0xffffffffull) | (uint64_t)v << 32;
}

void virtio_common_write(struct virtio_dev *d, unsigned off, unsigned len, uint32_t v)
{
	struct virtio_queue *q = selected(d);
	uint8_t status = virtio_dev_status(d);

	if (FIELD(VIRTIO_PCI_COMMON_DFSELECT, 4)) {
		d->device_feature_select = v;
	} else if (FIELD(VIRTIO_PCI_COMMON_GFSELECT, 4)) {
		d->driver_feature_select = v;
	} else if (FIELD(VIRTIO_PCI_COMMON_GF, 4)) {
		/* Features are frozen once FEATURES_OK is set. */
		if (!(status & VIRTIO_STATUS_FEATURES_OK) && d->driver_feature_select < 2) {
			unsigned shift = 32 * d->driver_feature_select;

			d->driver_features = (d->driver_features & ~(0xffffffffull << shift)) | (uint64_t)v << shift;
		}
	} else if (FIELD(VIRTIO_PCI_COMMON_MSIX, 2)) {
		d->config_vector = vector_or_none(d, v);
	} else if (FIELD(VIRTIO_PCI_COMMON_STATUS, 1)) {
		status_write(d, v);
	} else if (FIELD(VIRTIO_PCI_COMMON_Q_SELECT, 2)) {
		d->queue_select = v;
	} else if (!q || q->enabled || (status & VIRTIO_STATUS_DRIVER_OK)) {
		/* No such queue, or its setup is frozen: ignored. */
	} else if (FIELD(VIRTIO_PCI_COMMON_Q_SIZE, 2)) {
		/* A size that is not a power of two fails at queue_enable (virtq_init), where NEEDS_RESET says so. */
		q->size = v;
	} else if (FIELD(VIRTIO_PCI_COMMON_Q_MSIX, 2)) {
		q->vector = vector_or_none(d, v);
	} else if (FIELD(VIRTIO_PCI_COMMON_Q_ENABLE, 2)) {
		if (v == 1)
			queue_enable(d, q);
	} else if (FIELD(VIRTIO_PCI_COMMON_Q_DESCLO, 4)) {
		set_lo(&q->desc, v);
	} else if (FIELD(VIRTIO_PCI_COMMON_Q_DESCHI, 4)) {
		set_hi(&q->desc, v);
	} else if (FIELD(VIRTIO_PCI_COMMON_Q_AVAILLO, 4)) {
		set_lo(&q->avail, v);
	} else if (FIELD(VIRTIO_PCI_COMMON_Q_AVAILHI, 4)) {
		set_hi(&q->avail, v);
	} else if (FIELD(VIRTIO_PCI_COMMON_Q_USEDLO, 4)) {
		set_lo(&q->used, v);
	} else if (FIELD(VIRTIO_PCI_COMMON_Q_USEDHI, 4)) {
		set_hi(&q->used, v);
	}
#undef FIELD
}
