/* test-build.c: the irq module's pure parts: VFIO_DEVICE_SET_IRQS arguments checked against IRQ
 * info, routing-table bookkeeping (GSIs, limits, rollback, the built table), irqfd arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>

#include "irq/irq.h"

/* IRQ info as vfio-pci reports it for an e1000e-like device. */
static const struct vfio_irq_info intx = {
	.argsz = sizeof(struct vfio_irq_info),
	.index = VFIO_PCI_INTX_IRQ_INDEX,
	.flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED,
	.count = 1,
};
static const struct vfio_irq_info msi = {
	.argsz = sizeof(struct vfio_irq_info),
	.index = VFIO_PCI_MSI_IRQ_INDEX,
	.flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE,
	.count = 1,
};
static const struct vfio_irq_info msix = {
	.argsz = sizeof(struct vfio_irq_info),
	.index = VFIO_PCI_MSIX_IRQ_INDEX,
	.flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE,
	.count = 5,
};

static struct vfio_irq_set *build(const struct irq_vfio_req *req, const struct vfio_irq_info *info)
{
	struct vfio_irq_set *set = NULL;
	assert_int_equal(irq_vfio_build(req, info, &set), 0);
	assert_non_null(set);
	return set;
}

static void test_vfio_trigger(void **s)
{
	int32_t fds[5] = { 10, 11, -1, 13, 14 };
	struct vfio_irq_set *set;
	int32_t got[5];
	(void)s;

	set = build(&(struct irq_vfio_req){ .op = IRQ_VFIO_TRIGGER, .index = VFIO_PCI_MSIX_IRQ_INDEX,
					    .count = 5, .fds = fds },
		    &msix);
	assert_int_equal(set->argsz, sizeof(*set) + 5 * sizeof(int32_t));
	assert_int_equal(set->flags, VFIO_IRQ_SET_ACTION_TRIGGER | VFIO_IRQ_SET_DATA_EVENTFD);
	assert_int_equal(set->index, VFIO_PCI_MSIX_IRQ_INDEX);
	assert_int_equal(set->start, 0);
	assert_int_equal(set->count, 5);
	memcpy(got, set->data, sizeof(got));
	assert_memory_equal(got, fds, sizeof(fds));
	free(set);

	/* One vector in the middle, de-assigned with -1. */
	set = build(&(struct irq_vfio_req){ .op = IRQ_VFIO_TRIGGER, .index = VFIO_PCI_MSIX_IRQ_INDEX,
					    .start = 3, .count = 1, .fds = (int32_t[]){ -1 } },
		    &msix);
	assert_int_equal(set->start, 3);
	assert_int_equal(set->count, 1);
	assert_int_equal(set->argsz, sizeof(*set) + sizeof(int32_t));
	memcpy(got, set->data, sizeof(int32_t));
	assert_int_equal(got[0], -1);
	free(set);
}

static void test_vfio_disable_fire(void **s)
{
	struct vfio_irq_set *set;
	(void)s;

	/* Disable ignores any range: count 0 with DATA_NONE is what the kernel reads as "off". */
	set = build(&(struct irq_vfio_req){ .op = IRQ_VFIO_DISABLE, .index = VFIO_PCI_MSI_IRQ_INDEX, .start = 7,
					    .count = 9 },
		    &msi);
	assert_int_equal(set->argsz, sizeof(*set));
	assert_int_equal(set->flags, VFIO_IRQ_SET_ACTION_TRIGGER | VFIO_IRQ_SET_DATA_NONE);
	assert_int_equal(set->start, 0);
	assert_int_equal(set->count, 0);
	free(set);

	set = build(&(struct irq_vfio_req){ .op = IRQ_VFIO_FIRE, .index = VFIO_PCI_MSIX_IRQ_INDEX, .start = 1,
					    .count = 2 },
		    &msix);
	assert_int_equal(set->flags, VFIO_IRQ_SET_ACTION_TRIGGER | VFIO_IRQ_SET_DATA_NONE);
	assert_int_equal(set->start, 1);
	assert_int_equal(set->count, 2);
	free(set);
}

static void test_vfio_mask(void **s)
{
	struct vfio_irq_set *set;
	(void)s;

	set = build(&(struct irq_vfio_req){ .op = IRQ_VFIO_MASK, .index = VFIO_PCI_INTX_IRQ_INDEX, .count = 1 },
		    &intx);
	assert_int_equal(set->flags, VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_DATA_NONE);
	assert_int_equal(set->argsz, sizeof(*set));
	free(set);

	set = build(&(struct irq_vfio_req){ .op = IRQ_VFIO_UNMASK, .index = VFIO_PCI_INTX_IRQ_INDEX, .count = 1,
					    .bools = (uint8_t[]){ 1 } },
		    &intx);
	assert_int_equal(set->flags, VFIO_IRQ_SET_ACTION_UNMASK | VFIO_IRQ_SET_DATA_BOOL);
	assert_int_equal(set->argsz, sizeof(*set) + 1);
	assert_int_equal(set->data[0], 1);
	free(set);

	set = build(&(struct irq_vfio_req){ .op = IRQ_VFIO_UNMASK_FD, .index = VFIO_PCI_INTX_IRQ_INDEX,
					    .count = 1, .fds = (int32_t[]){ 42 } },
		    &intx);
	assert_int_equal(set->flags, VFIO_IRQ_SET_ACTION_UNMASK | VFIO_IRQ_SET_DATA_EVENTFD);
	assert_int_equal(set->argsz, sizeof(*set) + sizeof(int32_t));
	free(set);
}

static void test_vfio_errors(void **s)
{
	struct vfio_irq_set *set = (void *)0x1;
	int32_t fds[6] = { 3, 4, 5, 6, 7, 8 };
	struct vfio_irq_info none = { .argsz = sizeof(none), .index = VFIO_PCI_MSIX_IRQ_INDEX,
				      .flags = VFIO_IRQ_INFO_EVENTFD, .count = 0 };
	struct vfio_irq_info noeventfd = { .argsz = sizeof(none), .index = VFIO_PCI_ERR_IRQ_INDEX, .count = 1 };
	(void)s;

#define BAD(err, info, ...)                                                                        \
	assert_int_equal(irq_vfio_build(&(struct irq_vfio_req){ __VA_ARGS__ }, info, &set), err)
	/* Range: past the end, overflowing, empty, and on a device without MSI-X. */
	BAD(-EINVAL, &msix, .op = IRQ_VFIO_TRIGGER, .index = VFIO_PCI_MSIX_IRQ_INDEX, .count = 6, .fds = fds);
	BAD(-EINVAL, &msix, .op = IRQ_VFIO_TRIGGER, .index = VFIO_PCI_MSIX_IRQ_INDEX, .start = 4, .count = 2,
	    .fds = fds);
	BAD(-EINVAL, &msix, .op = IRQ_VFIO_TRIGGER, .index = VFIO_PCI_MSIX_IRQ_INDEX, .start = 5, .count = 1,
	    .fds = fds);
	BAD(-EINVAL, &msix, .op = IRQ_VFIO_FIRE, .index = VFIO_PCI_MSIX_IRQ_INDEX, .start = 1,
	    .count = UINT32_MAX);
	BAD(-EINVAL, &msix, .op = IRQ_VFIO_TRIGGER, .index = VFIO_PCI_MSIX_IRQ_INDEX, .count = 0, .fds = fds);
	BAD(-EINVAL, &none, .op = IRQ_VFIO_TRIGGER, .index = VFIO_PCI_MSIX_IRQ_INDEX, .count = 1, .fds = fds);
	BAD(-EINVAL, &none, .op = IRQ_VFIO_DISABLE, .index = VFIO_PCI_MSIX_IRQ_INDEX);
	/* Info for another index than the request's. */
	BAD(-EINVAL, &msi, .op = IRQ_VFIO_TRIGGER, .index = VFIO_PCI_MSIX_IRQ_INDEX, .count = 1, .fds = fds);
	BAD(-EINVAL, NULL, .op = IRQ_VFIO_DISABLE, .index = VFIO_PCI_MSIX_IRQ_INDEX);
	/* Capabilities: MSI is not maskable through VFIO; an index without eventfd support. */
	BAD(-EOPNOTSUPP, &msi, .op = IRQ_VFIO_MASK, .index = VFIO_PCI_MSI_IRQ_INDEX, .count = 1);
	BAD(-EOPNOTSUPP, &msix, .op = IRQ_VFIO_UNMASK_FD, .index = VFIO_PCI_MSIX_IRQ_INDEX, .count = 1,
	    .fds = fds);
	BAD(-EOPNOTSUPP, &noeventfd, .op = IRQ_VFIO_TRIGGER, .index = VFIO_PCI_ERR_IRQ_INDEX, .count = 1,
	    .fds = fds);
	/* Data: missing, bad fds, a bool that is not 0/1, -1 where a real fd is needed. */
	BAD(-EINVAL, &msix, .op = IRQ_VFIO_TRIGGER, .index = VFIO_PCI_MSIX_IRQ_INDEX, .count = 1);
	BAD(-EBADF, &msix, .op = IRQ_VFIO_TRIGGER, .index = VFIO_PCI_MSIX_IRQ_INDEX, .count = 2,
	    .fds = (int32_t[]){ 3, -2 });
	BAD(-EBADF, &intx, .op = IRQ_VFIO_UNMASK_FD, .index = VFIO_PCI_INTX_IRQ_INDEX, .count = 1,
	    .fds = (int32_t[]){ -1 });
	BAD(-EINVAL, &intx, .op = IRQ_VFIO_MASK, .index = VFIO_PCI_INTX_IRQ_INDEX, .count = 1,
	    .bools = (uint8_t[]){ 2 });
	BAD(-EINVAL, &intx, .op = (enum irq_vfio_op)99, .index = VFIO_PCI_INTX_IRQ_INDEX, .count = 1);
#undef BAD
	assert_ptr_equal(set, (void *)0x1); /* never written on failure */
}

static void test_msi_x86(void **s)
{
	struct irq_msi m;
	(void)s;

	assert_int_equal(irq_msi_x86(0, 0x31, &m), 0);
	assert_int_equal(m.address_lo, 0xfee00000);
	assert_int_equal(m.address_hi, 0);
	assert_int_equal(m.data, 0x31);
	assert_int_equal(irq_msi_x86(3, 0xef, &m), 0);
	assert_int_equal(m.address_lo, 0xfee03000);
	assert_int_equal(m.data, 0xef);
	assert_int_equal(irq_msi_x86(256, 0x31, &m), -ERANGE);
	assert_int_equal(irq_msi_x86(0, 15, &m), -EINVAL);
	assert_int_equal(irq_msi_x86(0, 256, &m), -EINVAL);
}

static void test_routes_bookkeeping(void **s)
{
	_cleanup_irq_routes_ struct irq_routes *t = NULL;
	_cleanup_free_ struct kvm_irq_routing *r = NULL;
	struct irq_msi m1, m2, got;
	uint32_t a, b, c;
	(void)s;

	assert_int_equal(irq_routes_new(-1, 0, 0, &t), -EINVAL); /* offline needs a limit */
	assert_int_equal(irq_routes_new(-1, 39, IRQ_ROUTES_IRQCHIP, &t), -ERANGE);
	assert_int_equal(irq_routes_new(-1, 64, 0x80, &t), -EINVAL);
	assert_int_equal(irq_routes_new(-1, 64, IRQ_ROUTES_IRQCHIP, &t), 0);
	assert_int_equal(irq_routes_limit(t), 64);
	assert_int_equal(irq_routes_count(t), 40); /* 16 PIC + 24 IOAPIC entries */
	assert_false(irq_routes_dirty(t));

	assert_int_equal(irq_msi_x86(0, 0x31, &m1), 0);
	assert_int_equal(irq_msi_x86(1, 0x32, &m2), 0);
	assert_int_equal(irq_routes_alloc_gsi(t, &a), 0);
	assert_int_equal(irq_routes_alloc_gsi(t, &b), 0);
	assert_int_equal(irq_routes_alloc_gsi(t, &c), 0);
	assert_int_equal(a, 24);
	assert_int_equal(b, 25);
	assert_int_equal(c, 26);

	/* Only allocated GSIs take routes; never one of the irqchip's. */
	assert_int_equal(irq_routes_add_msi(t, 10, &m1), -ENOENT);
	assert_int_equal(irq_routes_add_msi(t, 40, &m1), -ENOENT);
	assert_int_equal(irq_routes_add_msi(t, c, &m2), 0);
	assert_int_equal(irq_routes_add_msi(t, a, &m1), 0);
	assert_int_equal(irq_routes_add_msi(t, a, &m2), -EEXIST);
	assert_int_equal(irq_routes_add_msi(t, b, &(struct irq_msi){ 0 }), -EINVAL);
	assert_int_equal(irq_routes_update_msi(t, b, &m1), -ENOENT);
	assert_int_equal(irq_routes_remove(t, b), -ENOENT);
	assert_int_equal(irq_routes_count(t), 42);
	assert_int_equal(irq_routes_get_msi(t, c, &got), 0);
	assert_memory_equal(&got, &m2, sizeof(got));

	/* The built table: irqchip routes first, then MSI routes ordered by GSI. */
	assert_int_equal(irq_routes_build(t, &r), 0);
	assert_int_equal(r->nr, 42);
	assert_int_equal(r->flags, 0);
	assert_int_equal(r->entries[0].gsi, 0);
	assert_int_equal(r->entries[0].type, KVM_IRQ_ROUTING_IRQCHIP);
	assert_int_equal(r->entries[0].u.irqchip.irqchip, KVM_IRQCHIP_PIC_MASTER);
	assert_int_equal(r->entries[1].u.irqchip.irqchip, KVM_IRQCHIP_IOAPIC);
	assert_int_equal(r->entries[2 * 9].gsi, 9);
	assert_int_equal(r->entries[2 * 9].u.irqchip.irqchip, KVM_IRQCHIP_PIC_SLAVE);
	assert_int_equal(r->entries[2 * 9].u.irqchip.pin, 1);
	assert_int_equal(r->entries[32].gsi, 16); /* GSI 16-23: IOAPIC only */
	assert_int_equal(r->entries[32].u.irqchip.irqchip, KVM_IRQCHIP_IOAPIC);
	assert_int_equal(r->entries[39].gsi, 23);
	assert_int_equal(r->entries[40].gsi, a);
	assert_int_equal(r->entries[40].type, KVM_IRQ_ROUTING_MSI);
	assert_int_equal(r->entries[40].flags, 0);
	assert_int_equal(r->entries[40].u.msi.address_lo, 0xfee00000);
	assert_int_equal(r->entries[40].u.msi.data, 0x31);
	assert_int_equal(r->entries[41].gsi, c);
	assert_int_equal(r->entries[41].u.msi.address_lo, 0xfee01000);

	/* Commit needs a VM; without one it fails and changes nothing. */
	assert_true(irq_routes_dirty(t));
	assert_int_equal(irq_routes_commit(t), -EBADF);
	assert_int_equal(irq_kvm_route_msi(t, 0, &m1, &b), -EBUSY); /* pending changes: not mixed in */
	assert_true(irq_routes_dirty(t));

	/* Releasing a GSI drops its route and makes it the next one handed out. */
	assert_int_equal(irq_routes_release_gsi(t, a), 0);
	assert_int_equal(irq_routes_release_gsi(t, a), -ENOENT);
	assert_int_equal(irq_routes_release_gsi(t, 5), -ENOENT);
	assert_int_equal(irq_routes_get_msi(t, a, &got), -ENOENT);
	assert_int_equal(irq_routes_count(t), 41);
	assert_int_equal(irq_routes_alloc_gsi(t, &a), 0);
	assert_int_equal(a, 24);

	/* Rollback before any commit: back to an empty MSI table, clean. */
	irq_routes_rollback(t);
	assert_int_equal(irq_routes_count(t), 40);
	assert_false(irq_routes_dirty(t));
}

static void test_routes_limit(void **s)
{
	_cleanup_irq_routes_ struct irq_routes *t = NULL;
	struct irq_msi m;
	uint32_t gsi, n = 0;
	(void)s;

	/* 44 GSIs: 24..43 can be handed out (20); the table holds 44 entries, 40 of them irqchip. */
	assert_int_equal(irq_routes_new(-1, 44, IRQ_ROUTES_IRQCHIP, &t), 0);
	assert_int_equal(irq_msi_x86(0, 0x40, &m), 0);
	while (irq_routes_alloc_gsi(t, &gsi) == 0)
		n++;
	assert_int_equal(n, 20);
	assert_int_equal(irq_routes_alloc_gsi(t, &gsi), -ENOSPC);
	for (gsi = 24; gsi < 28; gsi++)
		assert_int_equal(irq_routes_add_msi(t, gsi, &m), 0);
	assert_int_equal(irq_routes_add_msi(t, 28, &m), -ENOSPC);
	assert_int_equal(irq_routes_count(t), 44);

	/* Without irqchip routes every entry is an MSI route. */
	irq_routes_free(TAKE_PTR(t));
	assert_int_equal(irq_routes_new(-1, 30, 0, &t), 0);
	assert_int_equal(irq_routes_count(t), 0);
	for (n = 0; irq_routes_alloc_gsi(t, &gsi) == 0; n++)
		assert_int_equal(irq_routes_add_msi(t, gsi, &m), 0);
	assert_int_equal(n, 6);
}

static void test_irqfd_build(void **s)
{
	struct kvm_irqfd a = { .gsi = 77 };
	(void)s;

	assert_int_equal(irq_irqfd_build(24, 5, -1, false, &a), 0);
	assert_int_equal(a.fd, 5);
	assert_int_equal(a.gsi, 24);
	assert_int_equal(a.flags, 0);
	assert_int_equal(a.resamplefd, 0);
	assert_int_equal(irq_irqfd_build(10, 5, 6, false, &a), 0);
	assert_int_equal(a.flags, KVM_IRQFD_FLAG_RESAMPLE);
	assert_int_equal(a.resamplefd, 6);
	assert_int_equal(irq_irqfd_build(24, 5, -1, true, &a), 0);
	assert_int_equal(a.flags, KVM_IRQFD_FLAG_DEASSIGN);
	a.gsi = 77;
	assert_int_equal(irq_irqfd_build(24, -1, -1, false, &a), -EBADF);
	assert_int_equal(irq_irqfd_build(24, 5, 6, true, &a), -EBADF);
	assert_int_equal(irq_irqfd_build(24, 5, -7, false, &a), -EBADF);
	assert_int_equal(a.gsi, 77);
}

static void test_vectors(void **s)
{
	_cleanup_irq_vectors_ struct irq_vectors *v = NULL;
	uint64_t n = 99;
	(void)s;

	assert_int_equal(irq_vectors_new(0, &v), -EINVAL);
	assert_int_equal(irq_vectors_new(4, &v), 0);
	assert_int_equal(irq_vectors_count(v), 4);
	for (unsigned i = 0; i < 4; i++) {
		int fd = irq_vectors_fd(v, i);
		assert_true(fd >= 0);
		assert_int_equal(irq_vectors_fds(v)[i], fd);
		assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	}
	assert_int_equal(irq_vectors_fd(v, 4), -EINVAL);
	assert_int_equal(irq_vectors_take(v, 2, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(irq_vectors_signal(v, 2), 0);
	assert_int_equal(irq_vectors_signal(v, 2), 0);
	assert_int_equal(irq_vectors_wait(v, 1, 0, &n), 0);
	assert_int_equal(irq_vectors_wait(v, 2, 100, &n), 1);
	assert_int_equal(n, 2);
	assert_int_equal(irq_vectors_take(v, 2, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(irq_vectors_signal(v, 9), -EINVAL);
}

/* The ioctl wrappers pass the kernel's errors through: no device, and an fd that is not VFIO/KVM. */
static void test_ioctl_errors(void **s)
{
	_cleanup_free_ struct vfio_irq_set *set = NULL;
	_cleanup_close_ int efd = irq_eventfd_new();
	struct vfio_irq_info info = { .index = 77 };
	struct irq_kvm_caps caps = { .routes_max = 77 };
	_cleanup_irq_routes_ struct irq_routes *t = NULL;
	(void)s;

	assert_true(efd >= 0);
	assert_int_equal(irq_vfio_build(&(struct irq_vfio_req){ .op = IRQ_VFIO_DISABLE, .index = VFIO_PCI_MSI_IRQ_INDEX },
					&msi, &set),
			 0);
	assert_int_equal(irq_vfio_apply(-1, set), -EBADF);
	assert_int_equal(irq_vfio_apply(efd, set), -ENOTTY);
	assert_int_equal(irq_vfio_get_info(-1, 0, &info), -EBADF);
	assert_int_equal(irq_vfio_get_info(efd, 0, &info), -ENOTTY);
	assert_int_equal(info.index, 77); /* untouched on failure */
	assert_int_equal(irq_kvm_caps(efd, &caps), -ENOTTY);
	assert_int_equal(caps.routes_max, 77);
	assert_int_equal(irq_routes_new(efd, 0, 0, &t), -ENOTTY);
	assert_null(t);
	assert_int_equal(irq_irqfd_assign(efd, 24, efd, -1), -ENOTTY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vfio_trigger),     cmocka_unit_test(test_vfio_disable_fire),
		cmocka_unit_test(test_vfio_mask),        cmocka_unit_test(test_vfio_errors),
		cmocka_unit_test(test_msi_x86),          cmocka_unit_test(test_routes_bookkeeping),
		cmocka_unit_test(test_routes_limit),     cmocka_unit_test(test_irqfd_build),
		cmocka_unit_test(test_vectors),          cmocka_unit_test(test_ioctl_errors),
	};
	return cmocka_run_group_tests_name("irq-build", tests, NULL, NULL);
}
