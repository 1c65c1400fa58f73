/* virtio-net.c: virtio-net-pci (modern, one queue pair, MSI-X) on a tap, with two data paths: the VMM's
 * own (an I/O thread: epoll over the queues' ioeventfds and the tap; RX/TX with the vnet header) or the
 * kernel's vhost-net (kick = the ioeventfd, call = the MSI-X vector's irqfd, backend = the tap). */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/log.h"
#include "util/root.h"
#include "vm/devices/devices.h"
#include "vm/devices/virtio.h"

#define RXQ 0
#define TXQ 1
#define NET_QUEUES 2
#define NET_QUEUE_SIZE 256
#define NET_CONFIG_LEN 12 /* mac[6], status, max_virtqueue_pairs, mtu */
#define BATCH 64
#define F(bit) (1ull << (bit))

/* Offloads the tap may hand us (TUNSETOFFLOAD) and the guest features that need them. */
static const struct {
	unsigned feature, tun;
} guest_offloads[] = {
	{ VIRTIO_NET_F_GUEST_CSUM, TUN_F_CSUM },
	{ VIRTIO_NET_F_GUEST_TSO4, TUN_F_TSO4 },
	{ VIRTIO_NET_F_GUEST_TSO6, TUN_F_TSO6 },
	{ VIRTIO_NET_F_GUEST_ECN, TUN_F_TSO_ECN },
};

struct virtio_net {
	struct virtio_pci vp; /* first */
	struct vm *vm;
	enum vm_nic_model model;
	struct vm_tap *tap;
	uint8_t config[NET_CONFIG_LEN];
	/* Our own data path. */
	pthread_t thread;
	bool thread_started, ctl_init;
	int ctl_fd;       /* eventfd: want_run or quit changed */
	pthread_mutex_t ctl_lock;
	pthread_cond_t ctl_cond;
	bool want_run;    /* the device is started (DRIVER_OK) */
	bool active;      /* the thread is in the data path (not parked) */
	bool quit;
	bool tap_polled;  /* the tap is in the epoll set (there are RX buffers) */
	/* vhost-net. */
	int vhost_fd;
	uint64_t vhost_features;
	bool vhost_running;
	/* Counters (the I/O thread writes, `vm show` reads). */
	_Atomic uint64_t rx_packets, tx_packets, rx_dropped, tx_dropped;
};

static uint64_t tun_offload_for(uint64_t features)
{
	unsigned t = 0;

	for (size_t i = 0; i < sizeof(guest_offloads) / sizeof(guest_offloads[0]); i++)
		if (features & F(guest_offloads[i].feature))
			t |= guest_offloads[i].tun;
	return t;
}

/* ---- The VMM's own data path ---- */

/* Writes the 16-bit num_buffers (offset 10 of the 12-byte header) into a chain's writable segments. */
static void set_num_buffers(struct iovec *iov, unsigned n, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	size_t off = 10;

	for (unsigned i = 0, k = 0; i < n && k < 2; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		for (; off < iov[i].iov_len && k < 2; off++)
			((uint8_t *)iov[i].iov_base)[off] = b[k++];
		off = 0;
	}
}

static void net_fail(struct virtio_net *n, unsigned q, int err)
{
	log_debug("%s: queue %u is malformed (%s): device needs a reset", n->vp.pci.name, q, strerror(-err));
	virtio_pci_fail(&n->vp);
}

static void tx_process(struct virtio_net *n)
{
	struct virtq *q = &n->vp.vdev.queues[TXQ].vq;
	struct iovec iov[VIRTQ_MAX_SEGS];
	struct virtq_chain c;
	unsigned done = 0;
	int r;

	virtq_set_notification(q, false);
	for (;;) {
		r = virtq_pop(q, iov, VIRTQ_MAX_SEGS, &c);
		if (r < 0) {
			net_fail(n, TXQ, r);
			return;
		}
		if (r == 0) {
			/* Ask for a kick, then look once more: the driver may have added one meanwhile. */
			virtq_set_notification(q, true);
			if (!virtq_has_avail(q))
				break;
			virtq_set_notification(q, false);
			continue;
		}
		/* The 12-byte header and a frame; a chain without them is dropped, not sent. */
		if (c.out_len <= VM_TAP_VNET_HDR_LEN || writev(n->tap->fd, iov, (int)c.nout) < 0)
			n->tx_dropped++;
		else
			n->tx_packets++;
		virtq_push(q, c.head, 0);
		if (++done % BATCH == 0 && virtq_should_notify(q))
			virtio_pci_notify_queue(&n->vp, TXQ);
	}
	if (done && virtq_should_notify(q))
		virtio_pci_notify_queue(&n->vp, TXQ);
}

/* Moves frames from the tap into RX buffers; returns false when the guest has no buffer left. */
static bool rx_process(struct virtio_net *n)
{
	struct virtq *q = &n->vp.vdev.queues[RXQ].vq;
	struct iovec iov[VIRTQ_MAX_SEGS];
	struct virtq_chain c;
	unsigned done = 0;
	bool more = true;
	ssize_t len;
	int r;

	for (;;) {
		r = virtq_pop(q, iov, VIRTQ_MAX_SEGS, &c);
		if (r < 0) {
			net_fail(n, RXQ, r);
			more = false;
			break;
		}
		if (r == 0) {
			virtq_set_notification(q, true);
			if (virtq_has_avail(q))
				continue;
			more = false;
			break;
		}
		if (c.in_len < VM_TAP_VNET_HDR_LEN) {
			virtq_push(q, c.head, 0); /* no room even for the header: returned unused */
			continue;
		}
		len = readv(n->tap->fd, iov + c.nout, (int)c.nin);
		if (len < 0) {
			virtq_unpop(q);
			if (errno == EAGAIN || errno == EINTR)
				break;
			/* The frame did not fit (the tap dropped it): the buffer is still free. */
			n->rx_dropped++;
			if (errno == EINVAL || errno == EFAULT || errno == EMSGSIZE)
				continue;
			break;
		}
		set_num_buffers(iov + c.nout, c.nin, 1);
		virtq_push(q, c.head, (uint32_t)len);
		n->rx_packets++;
		if (++done % BATCH == 0 && virtq_should_notify(q))
			virtio_pci_notify_queue(&n->vp, RXQ);
	}
	if (done && virtq_should_notify(q))
		virtio_pci_notify_queue(&n->vp, RXQ);
	return more;
}

static void drain(int fd)
{
	uint64_t v;
	while (read(fd, &v, sizeof(v)) == sizeof(v))
		;
}

static void tap_poll(struct virtio_net *n, int ep, bool on)
{
	struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.u32 = 3 };

	if (n->tap_polled != on && epoll_ctl(ep, EPOLL_CTL_MOD, n->tap->fd, &ev) == 0)
		n->tap_polled = on;
}

/* The data path proper: until the control eventfd says stop. Kicks that came before DRIVER_OK are still
 * counted in their eventfds, so nothing the driver did is lost. */
static void net_run(struct virtio_net *n, int ep)
{
	int fds[4] = { n->vp.kick_fd[RXQ], n->vp.kick_fd[TXQ], n->ctl_fd, n->tap->fd };
	struct epoll_event evs[8];
	bool run = true;

	tap_poll(n, ep, true);
	while (run) {
		int k = epoll_wait(ep, evs, 8, -1);
		bool rx = false, tx = false;

		if (k < 0 && errno != EINTR)
			break;
		for (int i = 0; i < k; i++) {
			switch (evs[i].data.u32) {
			case 0: /* the guest added RX buffers */
				drain(fds[0]);
				tap_poll(n, ep, true);
				rx = true;
				break;
			case 1:
				drain(fds[1]);
				tx = true;
				break;
			case 2:
				drain(fds[2]);
				pthread_mutex_lock(&n->ctl_lock);
				run = n->want_run;
				pthread_mutex_unlock(&n->ctl_lock);
				break;
			case 3:
				rx = true;
				break;
			}
		}
		if (!run)
			break;
		if (virtio_dev_status(&n->vp.vdev) & VIRTIO_STATUS_NEEDS_RESET)
			continue; /* idle until the driver resets us */
		if (tx)
			tx_process(n);
		if (rx && !rx_process(n))
			tap_poll(n, ep, false); /* no buffer: wait for the RX kick, not the tap */
	}
}

/* One thread per device for the VMM's lifetime: made on the main thread (vCPU threads may not create
 * threads), confined like a vCPU, parked while the device is stopped. */
static void *net_thread(void *arg)
{
	struct virtio_net *n = arg;
	int fds[4] = { n->vp.kick_fd[RXQ], n->vp.kick_fd[TXQ], n->ctl_fd, n->tap->fd };
	_cleanup_close_ int ep = epoll_create1(EPOLL_CLOEXEC);
	bool ok = ep >= 0;

	for (unsigned i = 0; ok && i < 4; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
		ok = epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) == 0;
	}
	n->tap_polled = true;
	if (ok && n->vm->sandbox && vm_sandbox_thread() < 0)
		ok = false;
	pthread_mutex_lock(&n->ctl_lock);
	for (;;) {
		while (!n->want_run && !n->quit) {
			n->active = false;
			pthread_cond_broadcast(&n->ctl_cond);
			pthread_cond_wait(&n->ctl_cond, &n->ctl_lock);
		}
		if (n->quit)
			break;
		n->active = true;
		pthread_mutex_unlock(&n->ctl_lock);
		if (ok)
			net_run(n, ep);
		else
			virtio_pci_fail(&n->vp); /* no data path: the driver learns it, the VMM goes on */
		pthread_mutex_lock(&n->ctl_lock);
		if (!ok)
			n->want_run = false;
	}
	n->active = false;
	pthread_cond_broadcast(&n->ctl_cond);
	pthread_mutex_unlock(&n->ctl_lock);
	return NULL;
}

static void ctl_wake(struct virtio_net *n)
{
	uint64_t one = 1;

	if (write(n->ctl_fd, &one, sizeof(one)) < 0)
		log_debug("%s: control eventfd: %m", n->vp.pci.name);
}

static int own_start(struct virtio_net *n)
{
	uint64_t one = 1;

	pthread_mutex_lock(&n->ctl_lock);
	n->want_run = true;
	pthread_cond_broadcast(&n->ctl_cond);
	pthread_mutex_unlock(&n->ctl_lock);
	log_debug("%s: data path started (features %#llx, tap offloads %#x)", n->vp.pci.name,
		  (unsigned long long)n->vp.vdev.driver_features, n->tap->offload);
	/* Look at the TX ring once even if the driver's kick came before we ran. */
	if (write(n->vp.kick_fd[TXQ], &one, sizeof(one)) < 0)
		log_debug("%s: initial TX wakeup: %m", n->vp.pci.name);
	return 0;
}

static void queue_debug(struct virtio_net *n, unsigned i)
{
	struct virtq *q = &n->vp.vdev.queues[i].vq;

	if (!q->num)
		return;
	log_debug("%s: queue %u: avail idx %u taken %u, used %u, used_event %u avail_event %u flags %#x/%#x%s",
		  n->vp.pci.name, i, get_le16(q->avail + 2), q->last_avail, q->used_idx,
		  get_le16(q->avail + 4 + 2 * q->num), get_le16(q->used + 4 + 8 * q->num), get_le16(q->avail),
		  get_le16(q->used), q->broken ? " broken" : "");
}

/* Returns once the thread no longer touches the queues (it is parked). */
static void own_stop(struct virtio_net *n)
{
	pthread_mutex_lock(&n->ctl_lock);
	n->want_run = false;
	ctl_wake(n);
	while (n->active)
		pthread_cond_wait(&n->ctl_cond, &n->ctl_lock);
	pthread_mutex_unlock(&n->ctl_lock);
	queue_debug(n, RXQ);
	queue_debug(n, TXQ);
	log_debug("%s: rx %llu (dropped %llu) tx %llu (dropped %llu)", n->vp.pci.name,
		  (unsigned long long)n->rx_packets, (unsigned long long)n->rx_dropped,
		  (unsigned long long)n->tx_packets, (unsigned long long)n->tx_dropped);
}

static int own_init(struct virtio_net *n)
{
	int r;

	n->ctl_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n->ctl_fd < 0)
		return -errno;
	pthread_mutex_init(&n->ctl_lock, NULL);
	pthread_cond_init(&n->ctl_cond, NULL);
	n->ctl_init = true;
	r = pthread_create(&n->thread, NULL, net_thread, n);
	if (r)
		return -r;
	n->thread_started = true;
	return 0;
}

static void own_fini(struct virtio_net *n)
{
	if (n->thread_started) {
		pthread_mutex_lock(&n->ctl_lock);
		n->quit = true;
		n->want_run = false;
		pthread_cond_broadcast(&n->ctl_cond);
		ctl_wake(n);
		pthread_mutex_unlock(&n->ctl_lock);
		pthread_join(n->thread, NULL);
		n->thread_started = false;
	}
	if (n->ctl_init) {
		pthread_cond_destroy(&n->ctl_cond);
		pthread_mutex_destroy(&n->ctl_lock);
		n->ctl_init = false;
	}
	if (n->ctl_fd >= 0)
		close(n->ctl_fd);
	n->ctl_fd = -1;
}

/* ---- vhost-net ---- */

/* Transport and ring features are vhost's to implement; the net offloads are the tap's. */
#define VHOST_OWNED (F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_INDIRECT_DESC) | F(VIRTIO_RING_F_EVENT_IDX) | \
		     F(VIRTIO_NET_F_MRG_RXBUF))

static int vhost_open(struct virtio_net *n, const char **why)
{
	int fd = root_open("/dev/vhost-net", O_RDWR | O_CLOEXEC, 0);

	if (fd < 0) {
		*why = fd == -ENOENT ? "/dev/vhost-net does not exist (load the vhost_net module)"
				     : "cannot open /dev/vhost-net";
		return fd;
	}
	n->vhost_fd = fd;
	if (ioctl(fd, VHOST_SET_OWNER) < 0 || ioctl(fd, VHOST_GET_FEATURES, &n->vhost_features) < 0) {
		*why = "/dev/vhost-net refuses SET_OWNER or GET_FEATURES";
		return -errno;
	}
	return 0;
}

static int vhost_mem_table(struct virtio_net *n)
{
	const struct vm_ram_region *regs;
	size_t nr = vm_ram_regions(n->vm, &regs);
	_cleanup_free_ struct vhost_memory *m = calloc(1, sizeof(*m) + nr * sizeof(m->regions[0]));

	if (!m)
		return -ENOMEM;
	m->nregions = (uint32_t)nr;
	for (size_t i = 0; i < nr; i++)
		m->regions[i] = (struct vhost_memory_region){
			.guest_phys_addr = regs[i].gpa,
			.memory_size = regs[i].size,
			.userspace_addr = (uintptr_t)regs[i].hva,
		};
	return ioctl(n->vhost_fd, VHOST_SET_MEM_TABLE, m) < 0 ? -errno : 0;
}

static int vhost_queue(struct virtio_net *n, unsigned i)
{
	struct virtio_queue *q = &n->vp.vdev.queues[i];
	int call = virtio_pci_queue_irqfd(&n->vp, i);
	struct vhost_vring_state num = { .index = i, .num = q->size }, base = { .index = i, .num = 0 };
	struct vhost_vring_addr addr = {
		.index = i,
		.desc_user_addr = (uintptr_t)q->vq.desc,
		.avail_user_addr = (uintptr_t)q->vq.avail,
		.used_user_addr = (uintptr_t)q->vq.used,
	};
	struct vhost_vring_file kick = { .index = i, .fd = n->vp.kick_fd[i] };
	struct vhost_vring_file callf = { .index = i, .fd = call };
	struct vhost_vring_file backend = { .index = i, .fd = n->tap->fd };

	if (!q->enabled)
		return -EINVAL; /* Linux enables both queues; a driver that does not gets no data path */
	if (ioctl(n->vhost_fd, VHOST_SET_VRING_NUM, &num) < 0 || ioctl(n->vhost_fd, VHOST_SET_VRING_BASE, &base) < 0 ||
	    ioctl(n->vhost_fd, VHOST_SET_VRING_ADDR, &addr) < 0 || ioctl(n->vhost_fd, VHOST_SET_VRING_KICK, &kick) < 0 ||
	    ioctl(n->vhost_fd, VHOST_SET_VRING_CALL, &callf) < 0 ||
	    ioctl(n->vhost_fd, VHOST_NET_SET_BACKEND, &backend) < 0)
		return -errno;
	return 0;
}

static void vhost_stop(struct virtio_net *n)
{
	if (!n->vhost_running)
		return;
	for (unsigned i = 0; i < NET_QUEUES; i++) {
		struct vhost_vring_file backend = { .index = i, .fd = -1 };
		struct vhost_vring_state st = { .index = i };

		ioctl(n->vhost_fd, VHOST_NET_SET_BACKEND, &backend);
		ioctl(n->vhost_fd, VHOST_GET_VRING_BASE, &st);
	}
	n->vhost_running = false;
}

static int vhost_start(struct virtio_net *n)
{
	uint64_t f = n->vp.vdev.driver_features & n->vhost_features;
	int r;

	if (ioctl(n->vhost_fd, VHOST_SET_FEATURES, &f) < 0)
		return -errno;
	r = vhost_mem_table(n);
	if (r < 0)
		return r;
	n->vhost_running = true; /* from here a failure unwinds the backends */
	for (unsigned i = 0; i < NET_QUEUES; i++) {
		r = vhost_queue(n, i);
		if (r < 0) {
			log_debug("%s: vhost queue %u: %s", n->vp.pci.name, i, strerror(-r));
			vhost_stop(n);
			return r;
		}
	}
	return 0;
}

/* ---- The device ---- */

static struct virtio_net *to_net(struct virtio_dev *d)
{
	return (struct virtio_net *)((struct virtio_pci *)d->opaque);
}

static int net_features_ok(struct virtio_dev *d, uint64_t features)
{
	(void)d;
	/* TSO in either direction needs checksum offload in that direction (5.1.3.1). */
	if ((features & (F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6))) &&
	    !(features & F(VIRTIO_NET_F_GUEST_CSUM)))
		return -EINVAL;
	if ((features & (F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6))) && !(features & F(VIRTIO_NET_F_CSUM)))
		return -EINVAL;
	return 0;
}

static int net_start(struct virtio_dev *d)
{
	struct virtio_net *n = to_net(d);
	int r;

	/* What the guest accepts from the tap: partial checksums, TSO. */
	r = vm_tap_set_offload(n->tap, (unsigned)tun_offload_for(d->driver_features));
	if (r < 0)
		return r;
	if (!d->queues[RXQ].enabled || !d->queues[TXQ].enabled)
		return -EINVAL;
	return n->model == VM_NIC_VHOST ? vhost_start(n) : own_start(n);
}

static void net_stop(struct virtio_dev *d)
{
	struct virtio_net *n = to_net(d);

	if (n->model == VM_NIC_VHOST)
		vhost_stop(n);
	else
		own_stop(n);
}

static const struct virtio_dev_ops net_ops = {
	.features_ok = net_features_ok,
	.start = net_start,
	.stop = net_stop,
};

static void net_free(struct virtio_pci *vp)
{
	struct virtio_net *n = (struct virtio_net *)vp;

	own_fini(n);
	if (n->vhost_fd >= 0)
		close(n->vhost_fd);
	vm_tap_free(n->tap);
	free(n);
}

static uint64_t net_features(struct virtio_net *n)
{
	uint64_t f = F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_INDIRECT_DESC) | F(VIRTIO_RING_F_EVENT_IDX) |
		     F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) |
		     /* Frames from the guest go to the tap with their header: it takes partial checksums and GSO. */
		     F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_HOST_ECN);
	unsigned want = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN, ok = 0;

	if (vm_tap_probe_offload(n->tap, want, &ok) == 0)
		for (size_t i = 0; i < sizeof(guest_offloads) / sizeof(guest_offloads[0]); i++)
			if (ok & guest_offloads[i].tun)
				f |= F(guest_offloads[i].feature);
	if (n->model == VM_NIC_VHOST) {
		/* vhost merges receive buffers itself; the ring features are what it implements. */
		f |= F(VIRTIO_NET_F_MRG_RXBUF);
		f &= ~VHOST_OWNED | n->vhost_features;
	}
	return f;
}

int vm_virtio_net_add(struct vm *vm, const struct vm_nic_config *nic, unsigned index, const char **why)
{
	const char *dummy;
	struct virtio_net *n;
	int r, slot;

	if (!why)
		why = &dummy;
	*why = NULL;
	if (nic->model != VM_NIC_VIRTIO && nic->model != VM_NIC_VHOST)
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->vm = vm;
	n->model = nic->model;
	n->vhost_fd = n->ctl_fd = -1;
	r = vm_tap_open(nic->tap, true, &n->tap, why);
	if (r < 0)
		goto fail_free;
	if (n->model == VM_NIC_VHOST) {
		r = vhost_open(n, why);
		if (r < 0)
			goto fail_free;
	}

	if (nic->has_mac)
		memcpy(n->config, nic->mac, 6);
	else
		vm_nic_default_mac(vm_name(vm), index, n->config);
	put_le16(n->config + 6, VIRTIO_NET_S_LINK_UP);
	put_le16(n->config + 8, 1);
	put_le16(n->config + 10, 1500);

	r = virtio_pci_init(&n->vp, vm, n->model == VM_NIC_VHOST ? "virtio-net (vhost)" : "virtio-net", VIRTIO_ID_NET,
			    0x020000, net_features(n), NET_QUEUES, NET_QUEUE_SIZE, &net_ops, n->config, NET_CONFIG_LEN);
	if (r < 0) {
		*why = "cannot set up the virtio-pci device";
		goto fail_free;
	}
	n->vp.free = net_free;
	if (n->model == VM_NIC_VIRTIO && (r = own_init(n)) < 0) {
		*why = "cannot start the device's I/O thread";
		virtio_pci_destroy(&n->vp);
		goto fail_free;
	}
	slot = vm_pci_add(vm, &n->vp.pci, -1);
	if (slot < 0) {
		*why = "no free PCI slot or BAR space";
		virtio_pci_destroy(&n->vp);
		r = slot;
		goto fail_free;
	}
	log_debug("%s at 00:%02x.0 on tap %s (%s)", n->vp.pci.name, slot, n->tap->name,
		  n->tap->created ? "created" : "existing");
	return slot;

fail_free:
	net_free(&n->vp);
	return r;
}
