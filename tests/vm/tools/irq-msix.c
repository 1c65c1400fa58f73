/* irq-msix.c: rig program: e1000e's MSI-X vectors through VFIO, one eventfd each (subsets, -1 to
 * de-assign one), raised by the device itself, and each bridged into KVM on its own GSI and vector. */
#include "irq/irq.h"
#include "tests/irq/kvm-lapic.h"
#include "util/log.h"
#include "vfio/vfio.h"

#include "rig-check.h"

#define GUEST_VECTOR(i) (0x40u + (i))

/* e1000e (82574) registers in BAR0: interrupt cause read (write 1s to clear), cause set, mask set,
 * and IVAR, which steers the five MSI-X causes (RxQ0, RxQ1, TxQ0, TxQ1, Other: 4 bits each, bit 3
 * valid, bits 2:0 the vector) to vectors. */
#define E1000E_ICR 0xc0
#define E1000E_ICS 0xc8
#define E1000E_IMS 0xd0
#define E1000E_IMC 0xd8
#define E1000E_IVAR 0xe4
#define E1000E_CAUSE(i) (1u << (20 + (i))) /* RxQ0 .. Other: ICR bits 20-24 */
#define E1000E_CAUSES 5u
#define PCI_COMMAND_REG 0x04
#define PCI_COMMAND_MEMORY_MASTER 0x6

static volatile uint32_t *regs;

static int device_fd;
static struct vfio_irq_info info;

/* Asks VFIO to signal vectors [start, start+count) itself (DATA_NONE trigger). */
static void fire(uint32_t start, uint32_t count)
{
	MUST(irq_vfio_set(device_fd, &info,
			  &(struct irq_vfio_req){ .op = IRQ_VFIO_FIRE, .index = VFIO_PCI_MSIX_IRQ_INDEX, .start = start,
						  .count = count }));
}

static void assign(uint32_t start, uint32_t count, const int32_t *fds)
{
	MUST(irq_vfio_set(device_fd, &info,
			  &(struct irq_vfio_req){ .op = IRQ_VFIO_TRIGGER, .index = VFIO_PCI_MSIX_IRQ_INDEX,
						  .start = start, .count = count, .fds = fds }));
}

/* Bit i set: vector i's eventfd had something. Drains them all. */
static unsigned fired(struct irq_vectors *v)
{
	unsigned mask = 0;

	usleep(100 * 1000);
	for (unsigned i = 0; i < irq_vectors_count(v); i++) {
		uint64_t n;
		if (irq_vectors_take(v, i, &n) == 0 && n > 0)
			mask |= 1u << i;
	}
	return mask;
}

/* Cause i -> vector i, all five unmasked: the device sends vector i's message for cause i. */
static void nic_setup(struct vfio_device *d)
{
	uint16_t cmd;
	uint32_t ivar = 0;

	MUST(vfio_device_config_read(d, PCI_COMMAND_REG, &cmd, sizeof(cmd)));
	cmd |= PCI_COMMAND_MEMORY_MASTER;
	MUST(vfio_device_config_write(d, PCI_COMMAND_REG, &cmd, sizeof(cmd)));
	for (unsigned i = 0; i < E1000E_CAUSES; i++)
		ivar |= (0x8u | i) << (4 * i);
	regs[E1000E_IVAR / 4] = ivar;
	regs[E1000E_IMS / 4] = E1000E_CAUSE(E1000E_CAUSES) - E1000E_CAUSE(0);
}

/* The device raises the causes of the vectors in mask (cleared first: only new causes interrupt). */
static void raise_vectors(unsigned mask)
{
	uint32_t ics = 0;

	for (unsigned i = 0; i < E1000E_CAUSES; i++)
		if (mask & (1u << i))
			ics |= E1000E_CAUSE(i);
	regs[E1000E_ICR / 4] = 0xffffffff;
	regs[E1000E_ICS / 4] = ics;
}

/* The device's vfio-msix handlers in /proc/interrupts. */
static unsigned host_vfio_vectors(const struct pci_addr *addr)
{
	struct irq_host *v;
	size_t n;
	unsigned k = 0;

	if (irq_host_list(addr, &v, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].kind == IRQ_HOST_MSIX && v[i].actions && startswith(v[i].actions, "vfio-msix["))
			k++;
	irq_host_list_free(v, n);
	return k;
}

/* Bit i set: guest vector GUEST_VECTOR(i) pending in the IRR. */
static unsigned pending(const struct test_vm *vm, unsigned nvec)
{
	struct kvm_lapic_state s;
	unsigned mask = 0;

	usleep(100 * 1000);
	if (lapic_get(vm, &s) < 0)
		return ~0u;
	for (unsigned i = 0; i < nvec; i++)
		if (lapic_bit(&s, LAPIC_IRR, GUEST_VECTOR(i)))
			mask |= 1u << i;
	return mask;
}

int main(int argc, char **argv)
{
	_cleanup_vfio_container_ struct vfio_container *c = NULL;
	_cleanup_vfio_device_ struct vfio_device *d = NULL;
	_cleanup_irq_vectors_ struct irq_vectors *vec = NULL;
	_cleanup_irq_routes_ struct irq_routes *routes = NULL;
	_cleanup_(vfio_bar_map_freep) struct vfio_bar_map *bar = NULL;
	const struct vfio_irq_desc *desc;
	struct pci_addr addr;
	struct test_vm vm;
	uint32_t gsi[8];
	unsigned nvec, all, got;

	if (argc != 2 || pci_addr_parse(argv[1], &addr) < 0) {
		fprintf(stderr, "usage: irq-msix ADDRESS (a device with MSI-X on vfio-pci)\n");
		return 2;
	}
	if (getenv("PTCTL_DEBUG"))
		log_set_level(2);
	MUST(vfio_container_new(&c));
	MUST(vfio_device_open(c, &addr, &d));
	device_fd = vfio_device_fd(d);
	desc = vfio_device_irq(d, VFIO_PCI_MSIX_IRQ_INDEX);
	CHECK(desc && desc->count >= 2, "MSI-X index has %u vectors", desc ? desc->count : 0);
	if (!desc || desc->count < 2)
		return 1;
	info = (struct vfio_irq_info){ .argsz = sizeof(info), .index = desc->index, .flags = desc->flags,
				       .count = desc->count };
	nvec = desc->count < E1000E_CAUSES ? desc->count : E1000E_CAUSES;
	MUST(vfio_device_bar_map(d, VFIO_PCI_BAR0_REGION_INDEX, &bar));
	regs = vfio_bar_map_ptr(bar, 0, 0x100);
	CHECK(regs != NULL, "BAR0 mapped");
	if (!regs)
		return 1;
	all = (1u << nvec) - 1;
	MUST(irq_vectors_new(nvec, &vec));

	/* Every vector on its own eventfd; each fires alone. */
	assign(0, nvec, irq_vectors_fds(vec));
	CHECK(host_vfio_vectors(&addr) == nvec, "host has %u vfio-msix handlers", host_vfio_vectors(&addr));
	for (unsigned i = 0; i < nvec; i++) {
		fire(i, 1);
		got = fired(vec);
		CHECK(got == 1u << i, "vector %u fires only its own eventfd (mask 0x%x)", i, got);
	}

	/* The device itself: cause i (IVAR) -> vector i's message -> its eventfd alone. */
	nic_setup(d);
	/* Unmasking lets a cause already latched (link status change, an Other cause) through: let it
	 * arrive and drain it before counting. */
	usleep(200 * 1000);
	regs[E1000E_ICR / 4] = 0xffffffff;
	got = fired(vec);
	printf("drained after setup: mask 0x%x\n", got);
	for (unsigned i = 0; i < nvec; i++) {
		raise_vectors(1u << i);
		got = fired(vec);
		CHECK(got == 1u << i, "e1000e raised vector %u: its eventfd alone (mask 0x%x)", i, got);
	}

	/* De-assign vector 1 alone (-1): its handler goes, the others stay wired. */
	assign(1, 1, (int32_t[]){ -1 });
	CHECK(host_vfio_vectors(&addr) == nvec - 1, "vector 1 de-assigned: %u handlers left",
	      host_vfio_vectors(&addr));
	fire(0, nvec);
	got = fired(vec);
	CHECK(got == (all & ~2u), "all fired: every eventfd but vector 1's (mask 0x%x)", got);
	assign(1, 1, &irq_vectors_fds(vec)[1]);
	fire(0, nvec);
	got = fired(vec);
	CHECK(got == all, "vector 1 re-assigned: all fire again (mask 0x%x)", got);

	/* Into KVM: vector i -> GSI -> guest vector 0x40+i, one binding each. */
	MUST(test_vm_open(&vm, true));
	MUST(irq_routes_new(vm.vm, 0, IRQ_ROUTES_IRQCHIP, &routes));
	for (unsigned i = 0; i < nvec; i++) {
		struct irq_msi m;
		MUST(irq_msi_x86(0, GUEST_VECTOR(i), &m));
		MUST(irq_kvm_route_msi(routes, irq_vectors_fd(vec, i), &m, &gsi[i]));
	}
	raise_vectors(all);
	got = pending(&vm, nvec);
	CHECK(got == all, "e1000e raised %u vectors -> %u GSIs -> guest vectors 0x%x-0x%x all pending (mask 0x%x)", nvec, nvec,
	      GUEST_VECTOR(0), GUEST_VECTOR(nvec - 1), got);
	CHECK(fired(vec) == 0, "KVM took them all: no eventfd left for userspace");

	/* One vector unbound from KVM: it alone comes back to userspace. */
	MUST(lapic_reset_pending(&vm));
	MUST(irq_kvm_unroute_msi(routes, gsi[nvec - 1], irq_vectors_fd(vec, nvec - 1)));
	raise_vectors(all);
	got = pending(&vm, nvec);
	CHECK(got == (all >> 1), "last vector unrouted: the others still arrive (mask 0x%x)", got);
	got = fired(vec);
	CHECK(got == 1u << (nvec - 1), "and it is on its eventfd again (mask 0x%x)", got);

	for (unsigned i = 0; i + 1 < nvec; i++)
		MUST(irq_kvm_unroute_msi(routes, gsi[i], irq_vectors_fd(vec, i)));
	regs[E1000E_IMC / 4] = 0xffffffff;
	MUST(irq_vfio_set(device_fd, &info,
			  &(struct irq_vfio_req){ .op = IRQ_VFIO_DISABLE, .index = VFIO_PCI_MSIX_IRQ_INDEX }));
	CHECK(host_vfio_vectors(&addr) == 0, "MSI-X disabled: no vfio-msix handlers left");
	test_vm_close(&vm);
	printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
