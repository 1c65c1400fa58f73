/* test-virtio-common.c: the common configuration state machine as Linux's virtio_pci_modern drives it
 * (features, FEATURES_OK, queue setup, DRIVER_OK, reset), and a driver that breaks the rules. */
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vm/devices/virtio.h"

#define RAM_SIZE (1u << 20)
static uint8_t ram[RAM_SIZE] __attribute__((aligned(4096)));
static int starts, stops, features_calls, start_result;
static uint64_t features_seen;

static void *fake_map(void *opaque, uint64_t gpa, uint64_t len)
{
	(void)opaque;
	if (gpa >= RAM_SIZE || len > RAM_SIZE - gpa)
		return NULL;
	return ram + gpa;
}

static int dev_features_ok(struct virtio_dev *d, uint64_t f)
{
	(void)d;
	features_calls++;
	features_seen = f;
	return (f & (1ull << 7)) ? -EOPNOTSUPP : 0; /* bit 7: a feature this device refuses after all */
}
static int dev_start(struct virtio_dev *d)
{
	(void)d;
	starts++;
	return start_result;
}
static void dev_stop(struct virtio_dev *d)
{
	(void)d;
	stops++;
}

static const struct virtio_dev_ops ops = { .features_ok = dev_features_ok, .start = dev_start, .stop = dev_stop };
static const struct virtq_mem mem = { .map = fake_map };
#define DEV_FEATURES (1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_RING_F_EVENT_IDX | 1ull << 5 | 1ull << 7)

static struct virtio_dev d;

static int setup(void **s)
{
	(void)s;
	starts = stops = features_calls = start_result = 0;
	virtio_dev_init(&d, &ops, NULL, &mem, DEV_FEATURES, 2, 256, 3);
	return 0;
}

#define R(off, len) virtio_common_read(&d, off, len)
#define W(off, len, v) virtio_common_write(&d, off, len, v)

static void negotiate(uint64_t f)
{
	W(VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE);
	W(VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	W(VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	W(VIRTIO_PCI_COMMON_GF, 4, (uint32_t)f);
	W(VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	W(VIRTIO_PCI_COMMON_GF, 4, f >> 32);
	W(VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
}

static void setup_queue(unsigned i, uint16_t size, uint64_t base, uint16_t vector)
{
	W(VIRTIO_PCI_COMMON_Q_SELECT, 2, i);
	W(VIRTIO_PCI_COMMON_Q_SIZE, 2, size);
	W(VIRTIO_PCI_COMMON_Q_DESCLO, 4, (uint32_t)base);
	W(VIRTIO_PCI_COMMON_Q_DESCHI, 4, base >> 32);
	W(VIRTIO_PCI_COMMON_Q_AVAILLO, 4, (uint32_t)(base + 0x1000));
	W(VIRTIO_PCI_COMMON_Q_AVAILHI, 4, (base + 0x1000) >> 32);
	W(VIRTIO_PCI_COMMON_Q_USEDLO, 4, (uint32_t)(base + 0x2000));
	W(VIRTIO_PCI_COMMON_Q_USEDHI, 4, (base + 0x2000) >> 32);
	W(VIRTIO_PCI_COMMON_Q_MSIX, 2, vector);
	W(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
}

static void test_linux_sequence(void **s)
{
	uint64_t want = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_RING_F_EVENT_IDX | 1ull << 5;
	(void)s;

	assert_int_equal(R(VIRTIO_PCI_COMMON_STATUS, 1), 0);
	assert_int_equal(R(VIRTIO_PCI_COMMON_NUMQ, 2), 2);
	W(VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
	assert_int_equal(R(VIRTIO_PCI_COMMON_DF, 4), (uint32_t)DEV_FEATURES);
	W(VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	assert_int_equal(R(VIRTIO_PCI_COMMON_DF, 4), DEV_FEATURES >> 32);
	W(VIRTIO_PCI_COMMON_DFSELECT, 4, 2);
	assert_int_equal(R(VIRTIO_PCI_COMMON_DF, 4), 0);

	negotiate(want);
	assert_int_equal(R(VIRTIO_PCI_COMMON_STATUS, 1), 11);
	assert_int_equal(features_calls, 1);
	assert_true(features_seen == want);
	/* Frozen after FEATURES_OK. */
	W(VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	W(VIRTIO_PCI_COMMON_GF, 4, 0);
	assert_true(d.driver_features == want);

	W(VIRTIO_PCI_COMMON_MSIX, 2, 0);
	assert_int_equal(R(VIRTIO_PCI_COMMON_MSIX, 2), 0);
	W(VIRTIO_PCI_COMMON_MSIX, 2, 3); /* beyond the 3 vectors */
	assert_int_equal(R(VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_NO_VECTOR);
	W(VIRTIO_PCI_COMMON_MSIX, 2, 0);

	W(VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	assert_int_equal(R(VIRTIO_PCI_COMMON_Q_SIZE, 2), 256);
	assert_int_equal(R(VIRTIO_PCI_COMMON_Q_NOFF, 2), 1);
	setup_queue(0, 256, 0x10000, 1);
	setup_queue(1, 128, 0x20000, 2);
	assert_int_equal(R(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
	assert_int_equal(R(VIRTIO_PCI_COMMON_Q_MSIX, 2), 2);
	assert_int_equal(R(VIRTIO_PCI_COMMON_Q_USEDLO, 4), 0x22000);
	assert_true(d.queues[1].vq.event_idx);
	assert_false(d.queues[1].vq.indirect);
	assert_int_equal(d.queues[1].vq.num, 128);
	/* A queue that does not exist reads as size 0. */
	W(VIRTIO_PCI_COMMON_Q_SELECT, 2, 2);
	assert_int_equal(R(VIRTIO_PCI_COMMON_Q_SIZE, 2), 0);
	W(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);

	W(VIRTIO_PCI_COMMON_STATUS, 1, 15);
	assert_int_equal(R(VIRTIO_PCI_COMMON_STATUS, 1), 15);
	assert_int_equal(starts, 1);
	/* Queue setup is frozen while running. */
	W(VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	W(VIRTIO_PCI_COMMON_Q_DESCLO, 4, 0x90000);
	assert_int_equal(R(VIRTIO_PCI_COMMON_Q_DESCLO, 4), 0x10000);

	/* Reset: stopped, everything back. */
	W(VIRTIO_PCI_COMMON_STATUS, 1, 0);
	assert_int_equal(stops, 1);
	assert_int_equal(R(VIRTIO_PCI_COMMON_STATUS, 1), 0);
	assert_int_equal(R(VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_NO_VECTOR);
	assert_int_equal(R(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	assert_int_equal(R(VIRTIO_PCI_COMMON_Q_DESCLO, 4), 0);
	assert_true(d.driver_features == 0);
	W(VIRTIO_PCI_COMMON_STATUS, 1, 0); /* a second reset stops nothing */
	assert_int_equal(stops, 1);
}

static void test_feature_refusal(void **s)
{
	(void)s;
	/* Without VERSION_1 (a legacy driver): FEATURES_OK does not stick. */
	negotiate(1ull << 5);
	assert_int_equal(R(VIRTIO_PCI_COMMON_STATUS, 1), 3);
	assert_int_equal(features_calls, 0);
	/* More than the device offers. */
	W(VIRTIO_PCI_COMMON_STATUS, 1, 0);
	negotiate(1ull << VIRTIO_F_VERSION_1 | 1ull << 6);
	assert_int_equal(R(VIRTIO_PCI_COMMON_STATUS, 1), 3);
	/* The device's own refusal. */
	W(VIRTIO_PCI_COMMON_STATUS, 1, 0);
	negotiate(1ull << VIRTIO_F_VERSION_1 | 1ull << 7);
	assert_int_equal(features_calls, 1);
	assert_int_equal(R(VIRTIO_PCI_COMMON_STATUS, 1), 3);
	/* DRIVER_OK without FEATURES_OK: NEEDS_RESET, not started. */
	W(VIRTIO_PCI_COMMON_STATUS, 1, 7);
	assert_int_equal(starts, 0);
	assert_true(R(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
	assert_false(R(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_STATUS_DRIVER_OK);
}

static void test_hostile_queue_setup(void **s)
{
	(void)s;
	/* Enabling a queue before FEATURES_OK. */
	W(VIRTIO_PCI_COMMON_STATUS, 1, 3);
	setup_queue(0, 256, 0x10000, 1);
	assert_int_equal(R(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	assert_true(R(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);

	static const struct {
		uint16_t size;
		uint64_t base;
	} bad[] = {
		{ 512, 0x10000 },                 /* over the maximum */
		{ 100, 0x10000 },                 /* not a power of two */
		{ 0, 0x10000 },
		{ 256, RAM_SIZE - 0x1000 },       /* rings outside RAM */
		{ 256, 0xfffffffffffff000ull },   /* at the top of the address space */
		{ 256, 0x10008 },                 /* misaligned */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		W(VIRTIO_PCI_COMMON_STATUS, 1, 0);
		assert_int_equal(R(VIRTIO_PCI_COMMON_STATUS, 1), 0);
		negotiate(1ull << VIRTIO_F_VERSION_1);
		setup_queue(0, bad[i].size, bad[i].base, 1);
		assert_int_equal(R(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
		assert_true(R(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
		/* And the driver cannot start a device that needs a reset. */
		W(VIRTIO_PCI_COMMON_STATUS, 1, 15);
		assert_int_equal(starts, 0);
	}

	/* Accesses that are not a whole field: read 0, ignored. */
	W(VIRTIO_PCI_COMMON_STATUS, 1, 0);
	W(VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	W(VIRTIO_PCI_COMMON_Q_DESCLO, 2, 0x1234);
	W(VIRTIO_PCI_COMMON_Q_DESCLO + 1, 1, 0x12);
	assert_int_equal(R(VIRTIO_PCI_COMMON_Q_DESCLO, 4), 0);
	assert_int_equal(R(VIRTIO_PCI_COMMON_Q_DESCLO, 2), 0);
	assert_int_equal(R(VIRTIO_PCI_COMMON_DF, 2), 0);
	assert_int_equal(R(63, 1), 0);
	W(VIRTIO_PCI_COMMON_NUMQ, 2, 7); /* read-only */
	assert_int_equal(R(VIRTIO_PCI_COMMON_NUMQ, 2), 2);
	/* A queue vector beyond the vectors reads back as none. */
	W(VIRTIO_PCI_COMMON_Q_MSIX, 2, 0x7ff);
	assert_int_equal(R(VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_NO_VECTOR);
	/* A failing start: NEEDS_RESET. */
	start_result = -EIO;
	negotiate(1ull << VIRTIO_F_VERSION_1);
	W(VIRTIO_PCI_COMMON_STATUS, 1, 15);
	assert_int_equal(starts, 1);
	assert_true(R(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
	W(VIRTIO_PCI_COMMON_STATUS, 1, 0);
	assert_int_equal(stops, 0); /* never started */
}

static void test_needs_reset_from_data_path(void **s)
{
	(void)s;
	negotiate(1ull << VIRTIO_F_VERSION_1);
	W(VIRTIO_PCI_COMMON_STATUS, 1, 15);
	assert_true(virtio_dev_set_needs_reset(&d));
	assert_false(virtio_dev_set_needs_reset(&d)); /* reported once */
	assert_int_equal(R(VIRTIO_PCI_COMMON_STATUS, 1), 15 | VIRTIO_STATUS_NEEDS_RESET);
	W(VIRTIO_PCI_COMMON_STATUS, 1, 0);
	assert_int_equal(stops, 1);
	assert_int_equal(R(VIRTIO_PCI_COMMON_STATUS, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_linux_sequence, setup),
		cmocka_unit_test_setup(test_feature_refusal, setup),
		cmocka_unit_test_setup(test_hostile_queue_setup, setup),
		cmocka_unit_test_setup(test_needs_reset_from_data_path, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
