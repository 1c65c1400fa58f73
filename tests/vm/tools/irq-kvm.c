/* irq-kvm.c: rig program: QEMU's edu device (on vfio-pci) raises MSI -> eventfd -> KVM irqfd -> MSI
 * route -> the vCPU's local APIC, checked in the IRR; then the route is removed, moved and unplugged. */
#include <time.h>

#include "irq/irq.h"
#include "tests/irq/kvm-lapic.h"
#include "util/log.h"
#include "vfio/vfio.h"

#include "rig-check.h"

/* QEMU's edu device (docs/specs/edu.rst): BAR0 registers, 32-bit accesses. */
#define EDU_IDENT 0x00
#define EDU_LIVENESS 0x04
#define EDU_IRQ_STATUS 0x24
#define EDU_IRQ_RAISE 0x60
#define EDU_IRQ_ACK 0x64

#define PCI_COMMAND_REG 0x04
#define PCI_COMMAND_MEMORY_BIT 0x2
#define PCI_COMMAND_MASTER_BIT 0x4 /* MSI is a memory write: no bus mastering, no MSI */

static volatile uint32_t *regs;

static uint32_t edu_read(unsigned off)
{
	return regs[off / 4];
}

static void edu_write(unsigned off, uint32_t v)
{
	regs[off / 4] = v;
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Raises edu's interrupt (one MSI per raise while MSI is on) and acknowledges it at once, so the
 * next raise sends another message. */
static void edu_pulse(void)
{
	edu_write(EDU_IRQ_RAISE, 1);
	edu_write(EDU_IRQ_ACK, 1);
}

/* The device's IRQ of that kind as the host sees it (count from /proc/interrupts); -1 if absent. */
static int64_t host_count(const struct pci_addr *addr, enum irq_host_kind kind, bool show)
{
	struct irq_host *v;
	size_t n;
	int64_t count = -1;

	if (irq_host_list(addr, &v, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (show)
			printf("host irq %u %s count %llu affinity %s effective %s chip %s actions %s\n", v[i].irq,
			       irq_host_kind_name(v[i].kind), (unsigned long long)v[i].count,
			       v[i].affinity ?: "-", v[i].effective ?: "-", v[i].chip ?: "-", v[i].actions ?: "-");
		if (v[i].kind == kind && v[i].in_proc)
			count = (int64_t)v[i].count;
	}
	irq_host_list_free(v, n);
	return count;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

#define SAMPLES 50

/* Raise -> arrival, SAMPLES times, busy-polling: through KVM (the vector in the IRR) when vm is
 * given, else through userspace (the eventfd readable). Prints min/median/max in microseconds. */
static void measure(const char *what, struct test_vm *vm, unsigned vector, struct irq_vectors *vec)
{
	double us[SAMPLES];
	size_t n = 0;

	for (int i = 0; i < SAMPLES; i++) {
		double t0, t;
		uint64_t cnt;
		bool got = false;

		if (vm && lapic_reset_pending(vm) < 0)
			break;
		t0 = now_ms();
		edu_pulse();
		do {
			if (vm) {
				struct kvm_lapic_state st;
				got = lapic_get(vm, &st) == 0 && lapic_bit(&st, LAPIC_IRR, vector);
			} else
				got = irq_vectors_take(vec, 0, &cnt) == 0 && cnt > 0;
			t = now_ms();
		} while (!got && t - t0 < 1000);
		if (got)
			us[n++] = (t - t0) * 1000;
	}
	CHECK(n == SAMPLES, "%s: %zu of %d raises arrived", what, n, SAMPLES);
	if (n == 0)
		return;
	qsort(us, n, sizeof(us[0]), cmp_double);
	printf("figure: %s: raise -> arrival min %.0f us, median %.0f us, max %.0f us (%zu samples)\n", what, us[0],
	       us[n / 2], us[n - 1], n);
}

/* Raise and acknowledge edu's INTx with time for the host to take it; the host count after. */
static int64_t intx_pulse(const struct pci_addr *addr)
{
	edu_write(EDU_IRQ_RAISE, 1);
	usleep(200 * 1000);
	edu_write(EDU_IRQ_ACK, 1);
	usleep(50 * 1000);
	return host_count(addr, IRQ_HOST_INTX, false);
}

/* INTx, level-triggered: VFIO masks the line when it fires and signals the trigger eventfd; a
 * resampling irqfd holds the IOAPIC pin asserted until the guest's EOI, then signals the resample
 * eventfd, which VFIO takes as "unmask". No guest code runs here, so the test plays KVM's part at
 * EOI by signalling the resample eventfd itself. Returns the number of failures. */
static int intx(struct vfio_device *d, struct test_vm *vm, const struct pci_addr *addr)
{
	const int before_failures = failures;
	const struct vfio_irq_desc *desc = vfio_device_irq(d, VFIO_PCI_INTX_IRQ_INDEX);
	_cleanup_irq_vectors_ struct irq_vectors *trig = NULL;
	_cleanup_close_ int resample = irq_eventfd_new();
	struct vfio_irq_info info;
	struct kvm_lapic_state s;
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
	const unsigned pin = 10, vector = 0x41;
	int32_t rfd = resample;
	int64_t c0, c1, c2, c3, c4, c5, c6;
	uint64_t one = 1;

	CHECK(desc && desc->count == 1 && (desc->flags & VFIO_IRQ_INFO_MASKABLE), "INTx index: 1 maskable line");
	if (!desc || desc->count != 1 || resample < 0)
		return 1;
	info = (struct vfio_irq_info){ .argsz = sizeof(info), .index = desc->index, .flags = desc->flags,
				       .count = desc->count };
	MUST(irq_vectors_new(1, &trig));
	MUST(lapic_reset_pending(vm));
	/* The guest's IOAPIC pin: level, unmasked, to APIC 0. Its GSI keeps the irqchip route. */
	if (ioctl(vm->vm, KVM_GET_IRQCHIP, &chip) < 0)
		return 1;
	chip.chip.ioapic.redirtbl[pin].bits = 0;
	chip.chip.ioapic.redirtbl[pin].fields.vector = vector;
	chip.chip.ioapic.redirtbl[pin].fields.trig_mode = 1;
	if (ioctl(vm->vm, KVM_SET_IRQCHIP, &chip) < 0)
		return 1;
	MUST(irq_irqfd_assign(vm->vm, pin, irq_vectors_fd(trig, 0), resample));
	MUST(irq_vfio_set(vfio_device_fd(d), &info,
			  &(struct irq_vfio_req){ .op = IRQ_VFIO_TRIGGER, .index = VFIO_PCI_INTX_IRQ_INDEX,
						  .count = 1, .fds = irq_vectors_fds(trig) }));
	MUST(irq_vfio_set(vfio_device_fd(d), &info,
			  &(struct irq_vfio_req){ .op = IRQ_VFIO_UNMASK_FD, .index = VFIO_PCI_INTX_IRQ_INDEX,
						  .count = 1, .fds = &rfd }));
	c0 = host_count(addr, IRQ_HOST_INTX, true);
	CHECK(c0 >= 0, "host lists the vfio INTx IRQ");

	/* One raise: one host interrupt, which VFIO answers by masking the line (DisINTx). */
	edu_write(EDU_IRQ_RAISE, 1);
	CHECK(lapic_wait_irr(vm, vector, 3000) == 1, "edu INTx -> irqfd (resample) -> IOAPIC pin %u -> vector 0x%x", pin,
	      vector);
	MUST(lapic_get(vm, &s));
	CHECK(lapic_bit(&s, LAPIC_TMR, vector), "delivered level-triggered (TMR bit set)");
	edu_write(EDU_IRQ_ACK, 1);
	usleep(200 * 1000);
	c1 = host_count(addr, IRQ_HOST_INTX, false);
	CHECK(c1 == c0 + 1, "one host interrupt (count %lld -> %lld)", (long long)c0, (long long)c1);

	/* Still masked: the next raise does not reach the host. */
	edu_write(EDU_IRQ_RAISE, 1);
	usleep(200 * 1000);
	edu_write(EDU_IRQ_ACK, 1);
	c2 = host_count(addr, IRQ_HOST_INTX, false);
	CHECK(c2 == c1, "line masked until unmasked: no host interrupt (count %lld)", (long long)c2);

	/* "EOI": the resample eventfd unmasks, and the next raise interrupts again. */
	if (write(resample, &one, sizeof(one)) != sizeof(one))
		failures++;
	usleep(200 * 1000);
	edu_write(EDU_IRQ_RAISE, 1);
	usleep(200 * 1000);
	edu_write(EDU_IRQ_ACK, 1);
	c3 = host_count(addr, IRQ_HOST_INTX, true);
	CHECK(c3 == c2 + 1, "resample eventfd unmasked the line (count %lld -> %lld)", (long long)c2, (long long)c3);

	/* The ioctl forms: UNMASK (DATA_NONE), MASK (DATA_NONE), UNMASK (DATA_BOOL). */
	MUST(irq_vfio_set(vfio_device_fd(d), &info,
			  &(struct irq_vfio_req){ .op = IRQ_VFIO_UNMASK, .index = VFIO_PCI_INTX_IRQ_INDEX, .count = 1 }));
	c4 = intx_pulse(addr);
	CHECK(c4 == c3 + 1, "UNMASK ioctl: the next raise interrupts (count %lld -> %lld)", (long long)c3, (long long)c4);
	MUST(irq_vfio_set(vfio_device_fd(d), &info,
			  &(struct irq_vfio_req){ .op = IRQ_VFIO_UNMASK, .index = VFIO_PCI_INTX_IRQ_INDEX, .count = 1 }));
	MUST(irq_vfio_set(vfio_device_fd(d), &info,
			  &(struct irq_vfio_req){ .op = IRQ_VFIO_MASK, .index = VFIO_PCI_INTX_IRQ_INDEX, .count = 1 }));
	c5 = intx_pulse(addr);
	CHECK(c5 == c4, "MASK ioctl: the next raise does not (count %lld)", (long long)c5);
	MUST(irq_vfio_set(vfio_device_fd(d), &info,
			  &(struct irq_vfio_req){ .op = IRQ_VFIO_UNMASK, .index = VFIO_PCI_INTX_IRQ_INDEX, .count = 1,
						  .bools = (uint8_t[]){ 1 } }));
	c6 = intx_pulse(addr);
	CHECK(c6 == c5 + 1, "UNMASK ioctl with DATA_BOOL: interrupts again (count %lld -> %lld)", (long long)c5,
	      (long long)c6);

	MUST(irq_irqfd_deassign(vm->vm, pin, irq_vectors_fd(trig, 0)));
	MUST(irq_vfio_set(vfio_device_fd(d), &info,
			  &(struct irq_vfio_req){ .op = IRQ_VFIO_DISABLE, .index = VFIO_PCI_INTX_IRQ_INDEX }));
	return failures - before_failures;
}

int main(int argc, char **argv)
{
	_cleanup_vfio_container_ struct vfio_container *c = NULL;
	_cleanup_vfio_device_ struct vfio_device *d = NULL;
	_cleanup_(vfio_bar_map_freep) struct vfio_bar_map *bar = NULL;
	_cleanup_irq_vectors_ struct irq_vectors *vec = NULL;
	_cleanup_irq_routes_ struct irq_routes *routes = NULL;
	struct test_vm vm;
	struct pci_addr addr;
	const struct vfio_irq_desc *desc;
	struct vfio_irq_info info;
	struct irq_kvm_caps caps;
	struct irq_msi m31, m32;
	uint64_t n;
	uint32_t gsi;
	uint16_t cmd;
	int64_t before, after;
	double t0, t1;
	int r;

	if (argc != 2 || pci_addr_parse(argv[1], &addr) < 0) {
		fprintf(stderr, "usage: irq-kvm ADDRESS (QEMU edu on vfio-pci)\n");
		return 2;
	}
	if (getenv("PTCTL_DEBUG"))
		log_set_level(2);

	/* The device, its BAR0 and bus mastering. */
	MUST(vfio_container_new(&c));
	MUST(vfio_device_open(c, &addr, &d));
	MUST(vfio_device_bar_map(d, VFIO_PCI_BAR0_REGION_INDEX, &bar));
	regs = vfio_bar_map_ptr(bar, 0, 0x100);
	CHECK(regs != NULL, "BAR0 mapped");
	if (!regs)
		return 1;
	CHECK((edu_read(EDU_IDENT) & 0xff) == 0xed, "edu ident 0x%08x", edu_read(EDU_IDENT));
	edu_write(EDU_LIVENESS, 0x12345678);
	CHECK(edu_read(EDU_LIVENESS) == ~0x12345678u, "edu liveness register inverts");
	MUST(vfio_device_config_read(d, PCI_COMMAND_REG, &cmd, sizeof(cmd)));
	cmd |= PCI_COMMAND_MEMORY_BIT | PCI_COMMAND_MASTER_BIT;
	MUST(vfio_device_config_write(d, PCI_COMMAND_REG, &cmd, sizeof(cmd)));
	edu_write(EDU_IRQ_ACK, edu_read(EDU_IRQ_STATUS));

	/* MSI -> eventfd, checked before KVM joins in. */
	desc = vfio_device_irq(d, VFIO_PCI_MSI_IRQ_INDEX);
	CHECK(desc && desc->count >= 1, "MSI index has %u vector(s)", desc ? desc->count : 0);
	if (!desc || desc->count < 1)
		return 1;
	info = (struct vfio_irq_info){ .argsz = sizeof(info), .index = desc->index, .flags = desc->flags,
				       .count = desc->count };
	MUST(irq_vectors_new(1, &vec));
	MUST(irq_vfio_set(vfio_device_fd(d), &info,
			  &(struct irq_vfio_req){ .op = IRQ_VFIO_TRIGGER, .index = VFIO_PCI_MSI_IRQ_INDEX,
						  .count = 1, .fds = irq_vectors_fds(vec) }));
	before = host_count(&addr, IRQ_HOST_MSI, true);
	CHECK(before >= 0, "host lists the vfio MSI IRQ");
	edu_pulse();
	r = irq_vectors_wait(vec, 0, 2000, &n);
	CHECK(r == 1, "edu MSI arrived on the eventfd (count %llu)", (unsigned long long)n);
	/* VFIO's own loopback: the kernel signals the vector's eventfd without the device. */
	MUST(irq_vfio_set(vfio_device_fd(d), &info,
			  &(struct irq_vfio_req){ .op = IRQ_VFIO_FIRE, .index = VFIO_PCI_MSI_IRQ_INDEX, .count = 1 }));
	CHECK(irq_vectors_wait(vec, 0, 1000, &n) == 1, "VFIO DATA_NONE trigger signalled the eventfd");

	/* KVM: VM with irqchip, one vCPU, MSI route on a fresh GSI, irqfd on the vector's eventfd. */
	MUST(test_vm_open(&vm, true));
	MUST(irq_kvm_caps(vm.vm, &caps));
	printf("kvm: irqfd %d resample %d routes %u\n", caps.irqfd, caps.irqfd_resample, caps.routes_max);
	CHECK(caps.irqfd && caps.routes_max > IRQ_GSI_FIRST, "KVM has irqfd and GSI routing");
	MUST(irq_routes_new(vm.vm, 0, IRQ_ROUTES_IRQCHIP, &routes));
	MUST(irq_msi_x86(0, 0x31, &m31));
	MUST(irq_msi_x86(0, 0x32, &m32));
	MUST(irq_routes_alloc_gsi(routes, &gsi));
	MUST(irq_routes_add_msi(routes, gsi, &m31));
	MUST(irq_routes_commit(routes));
	MUST(irq_irqfd_assign(vm.vm, gsi, irq_vectors_fd(vec, 0), -1));

	t0 = now_ms();
	edu_pulse();
	r = lapic_wait_irr(&vm, 0x31, 3000);
	t1 = now_ms();
	CHECK(r == 1, "edu MSI -> irqfd -> GSI %u -> vector 0x31 pending in the LAPIC IRR (%.1f ms)", gsi, t1 - t0);
	MUST(irq_vectors_take(vec, 0, &n));
	CHECK(n == 0, "KVM consumed the eventfd (nothing left for userspace: %llu)", (unsigned long long)n);
	CHECK(lapic_wait_irr(&vm, 0x32, 0) == 0, "vector 0x32 not pending");
	measure("MSI via KVM irqfd", &vm, 0x31, NULL);

	/* Route removed: the device still interrupts the host, the guest sees nothing. */
	MUST(lapic_reset_pending(&vm));
	MUST(irq_routes_remove(routes, gsi));
	MUST(irq_routes_commit(routes));
	before = host_count(&addr, IRQ_HOST_MSI, false);
	edu_pulse();
	CHECK(lapic_wait_irr(&vm, 0x31, 500) == 0, "route removed: vector 0x31 no longer arrives");
	after = host_count(&addr, IRQ_HOST_MSI, true);
	CHECK(after > before, "the device did raise it (host count %lld -> %lld)", (long long)before,
	      (long long)after);

	/* Route back, to another vector. */
	MUST(irq_routes_add_msi(routes, gsi, &m32));
	MUST(irq_routes_commit(routes));
	edu_pulse();
	CHECK(lapic_wait_irr(&vm, 0x32, 3000) == 1, "route re-added: vector 0x32 arrives");
	CHECK(lapic_wait_irr(&vm, 0x31, 0) == 0, "vector 0x31 still not pending");

	/* irqfd deassigned: the eventfd is userspace's again. */
	MUST(lapic_reset_pending(&vm));
	MUST(irq_irqfd_deassign(vm.vm, gsi, irq_vectors_fd(vec, 0)));
	edu_pulse();
	CHECK(irq_vectors_wait(vec, 0, 2000, &n) == 1, "irqfd deassigned: the MSI is back on the eventfd");
	CHECK(lapic_wait_irr(&vm, 0x32, 0) == 0, "and not in the LAPIC");
	measure("MSI via eventfd to userspace", NULL, 0, vec);

	/* MSI disabled: the host IRQ goes away (and edu falls back to INTx). */
	MUST(irq_vfio_set(vfio_device_fd(d), &info,
			  &(struct irq_vfio_req){ .op = IRQ_VFIO_DISABLE, .index = VFIO_PCI_MSI_IRQ_INDEX }));
	CHECK(host_count(&addr, IRQ_HOST_MSI, false) < 0, "MSI disabled: the host IRQ is freed");

	intx(d, &vm, &addr);
	test_vm_close(&vm);
	test_vm_close(&vm);
	printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
