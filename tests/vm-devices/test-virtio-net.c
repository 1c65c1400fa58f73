/* test-virtio-net.c: virtio-net-pci on a real VM object (KVM) and a real tap in a private network
 * namespace. The test is the guest driver: it finds the device in config space, walks the virtio
 * capabilities, negotiates, lays rings in guest RAM, and moves frames both ways through the device's own
 * data path (the tap's far side is an AF_PACKET socket). Then it feeds a looped chain: NEEDS_RESET and
 * a configuration interrupt, and a reset brings the device back. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/lib/testskip.h"
#include "vm/devices/devices.h"
#include "vm/devices/virtio.h"

#define TAP "vn-test0"
#define QSIZE 16
/* Guest-physical layout the "driver" uses. */
#define RXQ_BASE 0x100000ull
#define TXQ_BASE 0x110000ull
#define RX_BUFS 0x200000ull
#define TX_BUFS 0x300000ull

static bool env_ok;
static const char *skip_need, *skip_why; /* why not env_ok */
static struct vm *vm;
static unsigned slot;
static uint64_t bar;
static unsigned common_off, notify_off, devcfg_off, notify_mult;
static int pkt = -1; /* AF_PACKET on the tap: the far end of the wire */
static struct vm_nic_config nic = { .model = VM_NIC_VIRTIO, .tap = TAP, .mac = { 2, 0, 0, 0, 0, 0x42 }, .has_mac = true };

static uint32_t cfg_rd(unsigned off, unsigned len)
{
	uint8_t d[4] = {};
	vm_io_dispatch(vm, true, VM_ECAM_BASE + (slot << 15) + off, d, len, false);
	return get_le32(d) & (len == 4 ? 0xffffffffu : (1u << (8 * len)) - 1);
}

static void cfg_wr(unsigned off, unsigned len, uint32_t v)
{
	uint8_t d[4];
	put_le32(d, v);
	vm_io_dispatch(vm, true, VM_ECAM_BASE + (slot << 15) + off, d, len, true);
}

static uint32_t bar_rd(unsigned off, unsigned len)
{
	uint8_t d[8] = {};
	vm_io_dispatch(vm, true, bar + off, d, len, false);
	return get_le32(d) & (len == 4 ? 0xffffffffu : (1u << (8 * len)) - 1);
}

static void bar_wr(unsigned off, unsigned len, uint32_t v)
{
	uint8_t d[8] = {};
	put_le32(d, v);
	vm_io_dispatch(vm, true, bar + off, d, len, true);
}

#define COMMON_RD(f, l) bar_rd(common_off + (f), l)
#define COMMON_WR(f, l, v) bar_wr(common_off + (f), l, v)

static uint8_t *gpa(uint64_t a, uint64_t len)
{
	uint8_t *p = vm_gpa_to_hva(vm, a, len);
	assert_non_null(p);
	return p;
}

/* Waits until the eventfd of MSI-X vector vec has been signalled (MSI-X is left disabled, so signals
 * accumulate in the fd: exactly what the guest would see as pending). Returns the count. */
static uint64_t wait_vector(struct virtio_pci *vp, unsigned vec, int ms)
{
	struct pollfd p = { .fd = vm_msix_eventfd(vp->msix, vec), .events = POLLIN };
	uint64_t n = 0;

	if (poll(&p, 1, ms) == 1 && read(p.fd, &n, sizeof(n)) != sizeof(n))
		n = 0;
	return n;
}

static int setup(void **s)
{
	struct vm_config cfg = { .name = "vn", .memory = 64 << 20, .cpus = 1, .console_in = -1, .console_out = -1 };
	const char *why = NULL;
	(void)s;

	if (!test_have_kvm()) {
		skip_need = "kvm", skip_why = "no usable /dev/kvm";
		return 0;
	}
	if (access("/dev/net/tun", R_OK | W_OK) != 0 || unshare(CLONE_NEWNET | CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 || mount("sysfs", "/sys", "sysfs", 0, NULL) != 0) {
		skip_need = "netns", skip_why = "no /dev/net/tun or no private network namespace (needs root)";
		return 0;
	}
	/* with KVM here, a VM that cannot be made is a failure, not a skip */
	if (vm_new(&cfg, &vm, &why) < 0) {
		fprintf(stderr, "test-virtio-net: cannot create a VM (%s)\n", why ? why : "?");
		return -1;
	}
	env_ok = true;
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	vm_free(vm);
	if (pkt >= 0)
		close(pkt);
	return 0;
}

static struct virtio_pci *device(void)
{
	/* The model is the device in the slot: the test reads its MSI-X eventfds directly. */
	return (struct virtio_pci *)vm->pci.slots[slot];
}

static void test_discover(void **s)
{
	const char *why = NULL;
	int r;
	(void)s;
	if (!env_ok)
		TEST_SKIP(skip_need, "%s", skip_why);

	r = vm_virtio_net_add(vm, &nic, 0, &why);
	assert_true(r > 0);
	slot = (unsigned)r;
	assert_int_equal(cfg_rd(0, 2), 0x1af4);
	assert_int_equal(cfg_rd(2, 2), 0x1041);
	assert_int_equal(cfg_rd(8, 1), 1);             /* revision 1: modern only */
	assert_int_equal(cfg_rd(0x0b, 1), 0x02);       /* network controller */
	assert_true(cfg_rd(0x2e, 2) >= 0x40);
	assert_true(cfg_rd(6, 2) & 0x10);              /* capability list */

	/* Walk the capabilities as virtio_pci_modern does. */
	bool msix = false;
	for (unsigned p = cfg_rd(0x34, 1), hops = 0; p && hops < 48; p = cfg_rd(p + 1, 1), hops++) {
		unsigned id = cfg_rd(p, 1);
		if (id == 0x11)
			msix = cfg_rd(p + 2, 2) == 2; /* 3 vectors: config, RX, TX */
		if (id != 0x09)
			continue;
		unsigned type = cfg_rd(p + 3, 1), off = cfg_rd(p + 8, 4);
		assert_int_equal(cfg_rd(p + 4, 1), 0); /* BAR 0 */
		if (type == VIRTIO_PCI_CAP_COMMON_CFG)
			common_off = off | 0x80000000u;
		else if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
			notify_off = off | 0x80000000u;
			notify_mult = cfg_rd(p + 16, 4);
		} else if (type == VIRTIO_PCI_CAP_DEVICE_CFG) {
			devcfg_off = off | 0x80000000u;
			assert_true(cfg_rd(p + 12, 4) >= 10);
		}
	}
	assert_true(msix);
	assert_true(common_off && notify_off && devcfg_off);
	common_off &= 0x7fffffff;
	notify_off &= 0x7fffffff;
	devcfg_off &= 0x7fffffff;

	/* The BAR was placed in the 32-bit window; enable memory decoding and bus mastering. */
	bar = cfg_rd(0x10, 4) & ~0xfull;
	assert_true(bar >= VM_PCI_MMIO32_START && bar < VM_PCI_MMIO32_END);
	cfg_wr(0x04, 2, 0x6);
	assert_int_equal(bar_rd(devcfg_off, 1), 2); /* the MAC we gave */
	assert_int_equal(bar_rd(devcfg_off + 5, 1), 0x42);
	assert_int_equal(bar_rd(devcfg_off + 6, 2), VIRTIO_NET_S_LINK_UP);
	assert_int_equal(COMMON_RD(VIRTIO_PCI_COMMON_NUMQ, 2), 2);
	assert_true(if_nametoindex(TAP) != 0);

	/* The far end of the tap. */
	pkt = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	assert_true(pkt >= 0);
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				  .sll_ifindex = (int)if_nametoindex(TAP) };
	assert_int_equal(bind(pkt, (struct sockaddr *)&ll, sizeof(ll)), 0);
}

static void queue_setup(unsigned q, uint64_t base, uint16_t vector)
{
	COMMON_WR(VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
	assert_int_equal(COMMON_RD(VIRTIO_PCI_COMMON_Q_SIZE, 2), 256);
	COMMON_WR(VIRTIO_PCI_COMMON_Q_SIZE, 2, QSIZE);
	COMMON_WR(VIRTIO_PCI_COMMON_Q_DESCLO, 4, (uint32_t)base);
	COMMON_WR(VIRTIO_PCI_COMMON_Q_DESCHI, 4, 0);
	COMMON_WR(VIRTIO_PCI_COMMON_Q_AVAILLO, 4, (uint32_t)(base + 0x1000));
	COMMON_WR(VIRTIO_PCI_COMMON_Q_AVAILHI, 4, 0);
	COMMON_WR(VIRTIO_PCI_COMMON_Q_USEDLO, 4, (uint32_t)(base + 0x2000));
	COMMON_WR(VIRTIO_PCI_COMMON_Q_USEDHI, 4, 0);
	COMMON_WR(VIRTIO_PCI_COMMON_Q_MSIX, 2, vector);
	assert_int_equal(COMMON_RD(VIRTIO_PCI_COMMON_Q_MSIX, 2), vector);
	COMMON_WR(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	assert_int_equal(COMMON_RD(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
}

static uint16_t rx_avail, tx_avail;
static void status_from_vcpu(uint32_t v);

static void driver_init(void)
{
	uint64_t dev, want;

	memset(gpa(RXQ_BASE, 0x20000), 0, 0x20000);
	rx_avail = tx_avail = 0;
	COMMON_WR(VIRTIO_PCI_COMMON_STATUS, 1, 0);
	assert_int_equal(COMMON_RD(VIRTIO_PCI_COMMON_STATUS, 1), 0);
	COMMON_WR(VIRTIO_PCI_COMMON_STATUS, 1, 1);
	COMMON_WR(VIRTIO_PCI_COMMON_STATUS, 1, 3);
	COMMON_WR(VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
	dev = COMMON_RD(VIRTIO_PCI_COMMON_DF, 4);
	COMMON_WR(VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	dev |= (uint64_t)COMMON_RD(VIRTIO_PCI_COMMON_DF, 4) << 32;
	assert_true(dev & (1ull << VIRTIO_F_VERSION_1));
	assert_true(dev & (1ull << VIRTIO_NET_F_MAC));
	assert_true(dev & (1ull << VIRTIO_NET_F_CSUM));
	assert_true(dev & (1ull << VIRTIO_NET_F_GUEST_TSO4)); /* the tap takes TSO, so the guest may get it */
	assert_false(dev & (1ull << VIRTIO_NET_F_MRG_RXBUF)); /* our own path does not merge buffers */
	want = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_RING_F_INDIRECT_DESC;
	COMMON_WR(VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	COMMON_WR(VIRTIO_PCI_COMMON_GF, 4, (uint32_t)want);
	COMMON_WR(VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	COMMON_WR(VIRTIO_PCI_COMMON_GF, 4, want >> 32);
	COMMON_WR(VIRTIO_PCI_COMMON_STATUS, 1, 11);
	assert_int_equal(COMMON_RD(VIRTIO_PCI_COMMON_STATUS, 1), 11);
	COMMON_WR(VIRTIO_PCI_COMMON_MSIX, 2, 0);
	queue_setup(0, RXQ_BASE, 1);
	queue_setup(1, TXQ_BASE, 2);
	status_from_vcpu(15);
	assert_int_equal(COMMON_RD(VIRTIO_PCI_COMMON_STATUS, 1), 15);
}

/* DRIVER_OK as a guest writes it: on a vCPU thread, which runs confined (vm_sandbox_thread: no new
 * threads, no open), so the device's start must not need either. */
static void *status_writer(void *arg)
{
	uint32_t v = (uint32_t)(uintptr_t)arg;

	if (vm_sandbox_thread() < 0)
		return (void *)1;
	COMMON_WR(VIRTIO_PCI_COMMON_STATUS, 1, v);
	return NULL;
}

static void status_from_vcpu(uint32_t v)
{
	pthread_t t;
	void *ret = (void *)2;

	assert_int_equal(pthread_create(&t, NULL, status_writer, (void *)(uintptr_t)v), 0);
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_null(ret);
}

static void set_desc(uint64_t base, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = gpa(base + 16 * i, 16);
	put_le64(d, addr);
	put_le32(d + 8, len);
	put_le16(d + 12, flags);
	put_le16(d + 14, next);
}

static void publish(uint64_t base, uint16_t *idx, uint16_t head)
{
	put_le16(gpa(base + 0x1000 + 4 + 2 * (*idx % QSIZE), 2), head);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	(*idx)++;
	put_le16(gpa(base + 0x1000 + 2, 2), *idx);
}

static void kick(unsigned q)
{
	bar_wr(notify_off + q * notify_mult, 2, q);
}

static uint16_t used_idx(uint64_t base)
{
	return __atomic_load_n((uint16_t *)gpa(base + 0x2000 + 2, 2), __ATOMIC_ACQUIRE);
}

static bool wait_used(uint64_t base, uint16_t want)
{
	for (int i = 0; i < 2000; i++) {
		if (used_idx(base) == want)
			return true;
		usleep(1000);
	}
	return false;
}

static const uint8_t frame_hdr[14] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 0x42, 0x88, 0xb5 };

static void test_tx(void **s)
{
	uint8_t *buf, got[2048];
	ssize_t n;
	(void)s;
	if (!env_ok)
		TEST_SKIP(skip_need, "%s", skip_why);

	driver_init();
	/* Header (12 bytes, no offload) and a 300-byte frame in two descriptors. */
	buf = gpa(TX_BUFS, 4096);
	memset(buf, 0, 12);
	memcpy(buf + 64, frame_hdr, 14);
	for (unsigned i = 14; i < 300; i++)
		buf[64 + i] = (uint8_t)i;
	set_desc(TXQ_BASE, 0, TX_BUFS, 12, VRING_DESC_F_NEXT, 1);
	set_desc(TXQ_BASE, 1, TX_BUFS + 64, 300, 0, 0);
	publish(TXQ_BASE, &tx_avail, 0);
	kick(1);
	assert_true(wait_used(TXQ_BASE, 1));
	assert_int_equal(get_le32(gpa(TXQ_BASE + 0x2000 + 4, 4)), 0);
	assert_true(wait_vector(device(), 2, 1000) >= 1); /* TX vector */

	/* The frame came out of the tap, byte for byte. */
	for (;;) {
		n = recv(pkt, got, sizeof(got), MSG_DONTWAIT);
		if (n < 0) {
			struct pollfd p = { .fd = pkt, .events = POLLIN };
			assert_int_equal(poll(&p, 1, 2000), 1);
			continue;
		}
		if (n == 300 && memcmp(got, buf + 64, 300) == 0)
			break; /* (the namespace may also see IPv6 noise: skip it) */
	}
}

static void test_rx(void **s)
{
	uint8_t frame[400], *buf;
	(void)s;
	if (!env_ok)
		TEST_SKIP(skip_need, "%s", skip_why);

	/* Four receive buffers of 2 KiB each. */
	for (unsigned i = 0; i < 4; i++) {
		set_desc(RXQ_BASE, i, RX_BUFS + 0x1000 * i, 2048, VRING_DESC_F_WRITE, 0);
		memset(gpa(RX_BUFS + 0x1000 * i, 2048), 0xee, 2048);
		publish(RXQ_BASE, &rx_avail, (uint16_t)i);
	}
	kick(0);
	memset(frame, 0, sizeof(frame));
	memcpy(frame, "\x02\x00\x00\x00\x00\x42\x02\x00\x00\x00\x00\x99\x88\xb5", 14);
	for (unsigned i = 14; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(i * 7);
	/* Frames sent on the tap's far side; the first buffers may catch namespace noise too. */
	for (int tries = 0; tries < 4; tries++) {
		assert_int_equal(send(pkt, frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
		for (int i = 0; i < 500 && used_idx(RXQ_BASE) <= tries; i++)
			usleep(1000);
		uint16_t u = used_idx(RXQ_BASE);
		bool found = false;
		for (unsigned e = 0; e < u; e++) {
			uint8_t *ent = gpa(RXQ_BASE + 0x2000 + 4 + 8 * e, 8);
			unsigned id = get_le32(ent), len = get_le32(ent + 4);
			assert_true(id < 4);
			buf = gpa(RX_BUFS + 0x1000 * id, 2048);
			if (len == 12 + sizeof(frame) && memcmp(buf + 12, frame, sizeof(frame)) == 0) {
				assert_int_equal(get_le16(buf + 10), 1); /* num_buffers */
				assert_int_equal(buf[0], 0);             /* no offload flags: none negotiated */
				assert_int_equal(buf[12 + sizeof(frame)], 0xee); /* nothing past the frame */
				found = true;
			}
		}
		if (found) {
			assert_true(wait_vector(device(), 1, 1000) >= 1); /* RX vector */
			return;
		}
	}
	fail_msg("the frame sent into the tap never reached an RX buffer");
}

static void test_hostile_then_reset(void **s)
{
	(void)s;
	if (!env_ok)
		TEST_SKIP(skip_need, "%s", skip_why);

	wait_vector(device(), 0, 0); /* clear the config vector */
	/* A TX chain that loops on itself. */
	set_desc(TXQ_BASE, 2, TX_BUFS, 12, VRING_DESC_F_NEXT, 2);
	publish(TXQ_BASE, &tx_avail, 2);
	kick(1);
	for (int i = 0; i < 2000 && !(COMMON_RD(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET); i++)
		usleep(1000);
	assert_true(COMMON_RD(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(wait_vector(device(), 0, 1000) >= 1); /* configuration change */
	assert_int_equal(used_idx(TXQ_BASE), 1);           /* nothing more was used */

	/* An avail index far beyond the ring on a fresh device. */
	driver_init();
	put_le16(gpa(TXQ_BASE + 0x1000 + 2, 2), 1000);
	kick(1);
	for (int i = 0; i < 2000 && !(COMMON_RD(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET); i++)
		usleep(1000);
	assert_true(COMMON_RD(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);

	/* A TX descriptor pointing outside RAM. */
	driver_init();
	set_desc(TXQ_BASE, 0, 0xfee00000, 64, 0, 0);
	publish(TXQ_BASE, &tx_avail, 0);
	kick(1);
	for (int i = 0; i < 2000 && !(COMMON_RD(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET); i++)
		usleep(1000);
	assert_true(COMMON_RD(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);

	/* Rings outside RAM at queue_enable. */
	COMMON_WR(VIRTIO_PCI_COMMON_STATUS, 1, 0);
	COMMON_WR(VIRTIO_PCI_COMMON_STATUS, 1, 3);
	COMMON_WR(VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	COMMON_WR(VIRTIO_PCI_COMMON_GF, 4, 1); /* VERSION_1 */
	COMMON_WR(VIRTIO_PCI_COMMON_STATUS, 1, 11);
	COMMON_WR(VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	COMMON_WR(VIRTIO_PCI_COMMON_Q_DESCLO, 4, 0xfffff000);
	COMMON_WR(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	assert_int_equal(COMMON_RD(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	assert_true(COMMON_RD(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);

	/* After a reset the device works again. */
	driver_init();
	test_tx(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_discover),
		cmocka_unit_test(test_tx),
		cmocka_unit_test(test_rx),
		cmocka_unit_test(test_hostile_then_reset),
	};
	return test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
