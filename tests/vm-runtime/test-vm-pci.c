/* test-vm-pci.c: the PCI device-model layer on this machine's /dev/kvm: the BAR protocol (sizing,
 * placement, relocation, decode by COMMAND, windows), capabilities, and MSI-X (table, mask, PBA,
 * delivery into the vCPU's local APIC through irqfd). Accesses go through the VM's own I/O dispatch,
 * exactly as a guest's port and MMIO exits do. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "irq/irq.h"
#include "irq/kvm-lapic.h"
#include "tests/lib/testskip.h"
#include "vm/internal.h"

/* ---- A small model: BAR0 64K MEM32 (MSI-X table at 0x2000, PBA at 0x3000), BAR1 IO 32, BAR2 MEM64 1M ---- */
struct model {
	struct vm_pci_device dev;
	struct vm_msix *msix;
	unsigned activations, deactivations;
	uint64_t last_activate[VM_PCI_BARS];
	uint32_t regs[16]; /* BAR0 0x0-0x3f: plain registers */
	unsigned io_writes;
};

static void model_bar_io(struct vm_pci_device *d, unsigned bar, uint64_t off, uint8_t *data, unsigned len,
			 bool is_write)
{
	struct model *m = d->userdata;
	if (m->msix && vm_msix_bar_io(m->msix, bar, off, data, len, is_write))
		return;
	if (bar == 0 && off + len <= sizeof(m->regs) && len == 4) {
		if (is_write)
			m->regs[off / 4] = get_le32(data);
		else
			put_le32(data, m->regs[off / 4]);
		return;
	}
	if (bar == 1 && is_write)
		m->io_writes++;
	if (!is_write)
		memset(data, 0x5a, len);
}

static void model_config_write(struct vm_pci_device *d, unsigned off, unsigned len, uint32_t v)
{
	struct model *m = d->userdata;
	if (m->msix && vm_msix_config_write(m->msix, off, len, v))
		return;
	vm_pci_config_write_default(d, off, len, v);
}

static int model_activate(struct vm_pci_device *d, unsigned bar, uint64_t addr)
{
	struct model *m = d->userdata;
	m->activations++;
	m->last_activate[bar] = addr;
	return 0;
}

static void model_deactivate(struct vm_pci_device *d, unsigned bar, uint64_t addr)
{
	struct model *m = d->userdata;
	(void)bar;
	(void)addr;
	m->deactivations++;
}

static void model_free(struct vm_pci_device *d)
{
	struct model *m = d->userdata;
	vm_msix_free(m->msix);
	pthread_mutex_destroy(&d->lock);
	free(m);
}

static const struct vm_pci_ops model_ops = {
	.config_write = model_config_write,
	.bar_io = model_bar_io,
	.bar_activate = model_activate,
	.bar_deactivate = model_deactivate,
	.free = model_free,
};

struct fixture {
	struct vm *vm;
	struct model *m;
	int slot;
};

static int setup(void **state)
{
	struct vm_config cfg = { .name = "pci", .memory = 32 << 20, .cpus = 1, .console_in = -1, .console_out = -1 };
	struct fixture *f = calloc(1, sizeof(*f));
	const char *why = NULL;

	if (!test_have_kvm()) {
		free(f);
		*state = NULL;
		return 0;
	}
	assert_int_equal(vm_new(&cfg, &f->vm, &why), 0);
	f->m = calloc(1, sizeof(*f->m));
	vm_pci_device_init(&f->m->dev, "model", 0x1234, 0x5678, 0x020000, 1);
	f->m->dev.ops = &model_ops;
	f->m->dev.userdata = f->m;
	assert_int_equal(vm_pci_bar_init(&f->m->dev, 0, VM_PCI_BAR_MEM32, 0x10000, false), 0);
	assert_int_equal(vm_pci_bar_init(&f->m->dev, 1, VM_PCI_BAR_IO, 32, false), 0);
	assert_int_equal(vm_pci_bar_init(&f->m->dev, 2, VM_PCI_BAR_MEM64, 1 << 20, true), 0);
	assert_int_equal(vm_msix_new(&f->m->dev, 4, 0, 0x2000, 0x3000, NULL, NULL, &f->m->msix), 0);
	f->slot = vm_pci_add(f->vm, &f->m->dev, -1);
	assert_true(f->slot > 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f) {
		vm_free(f->vm);
		free(f);
	}
	return 0;
}

#define SKIP_WITHOUT_KVM(f)                                                                                  \
	do {                                                                                                 \
		if (!(f))                                                                                    \
			TEST_SKIP("kvm", "no usable /dev/kvm");                                              \
	} while (0)

/* Configuration mechanism #1, as the guest does it. */
static uint32_t cfg_read(struct fixture *f, unsigned off, unsigned len)
{
	uint8_t d[4] = { 0 };
	uint32_t a = 0x80000000u | (unsigned)f->slot << 11 | (off & 0xfc);
	uint8_t ab[4];
	put_le32(ab, a);
	vm_io_dispatch(f->vm, false, 0xcf8, ab, 4, true);
	vm_io_dispatch(f->vm, false, 0xcfc + (off & 3), d, len, false);
	return get_le32(d) & (len == 4 ? 0xffffffffu : (1u << (8 * len)) - 1);
}

static void cfg_write(struct fixture *f, unsigned off, unsigned len, uint32_t v)
{
	uint8_t d[4], ab[4];
	put_le32(ab, 0x80000000u | (unsigned)f->slot << 11 | (off & 0xfc));
	vm_io_dispatch(f->vm, false, 0xcf8, ab, 4, true);
	put_le32(d, v);
	vm_io_dispatch(f->vm, false, 0xcfc + (off & 3), d, len, true);
}

static uint32_t mmio_read32(struct fixture *f, uint64_t gpa)
{
	uint8_t d[4];
	vm_io_dispatch(f->vm, true, gpa, d, 4, false);
	return get_le32(d);
}

static void mmio_write32(struct fixture *f, uint64_t gpa, uint32_t v)
{
	uint8_t d[4];
	put_le32(d, v);
	vm_io_dispatch(f->vm, true, gpa, d, 4, true);
}

static void test_header_and_placement(void **state)
{
	struct fixture *f = *state;
	SKIP_WITHOUT_KVM(f);
	assert_int_equal(cfg_read(f, 0, 4), 0x56781234);
	assert_int_equal(cfg_read(f, 0x08, 4) >> 8, 0x020000);
	assert_int_equal(cfg_read(f, 0x3d, 1), 1);
	assert_int_equal(cfg_read(f, 0x3c, 1), vm_pci_intx_gsi((unsigned)f->slot, 1));
	/* Placed like firmware would: inside the windows, naturally aligned, flags in the low bits. */
	uint32_t b0 = cfg_read(f, 0x10, 4), b1 = cfg_read(f, 0x14, 4), b2 = cfg_read(f, 0x18, 4);
	assert_true((b0 & ~0xfu) >= VM_PCI_MMIO32_START && (b0 & ~0xfu) < VM_PCI_MMIO32_END);
	assert_int_equal(b0 & 0xffff, 0);
	assert_int_equal(b1 & 3, 1);
	assert_true((b1 & ~3u) >= 0xc000 && (b1 & 0x1f) == 1);
	assert_int_equal(b2 & 0xf, 0xc); /* 64-bit, prefetchable */
	assert_true(((uint64_t)cfg_read(f, 0x1c, 4) << 32 | (b2 & ~0xfu)) >= f->vm->pci.mmio64_base);
	/* The ROM BAR reads as absent. */
	cfg_write(f, 0x30, 4, 0xffffffff);
	assert_int_equal(cfg_read(f, 0x30, 4), 0);
	/* The capability list: status bit, pointer, MSI-X with its table size. */
	assert_true(cfg_read(f, 0x06, 2) & 0x10);
	unsigned cap = cfg_read(f, 0x34, 1);
	assert_true(cap >= 0x40);
	assert_int_equal(cfg_read(f, cap, 1), 0x11);
	assert_int_equal(cfg_read(f, cap + 2, 2) & 0x7ff, 3);
	assert_int_equal(cfg_read(f, cap + 4, 4), 0x2000);
	assert_int_equal(cfg_read(f, cap + 8, 4), 0x3000);
}

static void test_sizing(void **state)
{
	struct fixture *f = *state;
	SKIP_WITHOUT_KVM(f);
	cfg_write(f, 0x10, 4, 0xffffffff);
	assert_int_equal(cfg_read(f, 0x10, 4), 0xffff0000);
	cfg_write(f, 0x14, 4, 0xffffffff);
	assert_int_equal(cfg_read(f, 0x14, 4), 0xffffffe1);
	cfg_write(f, 0x18, 4, 0xffffffff);
	cfg_write(f, 0x1c, 4, 0xffffffff);
	assert_int_equal(cfg_read(f, 0x18, 4), 0xfff0000c);
	assert_int_equal(cfg_read(f, 0x1c, 4), 0xffffffff);
	/* Never decoded while sized (memory decode is off anyway). */
	assert_int_equal(f->m->activations, 0);
}

static void test_decode_and_relocate(void **state)
{
	struct fixture *f = *state;
	SKIP_WITHOUT_KVM(f);
	uint64_t a = cfg_read(f, 0x10, 4) & ~0xfu, b = 0xc8000000;

	/* Not decoding before COMMAND enables memory: unclaimed reads are all ones. */
	assert_int_equal(mmio_read32(f, a), 0xffffffff);
	cfg_write(f, 0x04, 2, 0x0002);
	assert_int_equal(f->m->activations, 2); /* BAR0 and BAR2 (memory); BAR1 is I/O */
	assert_int_equal(f->m->last_activate[0], a);
	mmio_write32(f, a + 8, 0xdeadbeef);
	assert_int_equal(f->m->regs[2], 0xdeadbeef);
	assert_int_equal(mmio_read32(f, a + 8), 0xdeadbeef);
	/* The guest moves BAR0: the old address goes dead, the new one decodes, the model is told both. */
	cfg_write(f, 0x10, 4, (uint32_t)b);
	assert_int_equal(f->m->deactivations, 1);
	assert_int_equal(f->m->last_activate[0], b);
	assert_int_equal(mmio_read32(f, a + 8), 0xffffffff);
	assert_int_equal(mmio_read32(f, b + 8), 0xdeadbeef);
	/* Outside every window (below the 32-bit window): not decoded. */
	cfg_write(f, 0x10, 4, 0x10000000);
	assert_int_equal(mmio_read32(f, 0x10000008), 0xffffffff);
	assert_false(f->m->dev.bars[0].active);
	/* Memory decode off: everything stops. */
	cfg_write(f, 0x10, 4, (uint32_t)b);
	assert_true(f->m->dev.bars[0].active);
	cfg_write(f, 0x04, 2, 0x0000);
	assert_false(f->m->dev.bars[0].active);
	assert_false(f->m->dev.bars[2].active);
	assert_int_equal(mmio_read32(f, b + 8), 0xffffffff);
}

static void test_io_bar(void **state)
{
	struct fixture *f = *state;
	SKIP_WITHOUT_KVM(f);
	uint16_t port = (uint16_t)(cfg_read(f, 0x14, 4) & ~3u);
	uint8_t d[2] = { 1, 2 };

	vm_io_dispatch(f->vm, false, port + 4, d, 2, true);
	assert_int_equal(f->m->io_writes, 0); /* I/O decode off */
	cfg_write(f, 0x04, 2, 0x0001);
	vm_io_dispatch(f->vm, false, port + 4, d, 2, true);
	assert_int_equal(f->m->io_writes, 1);
	/* A BAR moved onto the PCI config ports cannot take them: it does not decode. */
	cfg_write(f, 0x14, 4, 0xce0);
	assert_false(f->m->dev.bars[1].active);
	uint8_t ab[4];
	put_le32(ab, 0x80000000u | (unsigned)f->slot << 11);
	vm_io_dispatch(f->vm, false, 0xcf8, ab, 4, true);
	vm_io_dispatch(f->vm, false, 0xcfc, ab, 4, false);
	assert_int_equal(get_le32(ab), 0x56781234);
}

static void test_hostile_config(void **state)
{
	struct fixture *f = *state;
	SKIP_WITHOUT_KVM(f);
	/* Read-only registers stay: IDs, class, header type, capability pointer, the MSI-X table offset. */
	cfg_write(f, 0x00, 4, 0);
	cfg_write(f, 0x08, 4, 0);
	cfg_write(f, 0x0c, 4, 0xffffffff);
	cfg_write(f, 0x34, 1, 0x80);
	unsigned cap = cfg_read(f, 0x34, 1);
	cfg_write(f, cap + 4, 4, 0x12345678);
	assert_int_equal(cfg_read(f, 0, 4), 0x56781234);
	assert_int_equal(cfg_read(f, 0x08, 4) >> 8, 0x020000);
	assert_int_equal(cfg_read(f, 0x0e, 1), 0);
	assert_int_equal(cap, 0x40);
	assert_int_equal(cfg_read(f, cap + 4, 4), 0x2000);
	/* Unaligned and out-of-range ECAM accesses neither crash nor change state. */
	uint8_t d[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	vm_io_dispatch(f->vm, true, VM_ECAM_BASE + ((uint64_t)f->slot << 15) + 0xffd, d, 4, true);
	vm_io_dispatch(f->vm, true, VM_ECAM_BASE + VM_ECAM_SIZE - 2, d, 4, true);
	assert_int_equal(cfg_read(f, 0, 4), 0x56781234);
}

/* ---- MSI-X ---- */

static struct test_vm lapic_of(struct fixture *f)
{
	return (struct test_vm){ .kvm = f->vm->kvm_fd, .vm = f->vm->vm_fd, .vcpu = f->vm->vcpus[0].fd };
}

static void msix_program(struct fixture *f, uint64_t bar, unsigned vec, unsigned vector, bool masked)
{
	uint64_t e = bar + 0x2000 + 16ull * vec;
	mmio_write32(f, e + 0, 0xfee00000); /* APIC 0, physical, fixed */
	mmio_write32(f, e + 4, 0);
	mmio_write32(f, e + 8, vector);
	mmio_write32(f, e + 12, masked ? 1 : 0);
}

static void test_msix_delivery_mask_pending(void **state)
{
	struct fixture *f = *state;
	SKIP_WITHOUT_KVM(f);
	struct test_vm t = lapic_of(f);
	uint64_t bar = cfg_read(f, 0x10, 4) & ~0xfu;
	unsigned cap = cfg_read(f, 0x34, 1);
	struct vm_msix_vector_info info;

	assert_int_equal(lapic_reset_pending(&t), 0);
	cfg_write(f, 0x04, 2, 0x0006);
	/* Out of reset every vector is masked. */
	assert_int_equal(mmio_read32(f, bar + 0x2000 + 12), 1);
	msix_program(f, bar, 1, 0x41, false);
	assert_int_equal(mmio_read32(f, bar + 0x2000 + 16 + 8), 0x41);
	/* MSI-X still disabled: a signal waits in the eventfd and shows in the PBA. */
	assert_int_equal(vm_msix_notify(f->m->msix, 1), 0);
	assert_int_equal(mmio_read32(f, bar + 0x3000), 1u << 1);
	assert_int_equal(lapic_wait_irr(&t, 0x41, 50), 0);
	/* Enable: the vector is routed and the pending signal delivered. */
	cfg_write(f, cap + 2, 2, 0x8000);
	assert_true(vm_msix_enabled(f->m->msix));
	assert_int_equal(vm_msix_vector_info(f->m->msix, 1, &info), 0);
	assert_true(info.gsi >= (int)IRQ_GSI_FIRST);
	assert_false(info.masked);
	assert_int_equal(lapic_wait_irr(&t, 0x41, 2000), 1);
	assert_int_equal(mmio_read32(f, bar + 0x3000), 0);
	/* Mask the vector: a signal is held (PBA bit set, nothing delivered) until unmask. */
	assert_int_equal(lapic_reset_pending(&t), 0);
	mmio_write32(f, bar + 0x2000 + 16 + 12, 1);
	assert_int_equal(vm_msix_vector_info(f->m->msix, 1, &info), 0);
	assert_int_equal(info.gsi, -1);
	assert_int_equal(vm_msix_notify(f->m->msix, 1), 0);
	assert_int_equal(mmio_read32(f, bar + 0x3000), 1u << 1);
	assert_int_equal(lapic_wait_irr(&t, 0x41, 50), 0);
	mmio_write32(f, bar + 0x2000 + 16 + 12, 0);
	assert_int_equal(lapic_wait_irr(&t, 0x41, 2000), 1);
	/* Function mask holds every vector the same way. */
	assert_int_equal(lapic_reset_pending(&t), 0);
	cfg_write(f, cap + 2, 2, 0xc000);
	assert_int_equal(vm_msix_notify(f->m->msix, 1), 0);
	assert_int_equal(lapic_wait_irr(&t, 0x41, 50), 0);
	cfg_write(f, cap + 2, 2, 0x8000);
	assert_int_equal(lapic_wait_irr(&t, 0x41, 2000), 1);
	/* Reprogramming an unmasked vector moves its route to the new vector. */
	assert_int_equal(lapic_reset_pending(&t), 0);
	mmio_write32(f, bar + 0x2000 + 16 + 8, 0x52);
	assert_int_equal(vm_msix_notify(f->m->msix, 1), 0);
	assert_int_equal(lapic_wait_irr(&t, 0x52, 2000), 1);
	assert_int_equal(lapic_wait_irr(&t, 0x41, 0), 0);
}

static void test_msix_hostile_table(void **state)
{
	struct fixture *f = *state;
	SKIP_WITHOUT_KVM(f);
	uint64_t bar = cfg_read(f, 0x10, 4) & ~0xfu;
	uint8_t d[8];

	cfg_write(f, 0x04, 2, 0x0002);
	/* Byte and unaligned accesses are dropped; reserved control bits do not stick; the PBA is read-only. */
	d[0] = 0x77;
	vm_io_dispatch(f->vm, true, bar + 0x2000 + 8, d, 1, true);
	assert_int_equal(mmio_read32(f, bar + 0x2000 + 8), 0);
	mmio_write32(f, bar + 0x2000 + 12, 0xfffffffe);
	assert_int_equal(mmio_read32(f, bar + 0x2000 + 12), 0);
	mmio_write32(f, bar + 0x3000, 0xffffffff);
	assert_int_equal(mmio_read32(f, bar + 0x3000), 0);
	/* Past the table's last entry and past the PBA: the model's own space (all 0x5a here). */
	assert_int_equal(mmio_read32(f, bar + 0x2000 + 16 * 4), 0x5a5a5a5a);
	/* A qword write that straddles the end of the table is dropped. */
	memset(d, 0xab, sizeof(d));
	vm_io_dispatch(f->vm, true, bar + 0x2000 + 16 * 4 - 4, d, 8, true);
	assert_int_equal(mmio_read32(f, bar + 0x2000 + 16 * 3 + 12), 1);
	/* A guest message that KVM routes anywhere only reaches this VM's own vCPUs; enabling with garbage
	 * messages must not fail the VMM. */
	unsigned cap = cfg_read(f, 0x34, 1);
	for (unsigned v = 0; v < 4; v++) {
		mmio_write32(f, bar + 0x2000 + 16 * v, 0xffffffff);
		mmio_write32(f, bar + 0x2000 + 16 * v + 4, 0xffffffff);
		mmio_write32(f, bar + 0x2000 + 16 * v + 8, 0xffffffff);
		mmio_write32(f, bar + 0x2000 + 16 * v + 12, 0);
	}
	cfg_write(f, cap + 2, 2, 0x8000);
	cfg_write(f, cap + 2, 2, 0x0000);
}

static void test_bar_init_rejects(void **state)
{
	(void)state;
	struct vm_pci_device d;
	vm_pci_device_init(&d, "x", 1, 2, 0, 0);
	assert_int_equal(vm_pci_bar_init(&d, 6, VM_PCI_BAR_MEM32, 4096, false), -EINVAL);
	assert_int_equal(vm_pci_bar_init(&d, 5, VM_PCI_BAR_MEM64, 4096, false), -EINVAL);
	assert_int_equal(vm_pci_bar_init(&d, 0, VM_PCI_BAR_MEM32, 3000, false), -EINVAL);
	assert_int_equal(vm_pci_bar_init(&d, 0, VM_PCI_BAR_IO, 0x2000, false), -EINVAL);
	assert_int_equal(vm_pci_bar_init(&d, 0, VM_PCI_BAR_MEM64, 4096, false), 0);
	assert_int_equal(vm_pci_bar_init(&d, 1, VM_PCI_BAR_MEM32, 4096, false), -EINVAL); /* upper half of BAR0 */
	assert_int_equal(vm_pci_bar_init(&d, 0, VM_PCI_BAR_MEM32, 4096, false), -EINVAL); /* taken */
	assert_int_equal(vm_pci_bar_init(&d, 2, VM_PCI_BAR_MEM32, 16, false), 0);
	assert_int_equal(d.bars[2].size, 4096); /* rounded up to a page */
	pthread_mutex_destroy(&d.lock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bar_init_rejects),
		cmocka_unit_test_setup_teardown(test_header_and_placement, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sizing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decode_and_relocate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_bar, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_delivery_mask_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_hostile_table, setup, teardown),
	};
	return test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
