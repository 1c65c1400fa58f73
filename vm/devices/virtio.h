/* virtio.h: what the virtio device models of vm/devices/ share: split virtqueues over guest RAM
 * (virtqueue.c) and the modern virtio-pci transport (virtio-pci.c). Shared with their unit tests only. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vm/vm.h"

/* ---- Split virtqueues (virtio 1.x, 2.7) ----
 * Everything the rings say comes from the guest: every index, descriptor, address and length is checked,
 * and a malformed ring makes virtq_pop() fail (the device then sets NEEDS_RESET and stops the queue). */

/* Guest RAM as the queues see it: the host address of [gpa, gpa + len) if it lies wholly in RAM, else
 * NULL (vm_gpa_to_hva for a VM; a plain buffer in tests and fuzzing). */
struct virtq_mem {
	void *(*map)(void *opaque, uint64_t gpa, uint64_t len);
	void *opaque;
};

#define VIRTQ_MAX_SIZE 32768     /* split ring limit (power of two) */
#define VIRTQ_MAX_INDIRECT 1024  /* descriptors in one indirect table */
#define VIRTQ_MAX_SEGS 1024      /* iovecs one chain may produce */

struct virtq {
	const struct virtq_mem *mem;
	uint16_t num;             /* queue size; 0: not set up */
	bool event_idx;           /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;            /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	uint8_t *desc, *avail, *used; /* host addresses of the three parts */
	uint16_t last_avail;      /* next avail entry the device takes */
	uint16_t used_idx;        /* the device's copy of used->idx */
	uint16_t signalled_used;  /* used_idx at the last interrupt (event index) */
	bool signalled_valid;
	bool broken;              /* a malformed ring was seen: nothing more is taken */
};

/* A chain taken from the avail ring: device-readable segments first (out), then device-writable (in). */
struct virtq_chain {
	uint16_t head;
	unsigned nout, nin;      /* iovecs: iov[0..nout) readable, iov[nout..nout+nin) writable */
	uint32_t out_len, in_len; /* total bytes of each part */
};

/* Sets q up over the guest's rings (addresses from the driver): -EINVAL for a size that is not a power of
 * two in 1..VIRTQ_MAX_SIZE or a misaligned ring, -EFAULT for a ring not wholly in RAM. */
int virtq_init(struct virtq *q, const struct virtq_mem *mem, uint16_t num, uint64_t desc, uint64_t avail,
	       uint64_t used, bool event_idx, bool indirect);
/* Takes the next available chain into iov (room for max_iov; VIRTQ_MAX_SEGS is always enough).
 * 1: a chain in *ret; 0: none available; < 0: the ring is malformed (q->broken is set):
 * -ERANGE avail index beyond the ring, -EFAULT an address outside RAM, -ELOOP a loop or over-long chain,
 * -EINVAL bad flags (indirect not negotiated, nested, readable after writable), -E2BIG too many segments
 * or too many bytes. */
int virtq_pop(struct virtq *q, struct iovec *iov, unsigned max_iov, struct virtq_chain *ret);
/* Gives the last popped chain back (it was not used, e.g. no frame to receive after all). */
void virtq_unpop(struct virtq *q);
/* True when the avail ring holds a chain the device has not taken. */
bool virtq_has_avail(struct virtq *q);
/* Returns chain head to the driver with len bytes written into its writable part. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t len);
/* Whether the driver wants an interrupt for what was pushed since the last one (flags or used_event). */
bool virtq_should_notify(struct virtq *q);
/* Asks the driver to kick (true) or not (false) on new buffers; with event index, "kick at the next one".
 * After enabling, check virtq_has_avail() again: the driver may have added one meanwhile. */
void virtq_set_notification(struct virtq *q, bool enable);

/* ---- The virtio device state the driver programs (common configuration, 4.1.4.3) ----
 * Transport-independent: virtio-pci.c maps it into a BAR, the tests drive it directly. Every call below
 * runs under the device's lock; the data path only reads what DRIVER_OK froze, and sets NEEDS_RESET. */
#define VIRTIO_MAX_QUEUES 8
#define VIRTIO_NO_VECTOR 0xffff

struct virtio_dev;
struct virtio_dev_ops {
	/* FEATURES_OK: the driver's features (a subset of the device's, with VERSION_1) are final. A negative
	 * return leaves FEATURES_OK clear, which tells the driver the device cannot work with them. */
	int (*features_ok)(struct virtio_dev *d, uint64_t features);
	/* DRIVER_OK with every enabled queue set up: start the data path. A negative return sets NEEDS_RESET. */
	int (*start)(struct virtio_dev *d);
	/* Reset (or NEEDS_RESET): stop the data path; when it returns nothing touches the queues. */
	void (*stop)(struct virtio_dev *d);
};

struct virtio_queue {
	uint16_t max_size;       /* what the device offers; 0: no such queue */
	uint16_t size;           /* the driver's choice (power of two <= max_size) */
	uint16_t vector;         /* MSI-X vector or VIRTIO_NO_VECTOR */
	bool enabled;            /* queue_enable written 1 and the rings checked (vq set up) */
	uint64_t desc, avail, used;
	struct virtq vq;
};

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	void *opaque;
	struct virtq_mem mem;
	uint64_t device_features, driver_features;
	uint32_t device_feature_select, driver_feature_select;
	uint16_t config_vector;
	uint16_t nvectors;       /* MSI-X vectors: a vector number beyond reads back as VIRTIO_NO_VECTOR */
	uint8_t status;          /* device_status; NEEDS_RESET may be set from any thread (atomic) */
	uint8_t generation;      /* config_generation */
	uint16_t queue_select;
	unsigned nqueues;
	bool started;            /* ops->start succeeded and ops->stop has not run */
	struct virtio_queue queues[VIRTIO_MAX_QUEUES];
};

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* Sets d up with nqueues queues of max_size entries each (all else as after a reset). */
void virtio_dev_init(struct virtio_dev *d, const struct virtio_dev_ops *ops, void *opaque,
		     const struct virtq_mem *mem, uint64_t device_features, unsigned nqueues, uint16_t max_size,
		     uint16_t nvectors);
/* Accesses to the common configuration structure (off < 64, len 1, 2 or 4). Accesses that are not one
 * whole field read 0 and are ignored, as are writes to read-only fields. */
uint32_t virtio_common_read(struct virtio_dev *d, unsigned off, unsigned len);
void virtio_common_write(struct virtio_dev *d, unsigned off, unsigned len, uint32_t value);
/* Device reset: data path stopped, features, status, queues and vectors back to their initial state. */
void virtio_dev_reset(struct virtio_dev *d);
/* The device has failed (a malformed ring): sets NEEDS_RESET; returns true when it was not set yet (the
 * caller then raises the configuration-change interrupt). Any thread. */
bool virtio_dev_set_needs_reset(struct virtio_dev *d);
uint8_t virtio_dev_status(const struct virtio_dev *d);
bool virtio_dev_has_feature(const struct virtio_dev *d, unsigned bit);

/* ---- virtio-pci (4.1), modern only: one 32-bit memory BAR holding the common configuration, ISR,
 * device configuration, queue notifications (one ioeventfd per queue) and the MSI-X table and PBA ---- */
struct vm;
struct vm_msix;
struct virtio_pci {
	struct vm_pci_device pci;   /* first: the bus hands this back to the ops */
	struct virtio_dev vdev;
	struct vm_msix *msix;
	int kick_fd[VIRTIO_MAX_QUEUES]; /* eventfds the guest's notifications signal (ioeventfd or trap) */
	bool kick_registered;
	uint64_t bar_addr;          /* where the BAR decodes while kick_registered */
	uint8_t *devcfg;            /* the device-specific configuration (owned by the model) */
	unsigned devcfg_len;
	/* Device configuration written by the driver (optional; device lock held). */
	void (*devcfg_write)(struct virtio_pci *vp, unsigned off, const uint8_t *data, unsigned len);
	void (*free)(struct virtio_pci *vp); /* the model's destructor, after the transport is torn down */
};
#define VIRTIO_PCI_BAR 0
#define VIRTIO_PCI_BAR_SIZE 0x4000
#define VIRTIO_PCI_COMMON_OFF 0x0000
#define VIRTIO_PCI_COMMON_LEN 0x38
#define VIRTIO_PCI_ISR_OFF 0x0800
#define VIRTIO_PCI_DEVCFG_OFF 0x1000
#define VIRTIO_PCI_NOTIFY_OFF 0x2000
#define VIRTIO_PCI_NOTIFY_MULT 4
#define VIRTIO_PCI_MSIX_TABLE_OFF 0x3000
#define VIRTIO_PCI_MSIX_PBA_OFF 0x3800

/* Sets vp up (not yet on the bus): PCI header for virtio device type device_id, the capabilities, the
 * BAR, MSI-X with one vector per queue plus one for configuration changes, one eventfd per queue. */
int virtio_pci_init(struct virtio_pci *vp, struct vm *vm, const char *name, uint16_t device_id, uint32_t class_code,
		    uint64_t features, unsigned nqueues, uint16_t queue_size, const struct virtio_dev_ops *ops,
		    uint8_t *devcfg, unsigned devcfg_len);
/* Undoes virtio_pci_init (the data path must be stopped). */
void virtio_pci_destroy(struct virtio_pci *vp);
/* Raises queue q's vector / the configuration vector (any thread, never blocks). */
void virtio_pci_notify_queue(struct virtio_pci *vp, unsigned q);
void virtio_pci_notify_config(struct virtio_pci *vp);
/* The data path found a malformed ring: NEEDS_RESET and a configuration interrupt (any thread). */
void virtio_pci_fail(struct virtio_pci *vp);
/* The eventfd the guest's MSI-X vector for queue q is signalled through (vhost's call fd), or -1. */
int virtio_pci_queue_irqfd(struct virtio_pci *vp, unsigned q);
