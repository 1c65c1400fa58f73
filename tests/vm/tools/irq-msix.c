/* irq-msix.c: rig program: a device's MSI-X vectors through VFIO, one eventfd each (subsets, -1 to
 * de-assign one), and each bridged into KVM on its own GSI and vector (the per-vector VMM path). */
#include "irq/irq.h"
#include "tests/irq/kvm-lapic.h"
#include "util/log.h"
#include "vfio/vfio.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (cond)                                                                          \
			printf("ok: " __VA_ARGS__);                                                \
		else {                                                                             \
			printf("FAIL: " __VA_ARGS__);                                              \
			failures++;                                                                \
		}                                                                                  \
		putchar('\n');                                                                     \
	} while (0)

#define MUST(expr)                                                                                 \
	do {                                                                                       \
		int _r = (expr);                                                                   \
		if (_r < 0) {                                                                      \
			printf("FAIL: %s: %s\n", #expr, strerror(-_r));                            \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

#define GUEST_VECTOR(i) (0x40u + (i))

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
	nvec = desc->count < 8 ? desc->count : 8;
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
	fire(0, nvec);
	got = pending(&vm, nvec);
	CHECK(got == all, "%u vectors -> %u GSIs -> guest vectors 0x%x-0x%x all pending (mask 0x%x)", nvec, nvec,
	      GUEST_VECTOR(0), GUEST_VECTOR(nvec - 1), got);
	CHECK(fired(vec) == 0, "KVM took them all: no eventfd left for userspace");

	/* One vector unbound from KVM: it alone comes back to userspace. */
	MUST(lapic_reset_pending(&vm));
	MUST(irq_kvm_unroute_msi(routes, gsi[nvec - 1], irq_vectors_fd(vec, nvec - 1)));
	fire(0, nvec);
	got = pending(&vm, nvec);
	CHECK(got == (all >> 1), "last vector unrouted: the others still arrive (mask 0x%x)", got);
	got = fired(vec);
	CHECK(got == 1u << (nvec - 1), "and it is on its eventfd again (mask 0x%x)", got);

	for (unsigned i = 0; i + 1 < nvec; i++)
		MUST(irq_kvm_unroute_msi(routes, gsi[i], irq_vectors_fd(vec, i)));
	MUST(irq_vfio_set(device_fd, &info,
			  &(struct irq_vfio_req){ .op = IRQ_VFIO_DISABLE, .index = VFIO_PCI_MSIX_IRQ_INDEX }));
	CHECK(host_vfio_vectors(&addr) == 0, "MSI-X disabled: no vfio-msix handlers left");
	test_vm_close(&vm);
	printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
