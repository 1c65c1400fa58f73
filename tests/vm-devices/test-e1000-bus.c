/* test-e1000-bus.c: the e1000 on a real VM's PCI bus (this machine's /dev/kvm) and a real tap (in a private
 * network namespace): config header and BARs as the guest sees them, registers through BAR 0 and the I/O
 * window, a frame through the transmit ring out of the tap, a frame into the tap and into the receive ring
 * (held while no descriptor is free, delivered on RDT), and a ring outside RAM stopping the device.
 * Accesses go through the VM's own I/O dispatch, exactly as a guest's exits do. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>

#include "tests/lib/testskip.h"
#include "vm/devices/e1000.h"
#include "vm/internal.h"

#define TAP "e1kt0"
#define TXRING 0x100000ull
#define RXRING 0x101000ull
#define BUFS 0x110000ull

static const uint8_t MAC[6] = { 0x02, 0x00, 0x00, 0x00, 0xe1, 0x02 };

struct fixture {
	struct vm *vm;
	unsigned slot;
	uint64_t bar0;
	uint16_t io;
	int pkt; /* AF_PACKET socket on the tap's host side */
};

static bool netns_ok;

static uint32_t cfg_read(struct fixture *f, unsigned off)
{
	uint8_t a[4], d[4];
	put_le32(a, 0x80000000u | f->slot << 11 | (off & 0xfc));
	vm_io_dispatch(f->vm, false, 0xcf8, a, 4, true);
	vm_io_dispatch(f->vm, false, 0xcfc, d, 4, false);
	return get_le32(d);
}
static void cfg_write(struct fixture *f, unsigned off, uint32_t v)
{
	uint8_t a[4], d[4];
	put_le32(a, 0x80000000u | f->slot << 11 | (off & 0xfc));
	vm_io_dispatch(f->vm, false, 0xcf8, a, 4, true);
	put_le32(d, v);
	vm_io_dispatch(f->vm, false, 0xcfc, d, 4, true);
}
static uint32_t rd(struct fixture *f, uint32_t reg)
{
	uint8_t d[4];
	vm_io_dispatch(f->vm, true, f->bar0 + reg, d, 4, false);
	return get_le32(d);
}
static void wr(struct fixture *f, uint32_t reg, uint32_t v)
{
	uint8_t d[4];
	put_le32(d, v);
	vm_io_dispatch(f->vm, true, f->bar0 + reg, d, 4, true);
}
static uint8_t *ram(struct fixture *f, uint64_t gpa, uint64_t len)
{
	uint8_t *p = vm_gpa_to_hva(f->vm, gpa, len);
	assert_non_null(p);
	return p;
}

static int setup(void **state)
{
	struct vm_nic_config nic = { .model = VM_NIC_E1000, .tap = TAP, .has_mac = true };
	struct vm_config cfg = { .name = "e1k", .memory = 32 << 20, .cpus = 1, .console_in = -1, .console_out = -1,
				 .nics = &nic, .nnics = 1 };
	struct fixture *f;
	const char *why = NULL;

	*state = NULL;
	if (!test_have_kvm() || !netns_ok)
		return 0;
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	memcpy(nic.mac, MAC, 6);
	assert_int_equal(vm_new(&cfg, &f->vm, &why), 0);
	for (unsigned s = 1; s < 32 && !f->slot; s++) {
		f->slot = s;
		if (cfg_read(f, 0) != (E1000_DEVICE_82540EM << 16 | E1000_VENDOR))
			f->slot = 0;
	}
	assert_true(f->slot > 0);
	f->bar0 = cfg_read(f, 0x10) & ~0xfu;
	f->io = (uint16_t)(cfg_read(f, 0x18) & ~3u);
	cfg_write(f, 0x04, 0x0007); /* I/O, memory, bus master */
	f->pkt = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	assert_true(f->pkt >= 0);
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				  .sll_ifindex = (int)if_nametoindex(TAP) };
	assert_true(ll.sll_ifindex > 0);
	assert_int_equal(bind(f->pkt, (struct sockaddr *)&ll, sizeof(ll)), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f) {
		close(f->pkt);
		vm_free(f->vm);
		free(f);
	}
	return 0;
}

#define NEED(f)                                                                                              \
	do {                                                                                                 \
		if (!test_have_kvm())                                                                        \
			TEST_SKIP("kvm", "no usable /dev/kvm");                                              \
		if (!(f))                                                                                    \
			TEST_SKIP("netns", "no /dev/net/tun or private network namespace");                  \
	} while (0)

static void test_config_and_registers(void **state)
{
	struct fixture *f = *state;
	NEED(f);
	uint8_t d[4];

	assert_int_equal(cfg_read(f, 0x08) >> 8, 0x020000);                       /* Ethernet controller */
	assert_int_equal(cfg_read(f, 0x2c), (uint32_t)E1000_SUBSYS << 16 | E1000_VENDOR);
	assert_int_equal((cfg_read(f, 0x3c) >> 8) & 0xff, 1);                       /* INTA */
	assert_int_equal(cfg_read(f, 0x3c) & 0xff, vm_pci_intx_gsi(f->slot, 1));    /* the line the _PRT gives */
	assert_int_equal(cfg_read(f, 0x18) & 1, 1);                                 /* BAR 2: I/O */
	/* BAR sizes as the guest probes them: 128 KiB of memory, 8 ports. */
	cfg_write(f, 0x04, 0);
	cfg_write(f, 0x10, 0xffffffff);
	cfg_write(f, 0x18, 0xffffffff);
	assert_int_equal(cfg_read(f, 0x10), 0xfffe0000);
	assert_int_equal(cfg_read(f, 0x18), 0xfffffff9);
	cfg_write(f, 0x10, (uint32_t)f->bar0);
	cfg_write(f, 0x18, f->io);
	cfg_write(f, 0x04, 0x0007);

	assert_int_equal(rd(f, E1000_STATUS) & 3, E1000_STATUS_FD | E1000_STATUS_LU);
	assert_int_equal(rd(f, E1000_RA), (uint32_t)(MAC[0] | MAC[1] << 8 | MAC[2] << 16 | (uint32_t)MAC[3] << 24));
	/* The I/O window: IOADDR then IODATA. */
	put_le32(d, E1000_RA + 4);
	vm_io_dispatch(f->vm, false, f->io, d, 4, true);
	vm_io_dispatch(f->vm, false, f->io + 4, d, 4, false);
	assert_int_equal(get_le32(d), (uint32_t)(MAC[4] | MAC[5] << 8) | E1000_RAH_AV);
	/* Memory decode off: the registers are gone (all ones), back when enabled. */
	cfg_write(f, 0x04, 0x0005);
	assert_int_equal(rd(f, E1000_STATUS), 0xffffffff);
	cfg_write(f, 0x04, 0x0007);
	/* Interrupt status in PCI STATUS follows ICR & IMS. */
	wr(f, E1000_IMS, E1000_ICR_TXDW);
	wr(f, E1000_ICS, E1000_ICR_TXDW);
	assert_true(cfg_read(f, 0x04) & (0x08u << 16));
	rd(f, E1000_ICR);
	assert_false(cfg_read(f, 0x04) & (0x08u << 16));
}

static ssize_t recv_frame(int fd, uint8_t *buf, size_t len, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	for (;;) {
		if (poll(&p, 1, ms) <= 0)
			return -1;
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, len, 0, (struct sockaddr *)&from, &fl);
		if (n < 0 || from.sll_pkttype != PACKET_OUTGOING)
			return n; /* frames the tap received from the VMM */
	}
}

static void test_tx_rx(void **state)
{
	struct fixture *f = *state;
	NEED(f);
	uint8_t frame[200], got[2048];
	ssize_t n;

	/* Transmit: one frame of two descriptors. */
	memcpy(frame, "\x02\x00\x00\x00\x00\x99", 6);
	memcpy(frame + 6, MAC, 6);
	frame[12] = 0x88, frame[13] = 0xb5; /* local experimental ethertype: no host stack reacts */
	for (unsigned i = 14; i < sizeof(frame); i++)
		frame[i] = (uint8_t)i;
	memcpy(ram(f, BUFS, 200), frame, 200);
	uint8_t *tx = ram(f, TXRING, 128);
	memset(tx, 0, 128);
	put_le64(tx, BUFS);
	put_le16(tx + 8, 120);
	put_le64(tx + 16, BUFS + 120);
	put_le16(tx + 24, 80);
	tx[27] = E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS;
	wr(f, E1000_TDBAL, (uint32_t)TXRING);
	wr(f, E1000_TDLEN, 128);
	wr(f, E1000_TDH, 0);
	wr(f, E1000_TDT, 0);
	wr(f, E1000_TCTL, E1000_TCTL_EN);
	wr(f, E1000_TDT, 2);
	/* Served on this (the "vCPU") thread: done when the write returns. */
	assert_int_equal(rd(f, E1000_TDH), 2);
	assert_true(tx[28] & E1000_TXD_STA_DD);
	n = recv_frame(f->pkt, got, sizeof(got), 2000);
	assert_int_equal(n, 200);
	assert_memory_equal(got, frame, 200);

	/* Receive: the ring has one free descriptor (RDT = 1); two frames: the second is held. */
	uint8_t *rx = ram(f, RXRING, 128);
	memset(rx, 0, 128);
	for (unsigned i = 0; i < 8; i++)
		put_le64(rx + 16 * i, BUFS + 0x1000 * (i + 1));
	wr(f, E1000_RDBAL, (uint32_t)RXRING);
	wr(f, E1000_RDLEN, 128);
	wr(f, E1000_RDH, 0);
	wr(f, E1000_RDT, 1);
	wr(f, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_SECRC);
	memcpy(frame, MAC, 6);
	memcpy(frame + 6, "\x02\x00\x00\x00\x00\x99", 6);
	for (int k = 0; k < 2; k++) {
		frame[14] = (uint8_t)k;
		assert_int_equal(send(f->pkt, frame, 100, 0), 100);
	}
	for (int i = 0; i < 200 && rd(f, E1000_RDH) != 1; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	assert_int_equal(rd(f, E1000_RDH), 1);
	assert_int_equal(get_le16(rx + 8), 100);
	assert_true(rx[12] & E1000_RXD_STA_DD);
	assert_int_equal(ram(f, BUFS + 0x1000, 100)[14], 0);
	assert_true(rd(f, E1000_ICR) & E1000_ICR_RXT0);
	nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
	assert_int_equal(rd(f, E1000_RDH), 1); /* the second waits for a descriptor */
	wr(f, E1000_RDT, 4);                    /* delivered in this write */
	assert_int_equal(rd(f, E1000_RDH), 2);
	assert_int_equal(ram(f, BUFS + 0x2000, 100)[14], 1);
}

static void test_ring_outside_ram(void **state)
{
	struct fixture *f = *state;
	NEED(f);
	uint8_t got[256];

	wr(f, E1000_TDBAL, 0xfffff000); /* far above 32 MiB of RAM */
	wr(f, E1000_TDLEN, 128);
	wr(f, E1000_TCTL, E1000_TCTL_EN);
	wr(f, E1000_TDT, 3);
	assert_int_equal(rd(f, E1000_TDH), 0);
	assert_int_equal(recv_frame(f->pkt, got, sizeof(got), 200), -1);
	/* Stopped until reset: even a good ring sends nothing now. */
	wr(f, E1000_TDBAL, (uint32_t)TXRING);
	wr(f, E1000_TDT, 1);
	assert_int_equal(rd(f, E1000_TDH), 0);
	wr(f, E1000_CTRL, E1000_CTRL_RST);
	assert_int_equal(rd(f, E1000_TDBAL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_and_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_rx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_outside_ram, setup, teardown),
	};
	/* The tap lives in a network namespace of this process's own. */
	netns_ok = access("/dev/net/tun", R_OK | W_OK) == 0 && unshare(CLONE_NEWNET) == 0;
	if (!netns_ok)
		test_skip_note("netns", "no /dev/net/tun or private network namespace");
	return test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
