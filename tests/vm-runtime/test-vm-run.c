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
#include <signal.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>

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
/* cli; hlt: halted for good */
static const uint8_t halt[] = { 0xfa, 0xf4 };
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
	char why[160]; /* vm_exit_why */
};

static unsigned stop_after_ms = 200; /* when a stopper ends the guest */

static void *stop_later(void *arg)
{
	usleep(stop_after_ms * 1000);
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
	snprintf(res->why, sizeof(res->why), "%s", vm_exit_why(vm));
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
	assert_string_equal(r.why, "i8042 reset pulse");
	run_payload(acpi_reset, sizeof(acpi_reset), NULL, 1, &r, false);
	assert_int_equal(r.reason, VM_EXIT_REBOOT);
	assert_string_equal(r.why, "ACPI reset register");
	/* a triple fault names where it happened: the ud2 at offset 7 of the payload */
	run_payload(triple, sizeof(triple), NULL, 1, &r, false);
	assert_int_equal(r.reason, VM_EXIT_REBOOT);
	printf("triple fault: %s\n", r.why);
	assert_true(strncmp(r.why, "triple fault on vCPU 0 at rip=0x", 32) == 0);
	assert_int_equal(strtoull(r.why + 30, NULL, 16) % 0x1000, 7);
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
	assert_string_equal(r.why, ""); /* 200 ms without an exit is no stall */
}

/* A stop after 2.5 s with no exit names the vCPU and what it was doing: spinning at the jmp (or, on a
 * machine too busy to run it, not run by the host), or halted at the instruction after the hlt. */
static void test_stop_stalled(void **s)
{
	static struct run r;
	unsigned long long rip;
	const char *p;
	(void)s;
	if (!test_have_kvm())
		TEST_SKIP("kvm", "no usable /dev/kvm");
	stop_after_ms = 2500;
	run_payload(spin, sizeof(spin), NULL, 1, &r, true);
	printf("spin: %s\n", r.why);
	assert_int_equal(r.reason, VM_EXIT_STOPPED);
	assert_true(strncmp(r.why, "vCPU 0 had made no exit for ", 28) == 0);
	assert_true(strstr(r.why, ": spinning in the guest (") || strstr(r.why, ": not run by the host ("));
	assert_non_null(p = strstr(r.why, "rip=0x"));
	rip = strtoull(p + 4, NULL, 16);
	assert_int_equal(rip % 0x1000, 0);

	run_payload(halt, sizeof(halt), NULL, 1, &r, true);
	printf("halt: %s\n", r.why);
	assert_true(strncmp(r.why, "vCPU 0 had made no exit for ", 28) == 0);
	assert_non_null(strstr(r.why, ": halted in the guest ("));
	assert_non_null(p = strstr(r.why, "rip=0x"));
	rip = strtoull(p + 4, NULL, 16);
	assert_int_equal(rip % 0x1000, 2);
	stop_after_ms = 200;
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

/* Stops the VM once its console has dropped output (or after 20 s). */
static void *stop_when_dropping(void *arg)
{
	struct vm *vm = arg;
	for (int i = 0; i < 2000 && !__atomic_load_n(&vm->cdropped, __ATOMIC_RELAXED); i++)
		usleep(10 * 1000);
	vm_request_stop(vm);
	return NULL;
}

/* A console nobody reads (a full pipe) must not stall the vCPU that prints, nor the stop: the guest
 * prints 1 MiB into a 4 KiB pipe; its output past the buffer is dropped, then it is stopped and ends. */
static void test_stalled_console(void **s)
{
	int p[2];
	struct vm_config cfg = { .name = "t", .memory = 64 << 20, .cpus = 1, .console_in = -1 };
	struct vm *vm = NULL;
	const char *why = NULL;
	enum vm_exit_reason reason;
	uint8_t buf[sizeof(print)];
	pthread_t t;
	const size_t len = 1 << 20;

	(void)s;
	if (!test_have_kvm())
		TEST_SKIP("kvm", "no usable /dev/kvm");
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	cfg.console_out = p[1];
	assert_int_equal(vm_new(&cfg, &vm, &why), 0);
	memset(vm_gpa_to_hva(vm, 0x200000, len), 'x', len);
	memcpy(buf, print, sizeof(print));
	put_le32(buf + 10, (uint32_t)len);
	assert_int_equal(vm_load_raw(vm, buf, sizeof(buf)), 0);
	assert_int_equal(pthread_create(&t, NULL, stop_when_dropping, vm), 0);
	assert_int_equal(vm_run(vm, &reason), 0);
	pthread_join(t, NULL);
	assert_int_equal(reason, VM_EXIT_STOPPED);
	/* The guest got through its output: what the console could not take was dropped, not waited for. */
	assert_true(vm->cdropped > 0);
	vm_free(vm);
	close(p[0]);
	close(p[1]);
}

/* The control socket serves clients as their lines arrive: one that sent half a command does not hold up
 * another, and still gets its answer when it finishes the line. Registered commands answer too. */
static int echo_cmd(struct vm *vm, const char *args, char **reply, void *opaque)
{
	(void)vm;
	(void)opaque;
	return asprintf(reply, "echo %s", args) < 0 ? -ENOMEM : 0;
}

struct ctl_test {
	struct vm *vm;
	char path[64];
	char *b_reply, *c_reply, *a_reply;
};

static void *ctl_clients(void *arg)
{
	struct ctl_test *t = arg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[128] = "";
	int a = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", t->path);
	for (int i = 0; i < 200 && connect(a, (struct sockaddr *)&sa, sizeof(sa)) < 0; i++)
		usleep(10 * 1000);
	if (write(a, "sta", 3) != 3)
		goto out;
	usleep(50 * 1000);
	vm_control_request(t->path, "status", &t->b_reply);
	vm_control_request(t->path, "echo a b", &t->c_reply);
	if (write(a, "tus\n", 4) == 4) {
		ssize_t k = read(a, buf, sizeof(buf) - 1);
		if (k > 0)
			buf[k] = '\0';
		t->a_reply = strdup(buf);
	}
out:
	close(a);
	vm_request_stop(t->vm);
	return NULL;
}

static void test_control_event_driven(void **s)
{
	struct vm_config cfg = { .name = "ctl", .memory = 32 << 20, .cpus = 1, .console_in = -1, .console_out = -1 };
	struct ctl_test t = { .vm = NULL };
	const char *why = NULL;
	enum vm_exit_reason reason;
	pthread_t th;

	(void)s;
	if (!test_have_kvm())
		TEST_SKIP("kvm", "no usable /dev/kvm");
	snprintf(t.path, sizeof(t.path), "/tmp/ptctl-test-ctl-%ld", (long)getpid());
	assert_int_equal(vm_new(&cfg, &t.vm, &why), 0);
	assert_int_equal(vm_load_raw(t.vm, spin, sizeof(spin)), 0);
	assert_int_equal(vm_control_listen(t.vm, t.path), 0);
	assert_int_equal(vm_control_register(t.vm, "echo", echo_cmd, NULL), 0);
	assert_int_equal(vm_control_register(t.vm, "echo", echo_cmd, NULL), -EEXIST);
	assert_int_equal(pthread_create(&th, NULL, ctl_clients, &t), 0);
	assert_int_equal(vm_run(t.vm, &reason), 0);
	pthread_join(th, NULL);
	vm_free(t.vm);
	assert_non_null(t.b_reply);
	assert_true(strncmp(t.b_reply, "running name=ctl", 16) == 0);
	assert_non_null(t.c_reply);
	assert_string_equal(t.c_reply, "echo a b");
	assert_non_null(t.a_reply);
	assert_true(strncmp(t.a_reply, "running name=ctl", 16) == 0);
	free(t.a_reply);
	free(t.b_reply);
	free(t.c_reply);
}

/* A vCPU thread runs confined: what a device handler does on it may not open files, make sockets or
 * start processes (EPERM), while the calls a data path needs (eventfd write, clock) still work. The guest
 * writes to a port whose handler tries each, then powers off. */
struct sandbox_probe {
	int open_errno, socket_errno, fork_errno, efd_ok; /* fork_errno: kill()'s */
	int thread_rc, thread_ran;
	pid_t tid;
	int efd;
};

static void *sandbox_thread_fn(void *arg)
{
	*(int *)arg = 1;
	return NULL;
}

static void sandbox_port(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	pthread_t t;
	struct sandbox_probe *p = opaque;
	uint64_t one = 1;
	(void)off;
	(void)data;
	(void)len;
	if (!is_write)
		return;
	p->tid = gettid();
	p->open_errno = open("/etc/hostname", O_RDONLY | O_CLOEXEC) < 0 ? errno : 0;
	p->socket_errno = socket(AF_UNIX, SOCK_STREAM, 0) < 0 ? errno : 0;
	/* kill() with signal 0 only checks: harmless if allowed, refused under the filter. */
	p->fork_errno = kill(getpid(), 0) < 0 ? errno : 0;
	p->efd_ok = write(p->efd, &one, sizeof(one)) == sizeof(one);
	/* A model may start a thread from a vCPU (virtio-net's data path at DRIVER_OK): allowed. */
	p->thread_rc = pthread_create(&t, NULL, sandbox_thread_fn, &p->thread_ran);
	if (p->thread_rc == 0)
		pthread_join(t, NULL);
}

static void run_sandbox_probe(bool no_sandbox, struct sandbox_probe *p)
{
	/* mov $0x510,%dx; out %al,(%dx); then S5 as in hello */
	static const uint8_t code[] = { 0x66, 0xba, 0x10, 0x05, 0xee, 0x66, 0xba, 0x04, 0x06,
					0x66, 0xb8, 0x00, 0x34, 0x66, 0xef, 0xf4, 0xeb, 0xfd };
	struct vm_config cfg = { .name = "sb", .memory = 32 << 20, .cpus = 1, .console_in = -1, .console_out = -1,
				 .no_sandbox = no_sandbox };
	struct vm *vm = NULL;
	const char *why = NULL;
	enum vm_exit_reason reason;

	*p = (struct sandbox_probe){ .open_errno = -1, .efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) };
	assert_true(p->efd >= 0);
	assert_int_equal(vm_new(&cfg, &vm, &why), 0);
	assert_int_equal(vm_pio_register(vm, 0x510, 1, sandbox_port, p), 0);
	assert_int_equal(vm_load_raw(vm, code, sizeof(code)), 0);
	assert_int_equal(vm_run(vm, &reason), 0);
	assert_int_equal(reason, VM_EXIT_POWEROFF);
	vm_free(vm);
	close(p->efd);
}

static void test_vcpu_sandbox(void **s)
{
	struct sandbox_probe p;
	(void)s;
	if (!test_have_kvm())
		TEST_SKIP("kvm", "no usable /dev/kvm");
	run_sandbox_probe(false, &p);
	assert_int_equal(p.open_errno, EPERM);
	assert_int_equal(p.socket_errno, EPERM);
	assert_int_equal(p.fork_errno, EPERM);
	assert_true(p.efd_ok);
	assert_int_equal(p.thread_rc, 0);
	assert_int_equal(p.thread_ran, 1);
	/* The same handler on an unconfined vCPU (no_sandbox) can open the file: the filter made the difference. */
	run_sandbox_probe(true, &p);
	assert_int_equal(p.open_errno, 0);
	assert_int_equal(p.socket_errno, 0);
	assert_int_equal(p.fork_errno, 0);
	assert_true(p.efd_ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_poweroff),
		cmocka_unit_test(test_stalled_console), cmocka_unit_test(test_control_event_driven),
		cmocka_unit_test(test_vcpu_sandbox), cmocka_unit_test(test_two_vcpus), cmocka_unit_test(test_reboots),
		cmocka_unit_test(test_panic),          cmocka_unit_test(test_stop),
		cmocka_unit_test(test_stop_stalled),      cmocka_unit_test(test_hostile),
	};
	return test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
