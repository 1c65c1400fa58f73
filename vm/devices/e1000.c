/* e1000.c: the emulated Intel 82540EM on the guest's PCI bus: BAR 0 (registers) and BAR 2 (I/O window)
 * trapped into the core (e1000-regs.c, e1000-rings.c), INTx on the slot's GSI, and a tap as the wire:
 * transmit on the vCPU that wrote TDT (non-blocking writes), receive in the device's I/O thread. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"
#include "vm/devices/devices.h"
#include "vm/devices/e1000.h"

#define RX_BUDGET 64 /* frames per wake-up before the thread looks at its other work */
#define TAP_FRAME_MAX 65536

struct e1000_dev {
	struct vm_pci_device pci; /* first: the bus hands this pointer back */
	struct e1000 core;
	struct vm_tap *tap;
	unsigned gsi;
	int kick_fd, stop_fd;
	pthread_t thread;
	bool thread_started;
	/* The frame the guest had no room for yet: filled by the I/O thread while !rx_held, then owned by
	 * whoever holds the device lock until it is delivered. */
	uint8_t *rx_frame;
	size_t rx_len;
	atomic_bool rx_held;
};

static struct e1000_dev *dev_of(struct vm_pci_device *d)
{
	return (struct e1000_dev *)d;
}

static void *env_dma(void *opaque, uint64_t gpa, uint64_t len)
{
	struct e1000_dev *e = opaque;
	return vm_gpa_to_hva(e->pci.vm, gpa, len);
}

#define PCI_COMMAND_INTX_DISABLE_HI 0x04 /* bit 10 of COMMAND, in its high byte */
#define PCI_STATUS_INTERRUPT 0x08

/* The INTx line follows ICR & IMS; STATUS.Interrupt shows it, COMMAND's INTx disable holds the line low. */
static void env_irq(void *opaque, bool level)
{
	struct e1000_dev *e = opaque;
	bool masked = e->pci.config[0x05] & PCI_COMMAND_INTX_DISABLE_HI;
	int r;

	e->pci.config[0x06] = (uint8_t)((e->pci.config[0x06] & ~PCI_STATUS_INTERRUPT) | (level ? PCI_STATUS_INTERRUPT : 0));
	r = vm_irq_line(e->pci.vm, e->gsi, level && !masked);
	if (r < 0)
		log_debug("e1000: GSI %u: %s", e->gsi, strerror(-r));
}

static int env_tx(void *opaque, const uint8_t *frame, size_t len)
{
	struct e1000_dev *e = opaque;
	/* The tap is non-blocking: a full queue drops the frame, as a wire would under congestion. */
	ssize_t n = write(e->tap->fd, frame, len);
	return n == (ssize_t)len ? 0 : n < 0 ? negative_errno() : -EIO;
}

/* Offers the held frame again. Device lock held. */
static void rx_retry(struct e1000_dev *e)
{
	uint64_t one = 1;

	if (!e->rx_held || e1000_rx_frame(&e->core, e->rx_frame, e->rx_len) == -EAGAIN)
		return;
	e->rx_held = false;
	/* The I/O thread stopped polling the tap while it held the frame: wake it. */
	if (write(e->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("e1000: kick: %m");
}

/* The guest wrote TDT or TCTL (tx), RDT or RCTL: runs on its vCPU with the device lock held. Sending
 * costs copies and non-blocking tap writes (a full tap drops), so the ring is served right here: no
 * thread hop between the doorbell and the completion interrupt. */
static void env_kick(void *opaque, bool tx)
{
	struct e1000_dev *e = opaque;

	if (tx)
		e1000_tx_process(&e->core);
	else
		rx_retry(e);
}

static void rx_from_tap(struct e1000_dev *e)
{
	for (unsigned i = 0; i < RX_BUDGET && !e->rx_held; i++) {
		ssize_t n = read(e->tap->fd, e->rx_frame, TAP_FRAME_MAX);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_debug("e1000: %s: read: %m", e->tap->name);
			return;
		}
		pthread_mutex_lock(&e->pci.lock);
		if (e1000_rx_frame(&e->core, e->rx_frame, (size_t)n) == -EAGAIN) {
			e->rx_held = true;
			e->rx_len = (size_t)n;
			e1000_stat_add(&e->core, E1000_RNBC, 1);
		}
		pthread_mutex_unlock(&e->pci.lock);
	}
}

static void *io_thread(void *opaque)
{
	struct e1000_dev *e = opaque;

	/* The data path handles guest-controlled rings: confined like a vCPU (no open, socket, exec, ...). */
	if (vm_sandbox_thread() < 0)
		log_debug("e1000: cannot confine the I/O thread, going on unconfined");
	for (;;) {
		/* rx_held changes under the lock; a stale view costs one extra wake-up, never a lost one
		 * (clearing it always signals kick_fd). */
		struct pollfd p[3] = {
			{ .fd = e->stop_fd, .events = POLLIN },
			{ .fd = e->kick_fd, .events = POLLIN },
			{ .fd = e->rx_held ? -1 : e->tap->fd, .events = POLLIN },
		};
		uint64_t v;

		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_debug("e1000: poll: %m");
			return NULL;
		}
		if (p[0].revents)
			return NULL;
		if (p[1].revents & POLLIN) {
			if (read(e->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_debug("e1000: kick read: %m");
		}
		if (p[2].revents & POLLIN)
			rx_from_tap(e);
	}
}

static void e1000_bar_io(struct vm_pci_device *d, unsigned bar, uint64_t off, uint8_t *data, unsigned len,
			 bool is_write)
{
	struct e1000_dev *e = dev_of(d);

	if (bar == 0)
		e1000_mmio(&e->core, off, data, len, is_write);
	else if (bar == E1000_IO_BAR)
		e1000_pio(&e->core, off, data, len, is_write);
	else if (!is_write)
		memset(data, 0xff, len);
}

static void e1000_config_write(struct vm_pci_device *d, unsigned off, unsigned len, uint32_t value)
{
	struct e1000_dev *e = dev_of(d);

	vm_pci_config_write_default(d, off, len, value);
	if (off <= 0x05 && off + len > 0x05) /* INTx disable may have changed */
		env_irq(e, e->core.irq_level);
}

static void e1000_dev_reset(struct vm_pci_device *d)
{
	struct e1000_dev *e = dev_of(d);
	e1000_reset(&e->core);
	e->rx_held = false;
}

static void stop_thread(struct e1000_dev *e)
{
	uint64_t one = 1;

	if (!e->thread_started)
		return;
	if (write(e->stop_fd, &one, sizeof(one)) < 0)
		log_debug("e1000: stop: %m");
	pthread_join(e->thread, NULL);
	e->thread_started = false;
}

static void dev_free(struct e1000_dev *e)
{
	if (!e)
		return;
	stop_thread(e);
	if (e->core.tx_dropped)
		log_debug("e1000: %s: %llu frames dropped (tap queue full, or malformed)", e->tap ? e->tap->name : "-",
			  (unsigned long long)e->core.tx_dropped);
	if (e->kick_fd >= 0)
		close(e->kick_fd);
	if (e->stop_fd >= 0)
		close(e->stop_fd);
	vm_tap_free(e->tap);
	e1000_fini(&e->core);
	free(e->rx_frame);
	pthread_mutex_destroy(&e->pci.lock);
	free(e);
}

static void e1000_dev_free(struct vm_pci_device *d)
{
	dev_free(dev_of(d));
}

static const struct vm_pci_ops e1000_ops = {
	.config_write = e1000_config_write,
	.bar_io = e1000_bar_io,
	.reset = e1000_dev_reset,
	.free = e1000_dev_free,
};

int vm_e1000_add(struct vm *vm, const struct vm_nic_config *nic, unsigned index, const char **why)
{
	struct e1000_dev *e = calloc(1, sizeof(*e));
	struct e1000_env env = { .opaque = e, .dma = env_dma, .irq = env_irq, .tx = env_tx, .kick = env_kick };
	uint8_t mac[6];
	int r, slot;

	if (!e)
		return -ENOMEM;
	e->kick_fd = e->stop_fd = -1;
	if (nic->has_mac)
		memcpy(mac, nic->mac, 6);
	else
		vm_nic_default_mac(vm_name(vm), index, mac);

	vm_pci_device_init(&e->pci, "e1000", E1000_VENDOR, E1000_DEVICE_82540EM, 0x020000, 1);
	e->pci.ops = &e1000_ops;
	e->pci.userdata = e;
	e->pci.config[0x08] = 0x03; /* revision */
	e->pci.config[0x2c] = E1000_VENDOR & 0xff;
	e->pci.config[0x2d] = E1000_VENDOR >> 8;
	e->pci.config[0x2e] = E1000_SUBSYS & 0xff;
	e->pci.config[0x2f] = E1000_SUBSYS >> 8;
	if ((r = vm_pci_bar_init(&e->pci, 0, VM_PCI_BAR_MEM32, E1000_MMIO_SIZE, false)) < 0 ||
	    (r = vm_pci_bar_init(&e->pci, E1000_IO_BAR, VM_PCI_BAR_IO, E1000_IO_SIZE, false)) < 0) {
		*why = "cannot declare its BARs";
		goto fail;
	}

	e->rx_frame = malloc(TAP_FRAME_MAX);
	e->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	e->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!e->rx_frame || e->kick_fd < 0 || e->stop_fd < 0 || (r = e1000_init(&e->core, mac, &env)) < 0) {
		r = -ENOMEM;
		*why = "out of memory";
		goto fail;
	}
	r = vm_tap_open(nic->tap, false, &e->tap, why);
	if (r < 0)
		goto fail;

	slot = vm_pci_add(vm, &e->pci, -1);
	if (slot < 0) {
		r = slot;
		*why = slot == -ENOSPC ? "no free PCI slot or BAR space" : "cannot add it to the PCI bus";
		goto fail;
	}
	e->gsi = vm_pci_intx_gsi((unsigned)slot, 1);
	/* From here the bus owns e (ops->free). The thread starts last: nothing can fail after it. */
	r = -pthread_create(&e->thread, NULL, io_thread, e);
	if (r < 0) {
		vm_pci_remove(vm, &e->pci);
		*why = "cannot start its I/O thread";
		goto fail;
	}
	e->thread_started = true;
	log_debug("e1000: slot %d, GSI %u, tap %s, MAC %02x:%02x:%02x:%02x:%02x:%02x", slot, e->gsi, e->tap->name,
		  mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return slot;
fail:
	dev_free(e);
	return r;
}
