/* test-vm-hotplug.c: the ACPI PCI hot-plug state machine on this machine's /dev/kvm, driven the way the
 * guest's AML drives it (GPE0 status/enable, PCIU/PCID reads, B0EJ writes, config reads): plug, the
 * guest's acceptance, eject request and answer, timeout and forced removal, a guest that ejects an empty
 * slot or a slot nobody asked for, and removal while another vCPU hammers the device. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/lib/testskip.h"
#include "vm/internal.h"


struct dev {
	struct vm_pci_device pci;
	_Atomic unsigned accesses;
};

static void dev_bar_io(struct vm_pci_device *d, unsigned bar, uint64_t off, uint8_t *data, unsigned len,
		       bool is_write)
{
	struct dev *x = d->userdata;
	(void)bar;
	(void)off;
	x->accesses++;
	if (!is_write)
		memset(data, 0x11, len);
}

static const struct vm_pci_ops dev_ops = { .bar_io = dev_bar_io };

static struct dev *dev_new(void)
{
	struct dev *x = calloc(1, sizeof(*x));
	vm_pci_device_init(&x->pci, "hp", 0x1af4, 0x1234, 0xff0000, 0);
	x->pci.ops = &dev_ops;
	x->pci.userdata = x;
	assert_int_equal(vm_pci_bar_init(&x->pci, 0, VM_PCI_BAR_MEM32, 4096, false), 0);
	return x;
}

static void dev_free(struct dev *x)
{
	pthread_mutex_destroy(&x->pci.lock);
	free(x);
}

static int setup(void **state)
{
	struct vm_config cfg = { .name = "hp", .memory = 32 << 20, .cpus = 1, .console_in = -1, .console_out = -1 };
	struct vm *vm = NULL;
	const char *why = NULL;

	*state = NULL;
	if (!test_have_kvm())
		return 0;
	assert_int_equal(vm_new(&cfg, &vm, &why), 0);
	*state = vm;
	return 0;
}

static int teardown(void **state)
{
	vm_free(*state);
	return 0;
}

static uint32_t pio_read(struct vm *vm, uint16_t port, unsigned len)
{
	uint8_t d[4] = { 0 };
	vm_io_dispatch(vm, false, port, d, len, false);
	return get_le32(d) & (len == 4 ? 0xffffffffu : (1u << (8 * len)) - 1);
}

static void pio_write(struct vm *vm, uint16_t port, unsigned len, uint32_t v)
{
	uint8_t d[4];
	put_le32(d, v);
	vm_io_dispatch(vm, false, port, d, len, true);
}

static uint32_t vendor_of(struct vm *vm, unsigned slot)
{
	pio_write(vm, 0xcf8, 4, 0x80000000u | slot << 11);
	return pio_read(vm, 0xcfc, 4);
}

#define PCIU (VM_PORT_HOTPLUG + 0)
#define PCID (VM_PORT_HOTPLUG + 4)
#define B0EJ (VM_PORT_HOTPLUG + 8)
#define GPE_STS VM_PORT_GPE0
#define GPE_EN (VM_PORT_GPE0 + 2)

static void test_plug_accept_eject(void **state)
{
	struct vm *vm = *state;
	struct vm_pci_device *back = NULL;
	struct dev *x;
	int slot;

	if (!vm)
		TEST_SKIP("kvm", "no usable /dev/kvm");
	x = dev_new();
	pio_write(vm, GPE_EN, 2, 0x2); /* the guest's OSPM enables GPE 1 (it has \_GPE._E01) */
	assert_int_equal(vm->hotplug.sci_level, 0);
	slot = vm_hotplug_add(vm, &x->pci, -1);
	assert_true(slot > 0);
	assert_int_equal(vm_hotplug_state(vm, (unsigned)slot), VM_SLOT_PLUGGED);
	/* The event: GPE status bit 1, SCI asserted; _E01's PCNT reads PCIU (cleared by the read). */
	assert_int_equal(pio_read(vm, GPE_STS, 2), 0x2);
	assert_int_equal(vm->hotplug.sci_level, 1);
	pio_write(vm, GPE_STS, 2, 0x2); /* OSPM clears the status: SCI drops */
	assert_int_equal(vm->hotplug.sci_level, 0);
	assert_int_equal(pio_read(vm, PCIU, 4), 1u << slot);
	assert_int_equal(pio_read(vm, PCIU, 4), 0);
	assert_int_equal(pio_read(vm, PCID, 4), 0);
	assert_int_equal(vm_hotplug_wait(vm, (unsigned)slot, VM_SLOT_ACCEPTED, 10), -ETIMEDOUT);
	/* The guest enumerates the slot: accepted. */
	assert_int_equal(vendor_of(vm, (unsigned)slot), 0x12341af4);
	assert_int_equal(vm_hotplug_wait(vm, (unsigned)slot, VM_SLOT_ACCEPTED, 1000), 0);
	/* Not yet released by the guest: removal without force is refused. */
	assert_int_equal(vm_hotplug_remove(vm, (unsigned)slot, false, &back), -EBUSY);
	/* Eject request: PCID, the guest's _EJ0 writes B0EJ. */
	assert_int_equal(vm_hotplug_request_eject(vm, (unsigned)slot), 0);
	assert_int_equal(vm_hotplug_state(vm, (unsigned)slot), VM_SLOT_EJECT_REQUESTED);
	assert_int_equal(pio_read(vm, GPE_STS, 2), 0x2);
	assert_int_equal(pio_read(vm, PCID, 4), 1u << slot);
	pio_write(vm, B0EJ, 4, 1u << slot);
	assert_int_equal(vm_hotplug_wait(vm, (unsigned)slot, VM_SLOT_EJECTED, 1000), 0);
	assert_int_equal(vm_hotplug_remove(vm, (unsigned)slot, false, &back), 0);
	assert_ptr_equal(back, &x->pci);
	assert_int_equal(vm_hotplug_state(vm, (unsigned)slot), VM_SLOT_EMPTY);
	assert_int_equal(vendor_of(vm, (unsigned)slot), 0xffffffff);
	dev_free(x);
	/* The slot can be used again. */
	x = dev_new();
	assert_int_equal(vm_hotplug_add(vm, &x->pci, slot), slot);
	pio_write(vm, B0EJ, 4, 1u << slot); /* a guest may eject on its own (attention button, sysfs) */
	assert_int_equal(vm_hotplug_state(vm, (unsigned)slot), VM_SLOT_EJECTED);
	assert_int_equal(vm_hotplug_remove(vm, (unsigned)slot, false, &back), 0);
	dev_free(x);
}

static void test_timeout_and_force(void **state)
{
	struct vm *vm = *state;
	struct vm_pci_device *back = NULL;
	struct dev *x;
	int slot;

	if (!vm)
		TEST_SKIP("kvm", "no usable /dev/kvm");
	x = dev_new();
	slot = vm_hotplug_add(vm, &x->pci, 7);
	assert_int_equal(slot, 7);
	assert_int_equal(pio_read(vm, PCIU, 4), 1u << 7);
	assert_int_equal(vm_hotplug_request_eject(vm, 7), 0);
	/* A guest that does not answer (hot-plug driver missing): the wait times out, the device stays. */
	assert_int_equal(vm_hotplug_wait(vm, 7, VM_SLOT_EJECTED, 50), -ETIMEDOUT);
	assert_int_equal(vm_hotplug_remove(vm, 7, false, &back), -EBUSY);
	assert_int_equal(vendor_of(vm, 7), 0x12341af4);
	/* Forced (surprise) removal: gone from the bus, and the guest is told to rescan the slot. */
	pio_read(vm, PCID, 4);
	pio_write(vm, GPE_STS, 2, 0x2);
	assert_int_equal(vm_hotplug_remove(vm, 7, true, &back), 0);
	assert_ptr_equal(back, &x->pci);
	assert_int_equal(vendor_of(vm, 7), 0xffffffff);
	assert_int_equal(pio_read(vm, PCIU, 4), 1u << 7);
	assert_int_equal(pio_read(vm, GPE_STS, 2), 0x2);
	dev_free(x);
}

static void test_hostile_guest(void **state)
{
	struct vm *vm = *state;
	struct vm_pci_device *back = NULL;

	if (!vm)
		TEST_SKIP("kvm", "no usable /dev/kvm");
	/* Ejecting empty slots, the host bridge, everything at once: nothing changes. */
	pio_write(vm, B0EJ, 4, 0xffffffff);
	for (unsigned s = 0; s < 32; s++)
		assert_int_equal(vm_hotplug_state(vm, s), VM_SLOT_EMPTY);
	assert_int_equal(vendor_of(vm, 0), 0x00081b36); /* the host bridge stays */
	/* Odd widths and offsets are ignored; reads beyond the block are zero; GPE enable keeps its bits. */
	pio_write(vm, B0EJ, 2, 0xffff);
	pio_write(vm, VM_PORT_HOTPLUG + 1, 1, 0xff);
	assert_int_equal(pio_read(vm, VM_PORT_HOTPLUG + 2, 2), 0);
	pio_write(vm, GPE_EN, 2, 0xffff);
	assert_int_equal(pio_read(vm, GPE_EN, 2), 0xffff);
	pio_write(vm, GPE_STS, 2, 0xffff); /* nothing pending: clearing is harmless */
	assert_int_equal(vm->hotplug.sci_level, 0);
	/* The VMM side refuses what makes no sense. */
	assert_int_equal(vm_hotplug_request_eject(vm, 0), -EINVAL);
	assert_int_equal(vm_hotplug_request_eject(vm, 32), -EINVAL);
	assert_int_equal(vm_hotplug_request_eject(vm, 5), -ENOENT);
	assert_int_equal(vm_hotplug_remove(vm, 5, true, &back), -ENOENT);
}

/* Another "vCPU" keeps touching the slot's config space and BAR while the device comes and goes: removal
 * waits for accesses in flight (under ASan a use after free would show here). */
struct hammer {
	struct vm *vm;
	_Atomic bool stop;
	uint64_t bar;
};

static void *hammer(void *arg)
{
	struct hammer *h = arg;
	while (!h->stop) {
		uint8_t d[4];
		vendor_of(h->vm, 9);
		vm_io_dispatch(h->vm, true, h->bar, d, 4, false);
	}
	return NULL;
}

static void test_remove_under_load(void **state)
{
	struct vm *vm = *state;
	struct hammer h = { .vm = vm };
	pthread_t t;

	if (!vm)
		TEST_SKIP("kvm", "no usable /dev/kvm");
	for (int i = 0; i < 200; i++) {
		struct dev *x = dev_new();
		struct vm_pci_device *back = NULL;
		assert_int_equal(vm_hotplug_add(vm, &x->pci, 9), 9);
		h.bar = x->pci.bars[0].addr;
		if (i == 0)
			assert_int_equal(pthread_create(&t, NULL, hammer, &h), 0);
		/* The hammer is the guest here: it enables memory decode so BAR accesses reach the device. */
		pio_write(vm, 0xcf8, 4, 0x80000000u | 9 << 11 | 0x04);
		pio_write(vm, 0xcfc, 2, 0x2);
		usleep(200);
		assert_int_equal(vm_hotplug_remove(vm, 9, true, &back), 0);
		dev_free(x);
	}
	h.stop = true;
	pthread_join(t, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plug_accept_eject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_and_force, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_guest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_under_load, setup, teardown),
	};
	return test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
