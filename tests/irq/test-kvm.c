/* test-kvm.c: the routing table and irqfd against this machine's own /dev/kvm: an eventfd signal
 * must reach the vCPU's local APIC through the MSI route, and stop when the route goes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "irq/irq.h"
#include "tests/irq/kvm-lapic.h"
#include "tests/lib/testskip.h"

struct fixture {
	struct test_vm vm;
	struct irq_routes *routes;
	int efd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->efd = -1;
	f->vm = (struct test_vm){ .kvm = -1, .vm = -1, .vcpu = -1 };
	*state = f;
	if (!test_have_kvm())
		return 0;
	if (test_vm_open(&f->vm, true) < 0)
		return -1;
	if (irq_routes_new(f->vm.vm, 0, IRQ_ROUTES_IRQCHIP, &f->routes) < 0)
		return -1;
	f->efd = irq_eventfd_new();
	return f->efd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->efd >= 0)
		close(f->efd);
	irq_routes_free(f->routes);
	test_vm_close(&f->vm);
	free(f);
	return 0;
}

#define REQUIRE_KVM()                                                                              \
	do {                                                                                       \
		if (!((struct fixture *)*state)->routes)                                           \
			TEST_SKIP("kvm", "no usable /dev/kvm");                                    \
	} while (0)

static void signal_fd(int fd)
{
	uint64_t one = 1;
	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

static void test_caps(void **state)
{
	struct fixture *f = *state;
	struct irq_kvm_caps caps;

	REQUIRE_KVM();
	assert_int_equal(irq_kvm_caps(f->vm.vm, &caps), 0);
	assert_true(caps.irqfd);
	assert_true(caps.irqfd_resample);
	assert_true(caps.routes_max > IRQ_GSI_FIRST);
	assert_int_equal(irq_routes_limit(f->routes), caps.routes_max);
	print_message("KVM_CAP_IRQ_ROUTING: %u routes\n", caps.routes_max);
}

/* eventfd -> irqfd -> MSI route -> LAPIC IRR; update the route's vector; remove it. */
static void test_msi_route_lifecycle(void **state)
{
	struct fixture *f = *state;
	struct irq_msi m31, m33;
	uint32_t gsi;

	REQUIRE_KVM();
	assert_int_equal(irq_msi_x86(0, 0x31, &m31), 0);
	assert_int_equal(irq_msi_x86(0, 0x33, &m33), 0);
	assert_int_equal(irq_routes_alloc_gsi(f->routes, &gsi), 0);
	assert_int_equal(gsi, IRQ_GSI_FIRST);
	assert_int_equal(irq_routes_add_msi(f->routes, gsi, &m31), 0);
	assert_int_equal(irq_routes_commit(f->routes), 0);
	assert_false(irq_routes_dirty(f->routes));
	assert_int_equal(irq_irqfd_assign(f->vm.vm, gsi, f->efd, -1), 0);

	signal_fd(f->efd);
	assert_int_equal(lapic_wait_irr(&f->vm, 0x31, 1000), 1);
	assert_int_equal(lapic_wait_irr(&f->vm, 0x33, 0), 0);

	/* A live irqfd follows the table: the same eventfd now raises the new vector. */
	assert_int_equal(lapic_reset_pending(&f->vm), 0);
	assert_int_equal(irq_routes_update_msi(f->routes, gsi, &m33), 0);
	assert_int_equal(irq_routes_commit(f->routes), 0);
	signal_fd(f->efd);
	assert_int_equal(lapic_wait_irr(&f->vm, 0x33, 1000), 1);
	assert_int_equal(lapic_wait_irr(&f->vm, 0x31, 0), 0);

	/* Route gone: the irqfd still swallows the signal, but nothing reaches the APIC. */
	assert_int_equal(lapic_reset_pending(&f->vm), 0);
	assert_int_equal(irq_routes_remove(f->routes, gsi), 0);
	assert_int_equal(irq_routes_commit(f->routes), 0);
	signal_fd(f->efd);
	assert_int_equal(lapic_wait_irr(&f->vm, 0x33, 200), 0);
	assert_int_equal(lapic_wait_irr(&f->vm, 0x31, 0), 0);

	/* And back: re-adding the route makes the next signal arrive again. */
	assert_int_equal(irq_routes_add_msi(f->routes, gsi, &m31), 0);
	assert_int_equal(irq_routes_commit(f->routes), 0);
	signal_fd(f->efd);
	assert_int_equal(lapic_wait_irr(&f->vm, 0x31, 1000), 1);
	assert_int_equal(irq_irqfd_deassign(f->vm.vm, gsi, f->efd), 0);
}

/* One eventfd, one irqfd: KVM refuses a second assignment; after deassign the eventfd is the
 * caller's again (its counter is no longer consumed) and can be assigned anew. */
static void test_irqfd_busy_deassign(void **state)
{
	struct fixture *f = *state;
	struct irq_msi m;
	uint32_t gsi, gsi2;
	uint64_t n = 0;

	REQUIRE_KVM();
	assert_int_equal(irq_msi_x86(0, 0x41, &m), 0);
	assert_int_equal(irq_routes_alloc_gsi(f->routes, &gsi), 0);
	assert_int_equal(irq_routes_alloc_gsi(f->routes, &gsi2), 0);
	assert_int_equal(irq_routes_add_msi(f->routes, gsi, &m), 0);
	assert_int_equal(irq_routes_commit(f->routes), 0);

	assert_int_equal(irq_irqfd_assign(f->vm.vm, gsi, f->efd, -1), 0);
	assert_int_equal(irq_irqfd_assign(f->vm.vm, gsi, f->efd, -1), -EBUSY);
	assert_int_equal(irq_irqfd_assign(f->vm.vm, gsi2, f->efd, -1), -EBUSY);
	assert_int_equal(irq_irqfd_deassign(f->vm.vm, gsi, f->efd), 0);

	signal_fd(f->efd);
	assert_int_equal(lapic_wait_irr(&f->vm, 0x41, 200), 0);
	assert_int_equal(read(f->efd, &n, sizeof(n)), sizeof(n));
	assert_int_equal(n, 1);

	assert_int_equal(irq_irqfd_assign(f->vm.vm, gsi, f->efd, -1), 0);
	signal_fd(f->efd);
	assert_int_equal(lapic_wait_irr(&f->vm, 0x41, 1000), 1);
	assert_int_equal(irq_irqfd_deassign(f->vm.vm, gsi, f->efd), 0);
}

/* Programs IOAPIC pin `pin`: level-triggered, unmasked, fixed to APIC 0, `vector`. */
static void ioapic_route_pin(struct fixture *f, unsigned pin, unsigned vector)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };

	assert_int_equal(ioctl(f->vm.vm, KVM_GET_IRQCHIP, &chip), 0);
	chip.chip.ioapic.redirtbl[pin].bits = 0;
	chip.chip.ioapic.redirtbl[pin].fields.vector = (uint8_t)vector;
	chip.chip.ioapic.redirtbl[pin].fields.trig_mode = 1;
	chip.chip.ioapic.redirtbl[pin].fields.mask = 0;
	chip.chip.ioapic.redirtbl[pin].fields.dest_id = 0;
	assert_int_equal(ioctl(f->vm.vm, KVM_SET_IRQCHIP, &chip), 0);
}

/* INTx: a resampling irqfd on an irqchip GSI delivers level-triggered through the IOAPIC, which
 * only works because the committed table kept the irqchip's routes. */
static void test_resample_irqchip(void **state)
{
	struct fixture *f = *state;
	_cleanup_close_ int resample = irq_eventfd_new();
	struct kvm_lapic_state s;

	REQUIRE_KVM();
	assert_true(resample >= 0);
	assert_int_equal(irq_routes_commit(f->routes), 0); /* irqchip routes only */
	ioapic_route_pin(f, 10, 0x51);
	assert_int_equal(irq_irqfd_assign(f->vm.vm, 10, f->efd, resample), 0);
	signal_fd(f->efd);
	assert_int_equal(lapic_wait_irr(&f->vm, 0x51, 1000), 1);
	assert_int_equal(lapic_get(&f->vm, &s), 0);
	assert_true(lapic_bit(&s, LAPIC_TMR, 0x51)); /* level-triggered */
	assert_int_equal(irq_irqfd_deassign(f->vm.vm, 10, f->efd), 0);
}

/* A table committed without the irqchip's routes unwires GSI 10 from the IOAPIC. */
static void test_table_without_irqchip_routes(void **state)
{
	struct fixture *f = *state;
	_cleanup_irq_routes_ struct irq_routes *bare = NULL;

	REQUIRE_KVM();
	assert_int_equal(irq_routes_new(f->vm.vm, 0, 0, &bare), 0);
	assert_int_equal(irq_routes_commit(bare), 0);
	ioapic_route_pin(f, 10, 0x52);
	assert_int_equal(irq_irqfd_assign(f->vm.vm, 10, f->efd, -1), 0);
	signal_fd(f->efd);
	assert_int_equal(lapic_wait_irr(&f->vm, 0x52, 200), 0);
	/* Putting the irqchip routes back wires it again. */
	assert_int_equal(lapic_reset_pending(&f->vm), 0);
	assert_int_equal(irq_routes_commit(f->routes), 0);
	signal_fd(f->efd);
	assert_int_equal(lapic_wait_irr(&f->vm, 0x52, 1000), 1);
	assert_int_equal(irq_irqfd_deassign(f->vm.vm, 10, f->efd), 0);
}

/* The kernel's checks our bookkeeping does not make: no irqfd without an in-kernel irqchip. */
static void test_no_irqchip(void **state)
{
	struct fixture *f = *state;
	struct test_vm bare;

	REQUIRE_KVM();
	assert_int_equal(test_vm_open(&bare, false), 0);
	assert_int_equal(irq_irqfd_assign(bare.vm, IRQ_GSI_FIRST, f->efd, -1), -EINVAL);
	test_vm_close(&bare);
}

/* The one-step binding a VMM uses per vector, and its all-or-nothing failure. */
static void test_route_unroute(void **state)
{
	struct fixture *f = *state;
	_cleanup_close_ int other = irq_eventfd_new();
	struct irq_msi m;
	uint32_t gsi, gsi2, next;
	uint64_t n = 0;

	REQUIRE_KVM();
	assert_int_equal(irq_msi_x86(0, 0x61, &m), 0);
	assert_int_equal(irq_kvm_route_msi(f->routes, f->efd, &m, &gsi), 0);
	assert_false(irq_routes_dirty(f->routes));
	signal_fd(f->efd);
	assert_int_equal(lapic_wait_irr(&f->vm, 0x61, 1000), 1);

	/* The same eventfd again: KVM says EBUSY at the last step; the route and GSI are undone. */
	assert_int_equal(irq_kvm_route_msi(f->routes, f->efd, &m, &gsi2), -EBUSY);
	assert_int_equal(irq_routes_count(f->routes), 41);
	assert_false(irq_routes_dirty(f->routes));
	assert_int_equal(irq_routes_alloc_gsi(f->routes, &next), 0);
	assert_int_equal(next, gsi + 1);
	assert_int_equal(irq_routes_release_gsi(f->routes, next), 0);

	/* Unroute: the guest sees nothing more and the eventfd is ours again. */
	assert_int_equal(lapic_reset_pending(&f->vm), 0);
	assert_int_equal(irq_kvm_unroute_msi(f->routes, gsi, f->efd), 0);
	assert_int_equal(irq_routes_count(f->routes), 40);
	signal_fd(f->efd);
	assert_int_equal(lapic_wait_irr(&f->vm, 0x61, 200), 0);
	assert_int_equal(read(f->efd, &n, sizeof(n)), sizeof(n));
	assert_int_equal(n, 1);
	/* Unrouting what is not routed fails and changes nothing: `other` never becomes an irqfd. */
	assert_int_equal(irq_kvm_unroute_msi(f->routes, gsi, other), -ENOENT);
	assert_int_equal(irq_irqfd_assign(f->vm.vm, IRQ_GSI_FIRST + 5, other, -1), 0);
	assert_int_equal(irq_irqfd_deassign(f->vm.vm, IRQ_GSI_FIRST + 5, other), 0);
	assert_int_equal(irq_routes_alloc_gsi(f->routes, &next), 0);
	assert_int_equal(next, gsi);
}

/* Bounds: the table stops at the kernel's limit; a table asked for more is capped. */
static void test_limit(void **state)
{
	struct fixture *f = *state;
	_cleanup_irq_routes_ struct irq_routes *t = NULL;
	struct irq_msi m;
	uint32_t gsi;
	unsigned max;

	REQUIRE_KVM(); /* before anything touches f->routes: it is NULL without KVM */
	max = irq_routes_limit(f->routes);
	assert_int_equal(irq_routes_new(f->vm.vm, max + 100, IRQ_ROUTES_IRQCHIP, &t), 0);
	assert_int_equal(irq_routes_limit(t), max);
	assert_int_equal(irq_msi_x86(0, 0x60, &m), 0);
	while (irq_routes_alloc_gsi(t, &gsi) == 0)
		if (irq_routes_add_msi(t, gsi, &m) < 0)
			break;
	assert_int_equal(irq_routes_count(t), max);
	assert_int_equal(irq_routes_commit(t), 0); /* a full table is still one the kernel takes */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_route_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irqfd_busy_deassign, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resample_irqchip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_without_irqchip_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_irqchip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_route_unroute, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
	};
	return test_exit(cmocka_run_group_tests_name("irq-kvm", tests, NULL, NULL));
}
