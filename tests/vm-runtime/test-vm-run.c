/* test-vm-run.c: the run loop on this machine's /dev/kvm with tiny 64-bit payloads: console output,
 * ACPI power-off, i8042 and triple-fault reboot, panic detection, stop requests, 2 vCPUs, and a hostile
 * payload poking PCI config, ECAM, unbacked MMIO and string I/O with huge counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>

#include "tests/lib/testskip.h"
#include "vm/internal.h"
#include "vm/vm.h"

/* mov $0x3f8,%dx; mov $'O',%al; out; mov $'K',%al; out; mov $0x604,%dx; mov $(5<<10|1<<13),%ax; out; 1: hlt; jmp 1b */
static const uint8_t hello[] = { 0x66, 0xba, 0xf8, 0x03, 0xb0, 0x4f, 0xee, 0xb0, 0x4b, 0xee, 0x66, 0xba,
				 0x04, 0x06, 0x66, 0xb8, 0x00, 0x34, 0x66, 0xef, 0xf4, 0xeb, 0xfd };
/* mov $0x64,%dx; mov $0xfe,%al; out; 1: hlt; jmp 1b */
static const uint8_t kbd_reset[] = { 0x66, 0xba, 0x64, 0x00, 0xb0, 0xfe, 0xee, 0xf4, 0xeb, 0xfd };
/* mov $0x60c,%dx; mov $0x0e,%al; out (the FADT's reset register and value); 1: hlt; jmp 1b */
static const uint8_t acpi_reset[] = { 0x66, 0xba, 0x0c, 0x06, 0xb0, 0x0e, 0xee, 0xf4, 0xeb, 0xfd };
/* lidt (an empty IDT); ud2: the #UD cannot be delivered, the CPU shuts down */
static const uint8_t triple[] = { 0x0f, 0x01, 0x1d, 0x02, 0x00, 0x00, 0x00, 0x0f, 0x0b, 0x00,
				  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
/* mov $0x3f8,%dx; mov $0x200000,%esi; mov $LEN,%ecx; rep outsb; 1: hlt; jmp 1b (LEN at offset 10) */
static const uint8_t print[] = { 0x66, 0xba, 0xf8, 0x03, 0xbe, 0x00, 0x00, 0x20, 0x00, 0xb9,
				 0x00, 0x00, 0x00, 0x00, 0xf3, 0x6e, 0xf4, 0xeb, 0xfd };
/* 1: jmp 1b */
static const uint8_t spin[] = { 0xeb, 0xfe };
/* PCI config through 0xcf8/0xcfc with the enable bit and bus 0xff, odd widths and offsets; ECAM's last
 * dword, a straddling read, a write past the window; unbacked MMIO; rep outsb of 64 KiB to the UART;
 * rep insw of 32 Ki words from an unclaimed port into RAM; PM registers at odd offsets; then 'Z' and S5. */
static const uint8_t hostile[] = {
	0x66, 0xba, 0xf8, 0x0c, 0xb8, 0x00, 0xff, 0xff, 0x80, 0xef, 0x66, 0xba, 0xfc, 0x0c, 0xed, 0x66, 0xba, 0xfe,
	0x0c, 0x66, 0xed, 0x66, 0xba, 0xf8, 0x0c, 0xb8, 0xfc, 0x00, 0x00, 0x80, 0xef, 0x66, 0xba, 0xff, 0x0c, 0xb0,
	0x12, 0xee, 0xed, 0xbb, 0xfc, 0xff, 0x0f, 0xe0, 0x8b, 0x03, 0x89, 0x03, 0xbb, 0xfe, 0xff, 0x0f, 0xe0, 0x8b,
	0x03, 0xbb, 0x00, 0x00, 0x10, 0xe0, 0xc7, 0x03, 0xef, 0xbe, 0xad, 0xde, 0x48, 0x8b, 0x03, 0xbb, 0x00, 0x00,
	0x00, 0xd0, 0x48, 0x8b, 0x03, 0x48, 0xc7, 0x03, 0xff, 0xff, 0xff, 0xff, 0x66, 0xba, 0xf8, 0x03, 0xbe, 0x00,
	0x00, 0x20, 0x00, 0xb9, 0x00, 0x00, 0x01, 0x00, 0xf3, 0x6e, 0x66, 0xba, 0x34, 0x12, 0xbf, 0x00, 0x00, 0x30,
	0x00, 0xb9, 0x00, 0x80, 0x00, 0x00, 0x66, 0xf3, 0x6d, 0x66, 0xba, 0x05, 0x06, 0xb0, 0xff, 0xee, 0x66, 0xba,
	0x0f, 0x06, 0xec, 0x66, 0xba, 0x0e, 0x06, 0xed, 0x66, 0xba, 0xf8, 0x03, 0xb0, 0x5a, 0xee, 0x66, 0xba, 0x04,
	0x06, 0x66, 0xb8, 0x00, 0x34, 0x66, 0xef, 0xf4, 0xeb, 0xfd,
};

struct run {
	enum vm_exit_reason reason;
	char out[1 << 17];
	size_t out_len;
};

static void *stop_later(void *arg)
{
	usleep(200 * 1000);
	vm_request_stop(arg);
	return NULL;
}

/* Builds a VM with cpus vCPUs, loads code (and text at 0x200000 if given), runs it to its end. */
static void run_payload(const uint8_t *code, size_t len, const char *text, unsigned cpus, struct run *res,
			bool stopper)
{
	int out = memfd_create("console", MFD_CLOEXEC);
	struct vm_config cfg = { .name = "t", .memory = 64 << 20, .cpus = cpus, .console_in = -1, .console_out = out };
	struct vm *vm = NULL;
	const char *why = NULL;
	uint8_t buf[256];

	assert_true(out >= 0);
	assert_int_equal(vm_new(&cfg, &vm, &why), 0);
	assert_true(len <= sizeof(buf));
	memcpy(buf, code, len);
	if (text) {
		size_t tl = strlen(text);
		memcpy(vm_gpa_to_hva(vm, 0x200000, tl), text, tl);
		put_le32(buf + 10, (uint32_t)tl);
	}
	assert_int_equal(vm_load_raw(vm, buf, len), 0);
	pthread_t t;
	/* A stopper ends a guest that would run forever 200 ms in; it is gone before the VM is freed. */
	if (stopper)
		assert_int_equal(pthread_create(&t, NULL, stop_later, vm), 0);
	assert_int_equal(vm_run(vm, &res->reason), 0);
	if (stopper) {
		pthread_cancel(t);
		pthread_join(t, NULL);
	}
	vm_free(vm);
	res->out_len = (size_t)pread(out, res->out, sizeof(res->out) - 1, 0);
	res->out[res->out_len] = '\0';
	close(out);
}

static void test_hello_poweroff(void **s)
{
	static struct run r;
	(void)s;
	if (!test_have_kvm())
		TEST_SKIP("kvm", "no usable /dev/kvm");
	run_payload(hello, sizeof(hello), NULL, 1, &r, false);
	assert_int_equal(r.reason, VM_EXIT_POWEROFF);
	assert_int_equal(vm_exit_status(r.reason), 0);
	assert_string_equal(r.out, "OK");
}

static void test_two_vcpus(void **s)
{
	static struct run r;
	(void)s;
	if (!test_have_kvm())
		TEST_SKIP("kvm", "no usable /dev/kvm");
	/* vCPU 1 waits for a SIPI that never comes: ending the VM must still stop and join it. */
	run_payload(hello, sizeof(hello), NULL, 2, &r, false);
	assert_int_equal(r.reason, VM_EXIT_POWEROFF);
	assert_string_equal(r.out, "OK");
}

static void test_reboots(void **s)
{
	static struct run r;
	(void)s;
	if (!test_have_kvm())
		TEST_SKIP("kvm", "no usable /dev/kvm");
	run_payload(kbd_reset, sizeof(kbd_reset), NULL, 1, &r, false);
	assert_int_equal(r.reason, VM_EXIT_REBOOT);
	assert_int_equal(vm_exit_status(r.reason), 3);
	run_payload(acpi_reset, sizeof(acpi_reset), NULL, 1, &r, false);
	assert_int_equal(r.reason, VM_EXIT_REBOOT);
	run_payload(triple, sizeof(triple), NULL, 1, &r, false);
	assert_int_equal(r.reason, VM_EXIT_REBOOT);
}

static void test_panic(void **s)
{
	static struct run r;
	const char *text = "[    1.0] Kernel panic - not syncing: Attempted to kill init!\n"
			   "[    1.0] ---[ end Kernel panic - not syncing: Attempted to kill init! ]---\n";
	(void)s;
	if (!test_have_kvm())
		TEST_SKIP("kvm", "no usable /dev/kvm");
	run_payload(print, sizeof(print), text, 1, &r, false);
	assert_int_equal(r.reason, VM_EXIT_PANIC);
	assert_int_equal(vm_exit_status(r.reason), 4);
	assert_string_equal(r.out, text);
	/* Dashes before the end marker, and a partial "Kernel pan" before the real one, still match. */
	run_payload(print, sizeof(print), "Kernel pan Kernel panic - not syncing: x\n----[ end Kernel panic ]---\n", 1, &r,
		    true); /* the stopper only bounds a failure: it would end it as "stopped" */
	assert_int_equal(r.reason, VM_EXIT_PANIC);
	/* The end line alone (no panic before it) is just text: the guest runs on until stopped. */
	run_payload(print, sizeof(print), "---[ end Kernel panic\n", 1, &r, true);
	assert_int_equal(r.reason, VM_EXIT_STOPPED);
}

static void test_stop(void **s)
{
	static struct run r;
	(void)s;
	if (!test_have_kvm())
		TEST_SKIP("kvm", "no usable /dev/kvm");
	run_payload(spin, sizeof(spin), NULL, 2, &r, true);
	assert_int_equal(r.reason, VM_EXIT_STOPPED);
	assert_int_equal(vm_exit_status(r.reason), 5);
}

static void test_hostile(void **s)
{
	static struct run r;
	(void)s;
	if (!test_have_kvm())
		TEST_SKIP("kvm", "no usable /dev/kvm");
	run_payload(hostile, sizeof(hostile), NULL, 1, &r, false);
	assert_int_equal(r.reason, VM_EXIT_POWEROFF);
	/* 64 KiB of NULs from the rep outsb, then the 'Z' that proves the VMM survived to the end. */
	assert_int_equal(r.out_len, 0x10000 + 1);
	assert_int_equal(r.out[r.out_len - 1], 'Z');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_poweroff), cmocka_unit_test(test_two_vcpus), cmocka_unit_test(test_reboots),
		cmocka_unit_test(test_panic),          cmocka_unit_test(test_stop),      cmocka_unit_test(test_hostile),
	};
	return test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
