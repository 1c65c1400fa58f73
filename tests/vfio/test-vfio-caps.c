/* test-vfio-caps.c: the pure side of the VFIO objects: capability chains (well-formed and
 * hostile), IOMMU limits, region and hot-reset info, DMA arguments, and open error paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <sys/stat.h>

#include "util/root.h"
#include "vfio/vfio.h"

/* A buffer the size of a kernel reply, 8-aligned like the kernel's. */
struct buf {
	_Alignas(8) uint8_t b[512];
	size_t len;
};

static void *put(struct buf *b, size_t off, const void *v, size_t len)
{
	assert_true(off + len <= sizeof(b->b));
	memcpy(b->b + off, v, len);
	if (off + len > b->len)
		b->len = off + len;
	return b->b + off;
}

/* info header + IOVA range cap (2 ranges) at 24 + DMA avail at 72 + migration at 88 */
static void iommu_reply(struct buf *b)
{
	struct vfio_iommu_type1_info info = {
		.argsz = 0,
		.flags = VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS,
		.iova_pgsizes = 0x40201000,
		.cap_offset = 24,
	};
	struct vfio_iommu_type1_info_cap_iova_range ir = {
		.header = { .id = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, .version = 1, .next = 72 },
		.nr_iovas = 2,
	};
	struct vfio_iova_range r[2] = { { 0, 0xfedfffff }, { 0xfef00000, 0xffffffffffffull } };
	struct vfio_iommu_type1_info_dma_avail da = {
		.header = { .id = VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, .version = 1, .next = 88 },
		.avail = 65535,
	};
	struct vfio_iommu_type1_info_cap_migration mi = {
		.header = { .id = VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, .version = 1, .next = 0 },
		.flags = 0, .pgsize_bitmap = 0x1000, .max_dirty_bitmap_size = 1 << 20,
	};

	memset(b, 0, sizeof(*b));
	put(b, 0, &info, sizeof(info));
	put(b, 24, &ir, sizeof(ir));
	put(b, 24 + sizeof(ir), r, sizeof(r));
	put(b, 72, &da, sizeof(da));
	put(b, 88, &mi, sizeof(mi));
	((struct vfio_iommu_type1_info *)b->b)->argsz = (uint32_t)b->len;
}

static struct vfio_info_cap_header *cap_at(struct buf *b, size_t off)
{
	return (struct vfio_info_cap_header *)(b->b + off);
}

static void test_iommu_limits(void **s)
{
	struct buf b;
	struct vfio_iommu_limits l;
	(void)s;

	iommu_reply(&b);
	assert_int_equal(vfio_iommu_limits_parse(b.b, b.len, &l), 0);
	assert_int_equal(l.pgsize_bitmap, 0x40201000);
	assert_true(l.has_iova_spans);
	assert_int_equal(l.n_iova_spans, 2);
	assert_int_equal(l.iova_spans[0].last, 0xfedfffff);
	assert_int_equal(l.iova_spans[1].first, 0xfef00000);
	assert_true(l.has_dma_avail);
	assert_int_equal(l.dma_avail, 65535);
	assert_true(l.has_migration);
	assert_int_equal(l.migration_max_dirty_bitmap_size, 1 << 20);
	vfio_iommu_limits_done(&l);

	/* Without the CAPS flag the chain is not looked at. */
	((struct vfio_iommu_type1_info *)b.b)->flags = VFIO_IOMMU_INFO_PGSIZES;
	assert_int_equal(vfio_iommu_limits_parse(b.b, b.len, &l), 0);
	assert_false(l.has_iova_spans);
	assert_false(l.has_dma_avail);
	vfio_iommu_limits_done(&l);

	/* An old kernel's reply, shorter than the fixed struct: page sizes only. */
	iommu_reply(&b);
	((struct vfio_iommu_type1_info *)b.b)->flags = VFIO_IOMMU_INFO_PGSIZES;
	assert_int_equal(vfio_iommu_limits_parse(b.b, offsetof(struct vfio_iommu_type1_info, cap_offset), &l), 0);
	assert_int_equal(l.pgsize_bitmap, 0x40201000);
	assert_int_equal(vfio_iommu_limits_parse(b.b, 8, &l), -EBADMSG);
}

static void expect_bad(struct buf *b, size_t len)
{
	struct vfio_iommu_limits l = { 0 };
	assert_int_equal(vfio_iommu_limits_parse(b->b, len, &l), -EBADMSG);
	assert_null(l.iova_spans); /* nothing handed out on failure */
}

static void test_hostile_chains(void **s)
{
	struct buf b;
	(void)s;

	iommu_reply(&b);
	cap_at(&b, 88)->next = 88; /* points at itself */
	expect_bad(&b, b.len);

	iommu_reply(&b);
	cap_at(&b, 88)->next = 24; /* points back: a loop */
	expect_bad(&b, b.len);

	iommu_reply(&b);
	cap_at(&b, 72)->next = 72 + 4; /* inside the current header */
	expect_bad(&b, b.len);

	iommu_reply(&b);
	cap_at(&b, 72)->next = 4096; /* past argsz */
	expect_bad(&b, b.len);

	iommu_reply(&b);
	((struct vfio_iommu_type1_info *)b.b)->cap_offset = 8; /* inside the fixed header */
	expect_bad(&b, b.len);

	iommu_reply(&b);
	((struct vfio_iommu_type1_info *)b.b)->cap_offset = 26; /* not even 4-byte aligned */
	expect_bad(&b, b.len);

	iommu_reply(&b);
	((struct vfio_iommu_type1_info *)b.b)->cap_offset = (uint32_t)b.len - 4; /* header cut by argsz */
	expect_bad(&b, b.len);

	iommu_reply(&b);
	/* argsz cut short: the migration cap no longer fits */
	expect_bad(&b, 88 + sizeof(struct vfio_info_cap_header) + 4);

	iommu_reply(&b);
	((struct vfio_iommu_type1_info_cap_iova_range *)cap_at(&b, 24))->nr_iovas = 0x10000000; /* past its cap */
	expect_bad(&b, b.len);

	iommu_reply(&b);
	((struct vfio_iommu_type1_info_cap_iova_range *)cap_at(&b, 24))->nr_iovas = 3; /* spills into the next */
	expect_bad(&b, b.len);

	iommu_reply(&b);
	{
		struct vfio_iova_range *r = (void *)(b.b + 24 + sizeof(struct vfio_iommu_type1_info_cap_iova_range));
		r[1].start = 0x1000; /* unsorted / overlapping */
		expect_bad(&b, b.len);
		iommu_reply(&b);
		r[0].start = 0x2000;
		r[0].end = 0x1000; /* start > end */
		expect_bad(&b, b.len);
	}
}

/* Kernels before 6.5 pack caps without 8-byte alignment: a 12-byte DMA avail cap puts the next
 * one at a 4-byte offset (seen on 6.1: migration at 24, DMA avail at 56, IOVA ranges at 68). */
static void test_packed_chain(void **s)
{
	struct buf b;
	struct vfio_iommu_limits l;
	struct vfio_iommu_type1_info info = {
		.flags = VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS, .iova_pgsizes = 0x40201000, .cap_offset = 24,
	};
	struct vfio_iommu_type1_info_cap_migration mi = {
		.header = { .id = VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, .version = 1, .next = 56 },
		.pgsize_bitmap = 0x1000, .max_dirty_bitmap_size = 0x12345678abcull,
	};
	struct vfio_iommu_type1_info_dma_avail da = {
		.header = { .id = VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, .version = 1, .next = 68 }, .avail = 65000,
	};
	struct vfio_iommu_type1_info_cap_iova_range ir = {
		.header = { .id = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, .version = 1, .next = 0 }, .nr_iovas = 2,
	};
	struct vfio_iova_range r[2] = { { 0, 0xfedfffff }, { 0xfef00000, 0x7fffffffffull } };
	(void)s;

	memset(&b, 0, sizeof(b));
	put(&b, 0, &info, sizeof(info));
	put(&b, 24, &mi, sizeof(mi));
	put(&b, 56, &da, 12);
	put(&b, 68, &ir, sizeof(ir));
	put(&b, 68 + sizeof(ir), r, sizeof(r));
	assert_int_equal(vfio_iommu_limits_parse(b.b, b.len, &l), 0);
	assert_int_equal(l.dma_avail, 65000);
	assert_int_equal(l.migration_max_dirty_bitmap_size, 0x12345678abcull);
	assert_int_equal(l.n_iova_spans, 2);
	assert_int_equal(l.iova_spans[1].last, 0x7fffffffffull);
	vfio_iommu_limits_done(&l);
}

static int count_cap(const struct vfio_info_cap_header *h, size_t len, void *ud)
{
	(void)h;
	assert_true(len >= sizeof(*h));
	(*(int *)ud)++;
	return 0;
}

static int stop_cap(const struct vfio_info_cap_header *h, size_t len, void *ud)
{
	(void)h;
	(void)len;
	(void)ud;
	return -ECANCELED;
}

static void test_walk(void **s)
{
	struct buf b;
	int n = 0;
	(void)s;

	iommu_reply(&b);
	assert_int_equal(vfio_caps_walk(b.b, b.len, sizeof(struct vfio_iommu_type1_info), 24, count_cap, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(vfio_caps_walk(b.b, b.len, sizeof(struct vfio_iommu_type1_info), 24, stop_cap, NULL),
			 -ECANCELED);
	n = 0;
	assert_int_equal(vfio_caps_walk(b.b, b.len, sizeof(struct vfio_iommu_type1_info), 0, count_cap, &n), 0);
	assert_int_equal(n, 0);
	/* Unknown capability ids are skipped, not fatal. */
	iommu_reply(&b);
	cap_at(&b, 72)->id = 99;
	{
		struct vfio_iommu_limits l;
		assert_int_equal(vfio_iommu_limits_parse(b.b, b.len, &l), 0);
		assert_false(l.has_dma_avail);
		assert_true(l.has_migration);
		vfio_iommu_limits_done(&l);
	}
}

static void region_reply(struct buf *b, uint32_t nr_areas, uint64_t area1_off)
{
	struct vfio_region_info ri = {
		.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP |
			 VFIO_REGION_INFO_FLAG_CAPS,
		.index = 0, .cap_offset = 32, .size = 0x20000, .offset = 0,
	};
	struct vfio_region_info_cap_sparse_mmap sp = {
		.header = { .id = VFIO_REGION_INFO_CAP_SPARSE_MMAP, .version = 1, .next = 80 },
		.nr_areas = nr_areas,
	};
	struct vfio_region_sparse_mmap_area a[2] = { { 0, 0x3000 }, { area1_off, 0x1c000 } };
	struct vfio_info_cap_header mx = { .id = VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, .version = 1, .next = 88 };
	struct vfio_region_info_cap_type ty = {
		.header = { .id = VFIO_REGION_INFO_CAP_TYPE, .version = 1, .next = 0 }, .type = 3, .subtype = 1,
	};

	memset(b, 0, sizeof(*b));
	put(b, 0, &ri, sizeof(ri));
	put(b, 32, &sp, sizeof(sp));
	put(b, 32 + sizeof(sp), a, sizeof(a));
	put(b, 80, &mx, sizeof(mx));
	put(b, 88, &ty, sizeof(ty));
	((struct vfio_region_info *)b->b)->argsz = (uint32_t)b->len;
}

static void test_region(void **s)
{
	struct buf b;
	struct vfio_region_desc rd;
	char name[16];
	(void)s;

	region_reply(&b, 2, 0x4000);
	assert_int_equal(vfio_region_desc_parse(b.b, b.len, &rd), 0);
	assert_int_equal(rd.size, 0x20000);
	assert_true(rd.has_sparse);
	assert_int_equal(rd.n_sparse, 2);
	assert_int_equal(rd.sparse[1].offset, 0x4000);
	assert_int_equal(rd.sparse[1].size, 0x1c000);
	assert_true(rd.msix_mappable);
	assert_true(rd.has_type);
	assert_int_equal(rd.type, 3);
	assert_int_equal(rd.subtype, 1);
	vfio_region_desc_done(&rd);

	/* An area reaching past the region would let mmap escape it. */
	region_reply(&b, 2, 0x5000);
	assert_int_equal(vfio_region_desc_parse(b.b, b.len, &rd), -EBADMSG);
	/* More areas than the cap holds. */
	region_reply(&b, 5, 0x4000);
	assert_int_equal(vfio_region_desc_parse(b.b, b.len, &rd), -EBADMSG);
	/* Truncated fixed part. */
	assert_int_equal(vfio_region_desc_parse(b.b, 16, &rd), -EBADMSG);
	/* size + offset wraps */
	region_reply(&b, 2, 0x4000);
	((struct vfio_region_info *)b.b)->offset = UINT64_MAX - 0x100;
	assert_int_equal(vfio_region_desc_parse(b.b, b.len, &rd), -EBADMSG);

	assert_string_equal(vfio_region_name(0, name, sizeof(name)), "BAR0");
	assert_string_equal(vfio_region_name(VFIO_PCI_ROM_REGION_INDEX, name, sizeof(name)), "ROM");
	assert_string_equal(vfio_region_name(VFIO_PCI_CONFIG_REGION_INDEX, name, sizeof(name)), "config");
	assert_string_equal(vfio_region_name(12, name, sizeof(name)), "region 12");
	assert_string_equal(vfio_irq_name(VFIO_PCI_MSIX_IRQ_INDEX), "MSI-X");
	assert_null(vfio_irq_name(7));
}

static void test_hot_reset(void **s)
{
	struct buf b;
	struct vfio_pci_hot_reset_info hi = { .argsz = 0, .flags = 0, .count = 2 };
	struct vfio_pci_dependent_device dd[2] = {
		{ .group_id = 7, .segment = 0, .bus = 3, .devfn = (1 << 3) | 2 },
		{ .group_id = 8, .segment = 1, .bus = 0x3a, .devfn = 0 },
	};
	struct vfio_hot_reset_dep *deps = NULL;
	size_t n = 0;
	(void)s;

	memset(&b, 0, sizeof(b));
	put(&b, 0, &hi, sizeof(hi));
	put(&b, sizeof(hi), dd, sizeof(dd));
	assert_int_equal(vfio_hot_reset_info_parse(b.b, b.len, &deps, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(deps[0].group_id, 7);
	assert_int_equal(deps[0].addr.bus, 3);
	assert_int_equal(deps[0].addr.dev, 1);
	assert_int_equal(deps[0].addr.fn, 2);
	assert_int_equal(deps[1].addr.domain, 1);
	free(deps);
	/* A count the buffer cannot hold. */
	((struct vfio_pci_hot_reset_info *)b.b)->count = 3;
	assert_int_equal(vfio_hot_reset_info_parse(b.b, b.len, &deps, &n), -EBADMSG);
}

/* The parsers take a byte buffer with no alignment promise: one at an odd address parses the same (they
 * copy the fixed headers; fuzz-vfio-caps found them casting, a misaligned read under UBSan). */
static void test_misaligned(void **s)
{
	struct buf b;
	static uint8_t raw[sizeof(b.b) + 1];
	struct vfio_iommu_limits l1 = { 0 }, l2 = { 0 };
	struct vfio_region_desc r1 = { 0 }, r2 = { 0 };
	struct vfio_hot_reset_dep *deps = NULL;
	struct vfio_pci_hot_reset_info hi = { .count = 1 };
	struct vfio_pci_dependent_device dd = { .group_id = 9, .segment = 2, .bus = 5, .devfn = 0x11 };
	size_t n = 0;
	(void)s;

	iommu_reply(&b);
	memcpy(raw + 1, b.b, b.len);
	assert_int_equal(vfio_iommu_limits_parse(b.b, b.len, &l1), 0);
	assert_int_equal(vfio_iommu_limits_parse(raw + 1, b.len, &l2), 0);
	assert_int_equal(l2.pgsize_bitmap, l1.pgsize_bitmap);
	assert_int_equal(l2.n_iova_spans, l1.n_iova_spans);
	assert_int_equal(l2.dma_avail, 65535);
	vfio_iommu_limits_done(&l1);
	vfio_iommu_limits_done(&l2);

	region_reply(&b, 2, 0x4000);
	memcpy(raw + 1, b.b, b.len);
	assert_int_equal(vfio_region_desc_parse(b.b, b.len, &r1), 0);
	assert_int_equal(vfio_region_desc_parse(raw + 1, b.len, &r2), 0);
	assert_int_equal(r2.size, r1.size);
	assert_int_equal(r2.n_sparse, r1.n_sparse);
	vfio_region_desc_done(&r1);
	vfio_region_desc_done(&r2);

	memcpy(raw + 1, &hi, sizeof(hi));
	memcpy(raw + 1 + sizeof(hi), &dd, sizeof(dd));
	assert_int_equal(vfio_hot_reset_info_parse(raw + 1, sizeof(hi) + sizeof(dd), &deps, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(deps[0].group_id, 9);
	assert_int_equal(deps[0].addr.domain, 2);
	assert_int_equal(deps[0].addr.dev, 2);
	assert_int_equal(deps[0].addr.fn, 1);
	free(deps);
}

static void test_dma_args(void **s)
{
	struct vfio_iommu_type1_dma_map m;
	struct vfio_iommu_type1_dma_unmap u;
	(void)s;

	assert_int_equal(vfio_dma_map_arg(0x100000, (void *)0x7f0000000000, 0x200000, 4096, &m), 0);
	assert_int_equal(m.argsz, sizeof(m));
	assert_int_equal(m.flags, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
	assert_int_equal(m.iova, 0x100000);
	assert_int_equal(m.vaddr, 0x7f0000000000);
	assert_int_equal(m.size, 0x200000);
	assert_int_equal(vfio_dma_map_arg(0x100000, (void *)0x7f0000000000, 0, 4096, &m), -EINVAL);
	assert_int_equal(vfio_dma_map_arg(0x100800, (void *)0x7f0000000000, 0x1000, 4096, &m), -EINVAL);
	assert_int_equal(vfio_dma_map_arg(0x100000, (void *)0x7f0000000010, 0x1000, 4096, &m), -EINVAL);
	assert_int_equal(vfio_dma_map_arg(0x100000, (void *)0x7f0000000000, 0x1000, 0x200000, &m), -EINVAL);
	assert_int_equal(vfio_dma_map_arg(UINT64_MAX - 0xfff, (void *)0x1000, 0x2000, 4096, &m), -EINVAL);
	assert_int_equal(vfio_dma_map_arg(0, (void *)0x1000, 0x1000, 3000, &m), -EINVAL); /* not a power of 2 */
	assert_int_equal(vfio_dma_map_arg(0, (void *)0x1000, 0x1000, 0, &m), 0);           /* 0: 4K */
	assert_int_equal(vfio_dma_unmap_arg(0x200000, 0x200000, 0x200000, &u), 0);
	assert_int_equal(u.argsz, sizeof(u));
	assert_int_equal(u.flags, 0);
	assert_int_equal(u.iova, 0x200000);
	assert_int_equal(vfio_dma_unmap_arg(0x200000, 0x1000, 0x200000, &u), -EINVAL);
}

static char tmpdir[] = "/tmp/ptctl-vfio-XXXXXX";

static void mk(const char *rel)
{
	char p[PATH_MAX], cmd[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s%s", tmpdir, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", p);
	assert_int_equal(system(cmd), 0);
}

static void test_open_errors(void **s)
{
	struct vfio_container *c = NULL;
	struct vfio_group *g = NULL;
	struct pci_addr a;
	char p[PATH_MAX], *drv = (char *)"x";
	unsigned id;
	FILE *f;
	(void)s;

	assert_non_null(mkdtemp(tmpdir));
	root_set(tmpdir);
	mk("/dev/vfio");
	mk("/sys/kernel/iommu_groups/12");
	mk("/sys/bus/pci/drivers/vfio-pci");
	mk("/sys/bus/pci/devices/0000:01:00.0");
	mk("/sys/bus/pci/devices/0000:02:00.0");
	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/0000:01:00.0/iommu_group", tmpdir);
	assert_int_equal(symlink("../../../../kernel/iommu_groups/12", p), 0);
	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/0000:01:00.0/driver", tmpdir);
	assert_int_equal(symlink("../../../../bus/pci/drivers/vfio-pci", p), 0);

	/* No vfio module: the node is missing. */
	assert_int_equal(vfio_container_new(&c), -ENOENT);
	/* A node that is not the VFIO character device answers no ioctl. */
	snprintf(p, sizeof(p), "%s/dev/vfio/vfio", tmpdir);
	f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(vfio_container_new(&c), -EPROTONOSUPPORT);
	assert_null(c);
	assert_int_equal(vfio_group_new(12, &g), -ENOENT);
	assert_null(g);
	assert_null(vfio_container_unref(NULL));
	assert_null(vfio_group_unref(NULL));
	assert_null(vfio_device_unref(NULL));
	assert_null(vfio_bar_map_free(NULL));

	assert_int_equal(pci_addr_parse("0000:01:00.0", &a), 0);
	assert_int_equal(vfio_group_id_of_device(&a, &id), 0);
	assert_int_equal(id, 12);
	assert_int_equal(vfio_device_bound_driver(&a, &drv), 0);
	assert_string_equal(drv, "vfio-pci");
	free(drv);
	assert_int_equal(pci_addr_parse("0000:02:00.0", &a), 0);
	assert_int_equal(vfio_group_id_of_device(&a, &id), -ENOENT);
	assert_int_equal(vfio_device_bound_driver(&a, &drv), 0);
	assert_null(drv);
	assert_int_equal(pci_addr_parse("0000:09:00.0", &a), 0);
	assert_int_equal(vfio_device_bound_driver(&a, &drv), -ENOENT);

	snprintf(p, sizeof(p), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(p), 0);
	root_set(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iommu_limits), cmocka_unit_test(test_hostile_chains),
		cmocka_unit_test(test_walk),         cmocka_unit_test(test_region),
		cmocka_unit_test(test_packed_chain),
		cmocka_unit_test(test_hot_reset),    cmocka_unit_test(test_misaligned),    cmocka_unit_test(test_dma_args),
		cmocka_unit_test(test_open_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
