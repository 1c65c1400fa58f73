/* test-vfio-barmap.c: BAR mmap honouring sparse areas, region reads/writes bounded by the region,
 * against a memfd standing in for the device fd (mmap and pread behave the same on both). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/mman.h>

#include "vfio/container-internal.h"

#define REGION_OFF 0x10000 /* where the fake BAR lives in the "device fd" */
#define REGION_SIZE 0x8000

static sigjmp_buf fault_jmp;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(fault_jmp, 1);
}

/* Does reading p fault? */
static bool faults(volatile uint8_t *p)
{
	struct sigaction sa = { .sa_handler = on_segv }, old;
	bool hit;

	sigaction(SIGSEGV, &sa, &old);
	if (sigsetjmp(fault_jmp, 1) == 0) {
		(void)*p;
		hit = false;
	} else
		hit = true;
	sigaction(SIGSEGV, &old, NULL);
	return hit;
}

/* A device with one BAR (index 0) backed by a memfd filled with a byte pattern. */
static struct vfio_device *fake_device(struct vfio_mmap_area *sparse, size_t n_sparse, uint32_t flags)
{
	struct vfio_device *d = calloc(1, sizeof(*d));
	uint8_t *buf = malloc(REGION_OFF + REGION_SIZE);

	assert_non_null(d);
	assert_non_null(buf);
	for (size_t i = 0; i < REGION_OFF + REGION_SIZE; i++)
		buf[i] = (uint8_t)(i >> 12) ^ 0x40;
	d->n_ref = 1;
	d->fd = memfd_create("fake-vfio-device", MFD_CLOEXEC);
	assert_true(d->fd >= 0);
	assert_int_equal(pwrite(d->fd, buf, REGION_OFF + REGION_SIZE, 0), REGION_OFF + REGION_SIZE);
	free(buf);
	d->n_regions = 1;
	d->regions = calloc(1, sizeof(*d->regions));
	d->regions[0] = (struct vfio_region_desc){
		.index = 0, .flags = flags, .size = REGION_SIZE, .offset = REGION_OFF,
		.has_sparse = sparse != NULL, .n_sparse = n_sparse,
	};
	if (sparse) {
		d->regions[0].sparse = calloc(n_sparse, sizeof(*sparse));
		memcpy(d->regions[0].sparse, sparse, n_sparse * sizeof(*sparse));
	}
	return d;
}

#define RW (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE)

static void test_sparse(void **s)
{
	/* The hole in the middle stands for an MSI-X table the kernel will not let us map. */
	struct vfio_mmap_area areas[] = { { 0, 0x1000 }, { 0x3000, 0x5000 } };
	struct vfio_device *d = fake_device(areas, 2, RW | VFIO_REGION_INFO_FLAG_MMAP);
	struct vfio_bar_map *m = NULL;
	uint8_t *p;
	(void)s;

	assert_int_equal(vfio_device_bar_map(d, 0, &m), 0);
	assert_int_equal(m->n_areas, 2);
	/* Offsets keep their meaning: byte X of the BAR is byte REGION_OFF+X of the fd. */
	p = vfio_bar_map_ptr(m, 0x3000, 4);
	assert_non_null(p);
	assert_int_equal(*p, (uint8_t)(((REGION_OFF + 0x3000) >> 12) ^ 0x40));
	assert_ptr_equal(vfio_bar_map_ptr(m, 0, 1), m->base);
	/* The gap and ranges crossing into it are not handed out, and touching it faults. */
	assert_null(vfio_bar_map_ptr(m, 0x1000, 4));
	assert_null(vfio_bar_map_ptr(m, 0xffe, 4));
	assert_null(vfio_bar_map_ptr(m, 0x7ffc, 8));
	assert_non_null(vfio_bar_map_ptr(m, 0x7ff8, 8));
	assert_true(faults(m->base + 0x2000));
	assert_false(faults(m->base + 0x4000));
	/* Writes go to the device. */
	*(volatile uint8_t *)vfio_bar_map_ptr(m, 0x4000, 1) = 0xab;
	{
		uint8_t v = 0;
		assert_int_equal(vfio_device_region_read(d, 0, 0x4000, &v, 1), 0);
		assert_int_equal(v, 0xab);
	}
	vfio_bar_map_free(m);
	vfio_device_unref(d);
}

static void test_whole_and_refusals(void **s)
{
	struct vfio_mmap_area odd[] = { { 0x800, 0x1000 } }; /* not page-aligned: skipped, nothing left */
	struct vfio_device *d = fake_device(NULL, 0, RW | VFIO_REGION_INFO_FLAG_MMAP);
	struct vfio_bar_map *m = NULL;
	uint32_t v = 0xdeadbeef;
	(void)s;

	assert_int_equal(vfio_device_bar_map(d, 0, &m), 0);
	assert_int_equal(m->n_areas, 1);
	assert_non_null(vfio_bar_map_ptr(m, REGION_SIZE - 4, 4));
	assert_null(vfio_bar_map_ptr(m, REGION_SIZE - 2, 4));
	vfio_bar_map_free(m);
	/* Region access stays inside the region. */
	assert_int_equal(vfio_device_region_write(d, 0, 0x10, &v, 4), 0);
	assert_int_equal(vfio_device_region_read(d, 0, REGION_SIZE - 2, &v, 4), -EINVAL);
	assert_int_equal(vfio_device_region_read(d, 0, UINT64_MAX - 1, &v, 4), -EINVAL);
	assert_int_equal(vfio_device_region_read(d, 1, 0, &v, 4), -EINVAL); /* no such region */
	assert_int_equal(vfio_device_bar_map(d, 3, &m), -EINVAL);
	vfio_device_unref(d);

	d = fake_device(NULL, 0, RW); /* no MMAP flag */
	assert_int_equal(vfio_device_bar_map(d, 0, &m), -EACCES);
	vfio_device_unref(d);

	d = fake_device(odd, 1, RW | VFIO_REGION_INFO_FLAG_MMAP);
	m = NULL;
	assert_int_equal(vfio_device_bar_map(d, 0, &m), -EACCES);
	assert_null(m);
	vfio_device_unref(d);

	d = fake_device(NULL, 0, VFIO_REGION_INFO_FLAG_READ); /* read-only region */
	assert_int_equal(vfio_device_region_write(d, 0, 0, &v, 4), -EACCES);
	assert_int_equal(vfio_device_reset(d), -ENOTTY); /* no VFIO_DEVICE_FLAGS_RESET */
	vfio_device_unref(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sparse),
		cmocka_unit_test(test_whole_and_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
