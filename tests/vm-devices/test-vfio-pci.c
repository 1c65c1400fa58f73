/* test-vfio-pci.c: the vfio-pci device model against a fake VFIO device behind its backend seam (config
 * region, BAR regions, IRQ set), on a VM of this machine's /dev/kvm: the config space the guest walks
 * (IDs, ROM hidden, capability list, extended space), BAR sizing and relocation moving the KVM memory
 * slots (MSI-X pages kept out), COMMAND forwarded, MSI-X and MSI vectors -> VFIO eventfds -> routes into
 * the vCPU's local APIC with mask and pending, INTx handing over, hostile config writes dropped, reset. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/mman.h>

#include "irq/kvm-lapic.h"
#include "tests/lib/testskip.h"
#include "tests/lib/fake-vfio.h"
#include "vm/devices/vfio-pci.h"

/* ---- The fake device is tests/lib/fake-vfio.c ---- */

/* ---- Fixture: a VM with the fake device on its bus ---- */
struct fixture {
	struct vm *vm;
	struct fake_vfio *fake;
	int slot;
};

static int setup(void **state)
{
	struct vm_config cfg = { .name = "vfio", .memory = 32 << 20, .cpus = 1, .console_in = -1, .console_out = -1 };
	struct fixture *f;
	const char *why = NULL;

	*state = NULL;
	if (!test_have_kvm())
		return 0;
	f = calloc(1, sizeof(*f));
	f->fake = calloc(1, sizeof(*f->fake));
	fake_vfio_init(f->fake);
	assert_int_equal(vm_new(&cfg, &f->vm, &why), 0);
	f->slot = vm_vfio_pci_add_backend(f->vm, "0000:01:10.0", &fake_vfio_ops, f->fake, &why);
	if (f->slot < 0)
		fail_msg("add: %s (%s)", why ? why : "?", strerror(-f->slot));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f) {
		vm_free(f->vm);
		free(f->fake);
		free(f);
	}
	return 0;
}

#define SKIP_WITHOUT_KVM(f)                                                                                  \
	do {                                                                                                 \
		if (!(f))                                                                                    \
			TEST_SKIP("kvm", "no usable /dev/kvm");                                              \
	} while (0)

/* ECAM, as the guest does it: offsets up to 4095. */
static uint32_t cfg_read(struct fixture *f, unsigned off, unsigned len)
{
	uint8_t d[4] = { 0 };
	vm_io_dispatch(f->vm, true, VM_ECAM_BASE + ((uint64_t)f->slot << 15) + off, d, len, false);
	return get_le32(d) & (len == 4 ? 0xffffffffu : (1u << (8 * len)) - 1);
}

static void cfg_write(struct fixture *f, unsigned off, unsigned len, uint32_t v)
{
	uint8_t d[4];
	put_le32(d, v);
	vm_io_dispatch(f->vm, true, VM_ECAM_BASE + ((uint64_t)f->slot << 15) + off, d, len, true);
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

static uint64_t bar64(struct fixture *f, unsigned off)
{
	return (cfg_read(f, off, 4) & ~0xfull) | (uint64_t)cfg_read(f, off + 4, 4) << 32;
}

static bool slot_at(struct fixture *f, uint64_t gpa)
{
	for (int s = 0; s < f->vm->next_slot; s++)
		if (f->vm->slot_gpa[s] == gpa)
			return true;
	return false;
}

static const struct fake_vfio_irq_call *last_call(struct fixture *f, uint32_t index, enum irq_vfio_op op)
{
	assert_true(f->fake->ncalls <= FAKE_VFIO_CALLS); /* the log holds every call so far */
	for (unsigned i = f->fake->ncalls; i-- > 0;)
		if (f->fake->calls[i].index == index && f->fake->calls[i].op == op)
			return &f->fake->calls[i];
	return NULL;
}

static struct test_vm lapic_of(struct fixture *f)
{
	return (struct test_vm){ .kvm = f->vm->kvm_fd, .vm = f->vm->vm_fd, .vcpu = f->vm->vcpus[0].fd };
}

/* ---- Tests ---- */

static void test_header_caps_rom(void **state)
{
	struct fixture *f = *state;
	SKIP_WITHOUT_KVM(f);
	uint8_t ids[16];
	unsigned n = 0;

	assert_int_equal(f->fake->resets, 1); /* before the guest saw it */
	assert_int_equal(cfg_read(f, 0x00, 4), 0x10ca8086);
	assert_int_equal(cfg_read(f, 0x08, 4), 0x02000001);
	assert_int_equal(cfg_read(f, 0x0e, 1), 0x00);
	assert_int_equal(cfg_read(f, 0x2c, 4), 0x00018086);
	assert_int_equal(cfg_read(f, 0x3d, 1), 1);
	assert_int_equal(cfg_read(f, 0x3c, 1), vm_pci_intx_gsi((unsigned)f->slot, 1));
	/* ROM hidden: reads 0 and sizes to 0. */
	assert_int_equal(cfg_read(f, 0x30, 4), 0);
	cfg_write(f, 0x30, 4, 0xfffff801);
	assert_int_equal(cfg_read(f, 0x30, 4), 0);
	/* The list the guest walks: PM, MSI, PCI Express, then MSI-X (at the device's own offset). */
	assert_true(cfg_read(f, 0x06, 2) & 0x10);
	for (unsigned p = cfg_read(f, 0x34, 1); p && n < 16; p = cfg_read(f, p + 1, 1)) {
		ids[n++] = (uint8_t)cfg_read(f, p, 1);
		if (ids[n - 1] == 0x11)
			assert_int_equal(p, 0x70);
	}
	assert_int_equal(n, 4);
	assert_int_equal(ids[0], 0x01);
	assert_int_equal(ids[1], 0x05);
	assert_int_equal(ids[2], 0x10);
	assert_int_equal(ids[3], 0x11);
	assert_int_equal(cfg_read(f, 0x72, 2), 0x0002);      /* 3 vectors */
	assert_int_equal(cfg_read(f, 0x74, 4), 0x00000003); /* table in BAR3 */
	/* Extended space: SR-IOV and ARI hidden, AER kept. */
	assert_int_equal(cfg_read(f, 0x100, 4), 0x140u << 20);
	assert_int_equal(cfg_read(f, 0x140, 4), 0x0001 | 2u << 16);
	assert_int_equal(cfg_read(f, 0x148, 4), 0x12345678);
}

static void test_bar_sizing_relocation(void **state)
{
	struct fixture *f = *state;
	SKIP_WITHOUT_KVM(f);
	uint32_t bar0 = cfg_read(f, 0x10, 4);
	uint64_t bar3 = bar64(f, 0x1c);
	uint16_t port = (uint16_t)(cfg_read(f, 0x14, 4) & ~3u);
	uint8_t d[4];

	/* Sizing: all ones in, the size mask out; the types the device has. */
	cfg_write(f, 0x10, 4, 0xffffffff);
	assert_int_equal(cfg_read(f, 0x10, 4), 0xffffc000);
	cfg_write(f, 0x10, 4, bar0);
	cfg_write(f, 0x14, 4, 0xffffffff);
	assert_int_equal(cfg_read(f, 0x14, 4), 0xffffffe1);
	cfg_write(f, 0x14, 4, port);
	assert_int_equal(cfg_read(f, 0x1c, 4) & 0xf, 0xc);
	assert_int_equal(cfg_read(f, 0x18, 4), 0); /* BAR2 absent */
	assert_false(slot_at(f, bar0));
	/* Memory enable: COMMAND reaches the device; BAR0 becomes one slot, BAR3 two (MSI-X pages trapped). */
	cfg_write(f, 0x04, 2, 0x0007);
	assert_int_equal(f->fake->last_cmd & 0x0407, 0x0007);
	assert_true(slot_at(f, bar0));
	assert_false(slot_at(f, bar3));
	assert_true(slot_at(f, bar3 + 0x1000));
	assert_false(slot_at(f, bar3 + 0x2000));
	assert_true(slot_at(f, bar3 + 0x3000));
	/* Trapped accesses reach the region: the I/O BAR, and BAR0 through the bus's trap. */
	put_le32(d, 0x11223344);
	vm_io_dispatch(f->vm, false, port + 4, d, 4, true);
	assert_int_equal(get_le32(f->fake->bar1 + 4), 0x11223344);
	vm_io_dispatch(f->vm, false, port, d, 2, false);
	assert_int_equal(get_le16(d), 0xa1a0);
	f->fake->bar0[8] = 0x5a;
	assert_int_equal(mmio_read32(f, bar0 + 8) & 0xff, 0x5a);
	/* Relocation: the slot follows the BAR. */
	cfg_write(f, 0x04, 2, 0x0005);
	assert_false(slot_at(f, bar0));
	assert_int_equal(f->fake->last_cmd & 0x0002, 0);
	cfg_write(f, 0x10, 4, 0xd0000000);
	cfg_write(f, 0x04, 2, 0x0007);
	assert_true(slot_at(f, 0xd0000000));
	assert_false(slot_at(f, bar0));
	assert_int_equal(f->fake->maps, 2); /* each BAR mapped once, however often it moves */
	/* Toggling decode many times does not run out of KVM slots. */
	for (int i = 0; i < 40; i++) {
		cfg_write(f, 0x04, 2, 0x0005);
		cfg_write(f, 0x04, 2, 0x0007);
	}
	assert_true(slot_at(f, 0xd0000000));
	assert_true(slot_at(f, bar3 + 0x3000));
}

static void msix_entry(struct fixture *f, uint64_t bar3, unsigned vec, unsigned vector, bool masked)
{
	uint64_t e = bar3 + 16ull * vec;
	mmio_write32(f, e + 0, 0xfee00000);
	mmio_write32(f, e + 4, 0);
	mmio_write32(f, e + 8, vector);
	mmio_write32(f, e + 12, masked);
}

static void test_msix_routes_mask_pending(void **state)
{
	struct fixture *f = *state;
	SKIP_WITHOUT_KVM(f);
	struct test_vm t = lapic_of(f);
	uint64_t bar3 = bar64(f, 0x1c);
	const struct fake_vfio_irq_call *c;
	uint64_t one = 1;
	int32_t fd1;

	/* INTx is live from the start (the device's pin is routed). */
	assert_non_null(last_call(f, VFIO_PCI_INTX_IRQ_INDEX, IRQ_VFIO_TRIGGER));
	assert_non_null(last_call(f, VFIO_PCI_INTX_IRQ_INDEX, IRQ_VFIO_UNMASK_FD));
	assert_int_equal(lapic_reset_pending(&t), 0);
	cfg_write(f, 0x04, 2, 0x0006);
	msix_entry(f, bar3, 0, 0x41, false);
	msix_entry(f, bar3, 1, 0x42, true);
	assert_int_equal(mmio_read32(f, bar3 + 16 + 8), 0x42);
	/* Enable: INTx off first (VFIO wants that), then all three vectors with the table's eventfds. */
	cfg_write(f, 0x72, 2, 0x8000);
	c = last_call(f, VFIO_PCI_MSIX_IRQ_INDEX, IRQ_VFIO_TRIGGER);
	assert_non_null(c);
	assert_int_equal(c->count, 3);
	assert_true(last_call(f, VFIO_PCI_INTX_IRQ_INDEX, IRQ_VFIO_DISABLE) < c);
	fd1 = c->fds[1];
	assert_true(c->fds[0] >= 0 && fd1 >= 0 && c->fds[0] != fd1);
	/* The device raises vector 0: delivered. */
	assert_int_equal(write(c->fds[0], &one, 8), 8);
	assert_int_equal(lapic_wait_irr(&t, 0x41, 2000), 1);
	/* Vector 1 is masked: held, shown in the PBA, delivered on unmask. */
	assert_int_equal(write(fd1, &one, 8), 8);
	assert_int_equal(mmio_read32(f, bar3 + 0x2000), 1u << 1);
	assert_int_equal(lapic_wait_irr(&t, 0x42, 50), 0);
	mmio_write32(f, bar3 + 16 + 12, 0);
	assert_int_equal(lapic_wait_irr(&t, 0x42, 2000), 1);
	assert_int_equal(mmio_read32(f, bar3 + 0x2000), 0);
	/* Disable: VFIO's MSI-X off, INTx back. */
	f->fake->ncalls = 0;
	cfg_write(f, 0x72, 2, 0x0000);
	assert_non_null(last_call(f, VFIO_PCI_MSIX_IRQ_INDEX, IRQ_VFIO_DISABLE));
	assert_non_null(last_call(f, VFIO_PCI_INTX_IRQ_INDEX, IRQ_VFIO_TRIGGER));
	assert_non_null(last_call(f, VFIO_PCI_INTX_IRQ_INDEX, IRQ_VFIO_UNMASK_FD));
}

static void test_msi_vectors_mask(void **state)
{
	struct fixture *f = *state;
	SKIP_WITHOUT_KVM(f);
	struct test_vm t = lapic_of(f);
	const struct fake_vfio_irq_call *c;
	uint64_t one = 1;

	assert_int_equal(lapic_reset_pending(&t), 0);
	assert_int_equal(cfg_read(f, 0x52, 2), 0x0184); /* 64-bit, per-vector mask, 4 vectors, disabled */
	cfg_write(f, 0x54, 4, 0xfee00000);
	cfg_write(f, 0x58, 4, 0);
	cfg_write(f, 0x5c, 2, 0x0050);
	cfg_write(f, 0x52, 2, 0x0011); /* enable, 2 vectors */
	c = last_call(f, VFIO_PCI_MSI_IRQ_INDEX, IRQ_VFIO_TRIGGER);
	assert_non_null(c);
	assert_int_equal(c->count, 2);
	assert_int_equal(write(c->fds[1], &one, 8), 8);
	assert_int_equal(lapic_wait_irr(&t, 0x51, 2000), 1);
	/* Mask vector 1: held and pending, delivered on unmask. */
	assert_int_equal(lapic_reset_pending(&t), 0);
	cfg_write(f, 0x60, 4, 0x2);
	assert_int_equal(write(c->fds[1], &one, 8), 8);
	assert_int_equal(cfg_read(f, 0x64, 4), 0x2);
	assert_int_equal(lapic_wait_irr(&t, 0x51, 50), 0);
	cfg_write(f, 0x60, 4, 0x0);
	assert_int_equal(lapic_wait_irr(&t, 0x51, 2000), 1);
	assert_int_equal(cfg_read(f, 0x64, 4), 0);
	/* A vector count beyond what the device has is capped; MME beyond it is ignored on the host. */
	cfg_write(f, 0x52, 2, 0x0000);
	assert_non_null(last_call(f, VFIO_PCI_MSI_IRQ_INDEX, IRQ_VFIO_DISABLE));
}

static void test_hostile_config_dropped(void **state)
{
	struct fixture *f = *state;
	SKIP_WITHOUT_KVM(f);
	/* Everything but COMMAND, the BARs, the interrupt line and the MSI/MSI-X control words. */
	static const unsigned offs[] = { 0x00, 0x06, 0x08, 0x0c, 0x2c, 0x34, 0x3d, 0x40, 0x44, 0x74,
					 0x78, 0xa8, 0xd0, 0x100, 0x140, 0x148, 0x180, 0xffc };
	uint32_t before[ARRAY_SIZE(offs)];
	unsigned writes = f->fake->cfg_writes;
	uint8_t d[8];

	for (size_t i = 0; i < ARRAY_SIZE(offs); i++)
		before[i] = cfg_read(f, offs[i], 4);
	for (size_t i = 0; i < ARRAY_SIZE(offs); i++) {
		cfg_write(f, offs[i], 4, 0xdeadbeef);
		cfg_write(f, offs[i], 2, 0xffff);
		cfg_write(f, offs[i] + 1, 1, 0x00);
	}
	/* Misaligned and straddling accesses through ECAM and mechanism #1. */
	memset(d, 0xff, sizeof(d));
	vm_io_dispatch(f->vm, true, VM_ECAM_BASE + ((uint64_t)f->slot << 15) + 0xffd, d, 4, true);
	vm_io_dispatch(f->vm, true, VM_ECAM_BASE + ((uint64_t)f->slot << 15) + 0x71, d, 8, true);
	for (size_t i = 0; i < ARRAY_SIZE(offs); i++) {
		/* 0x0c holds cache line size and latency timer (the guest's own) and the header type (not). */
		if (offs[i] == 0x0c) {
			assert_int_equal(cfg_read(f, 0x0e, 1), 0);
			continue;
		}
		assert_int_equal(cfg_read(f, offs[i], 4), before[i]);
	}
	/* Nothing went to the device: only COMMAND is ever forwarded. */
	assert_int_equal(f->fake->cfg_writes, writes);
	assert_int_equal(cfg_read(f, 0x30, 4), 0);
}

static void test_free_resets(void **state)
{
	struct fixture *f = *state;
	SKIP_WITHOUT_KVM(f);
	cfg_write(f, 0x72, 2, 0x8000);
	vm_free(f->vm);
	f->vm = NULL;
	assert_int_equal(f->fake->resets, 2);
	assert_true(f->fake->freed);
	assert_non_null(last_call(f, VFIO_PCI_MSIX_IRQ_INDEX, IRQ_VFIO_DISABLE));
}

/* A device whose config space VFIO cannot read, or a bridge: refused, nothing left on the bus. */
static void test_refused(void **state)
{
	(void)state;
	struct vm_config cfg = { .name = "vfio2", .memory = 32 << 20, .cpus = 1, .console_in = -1, .console_out = -1 };
	struct vm *vm = NULL;
	struct fake_vfio *fk = calloc(1, sizeof(*fk));
	const char *why = NULL;

	if (!test_have_kvm()) {
		free(fk);
		TEST_SKIP("kvm", "no usable /dev/kvm");
	}
	assert_int_equal(vm_new(&cfg, &vm, &why), 0);
	fake_vfio_init(fk);
	fk->cfg[0x0e] = 0x01;
	assert_true(vm_vfio_pci_add_backend(vm, "0000:02:00.0", &fake_vfio_ops, fk, &why) < 0);
	assert_non_null(strstr(why, "header type"));
	assert_true(fk->freed);
	fake_vfio_init(fk);
	fk->regions[VFIO_PCI_CONFIG_REGION_INDEX].size = 0;
	assert_true(vm_vfio_pci_add_backend(vm, "0000:02:00.0", &fake_vfio_ops, fk, &why) < 0);
	assert_true(fk->freed);
	for (unsigned s = 1; s < 32; s++)
		assert_null(vm->pci.slots[s]);
	vm_free(vm);
	free(fk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_header_caps_rom, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_sizing_relocation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_routes_mask_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_vectors_mask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_config_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_resets, setup, teardown),
		cmocka_unit_test(test_refused),
	};
	return test_exit(cmocka_run_group_tests_name("vfio-pci", tests, NULL, NULL));
}
