/* vcpu.c: vCPUs: creation with per-CPU CPUID (APIC ID, topology), one thread each running KVM_RUN,
 * and the exit dispatch that hands port and MMIO accesses to the devices, bounds-checked. */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "internal.h"
#include "util/log.h"

#define SIG_KICK SIGUSR1
#define MAX_CPUID 256

/* CLOCK_MONOTONIC to a tick or so, from the vDSO without reading a clock device: cheap on every exit. */
static uint64_t coarse_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void kick_handler(int sig)
{
	(void)sig; /* only here so KVM_RUN returns EINTR */
}

static int supported_cpuid(struct vm *vm, struct kvm_cpuid2 **ret)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + MAX_CPUID * sizeof(struct kvm_cpuid_entry2));
	if (!c)
		return -ENOMEM;
	c->nent = MAX_CPUID;
	if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		int r = negative_errno();
		free(c);
		return r;
	}
	*ret = c;
	return 0;
}

static unsigned bits_for(unsigned n)
{
	unsigned b = 0;
	while ((1u << b) < n)
		b++;
	return b;
}

/* One socket, one thread per core, APIC ID = vCPU index: what the MADT says too. tsc_deadline: KVM
 * emulates the LAPIC's TSC-deadline mode but leaves the CPUID bit to the VMM; with it the guest programs
 * its timer with one MSR write and needs no LAPIC timer calibration. */
static void patch_cpuid(struct kvm_cpuid2 *c, unsigned id, unsigned ncpus, bool tsc_deadline)
{
	unsigned shift = bits_for(ncpus);

	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x0000ffff) | (id << 24) | ((ncpus > 1 ? (1u << shift) : 1) << 16);
			if (ncpus > 1)
				e->edx |= 1u << 28; /* HTT: the count field above is valid */
			e->ecx |= 1u << 31;         /* running under a hypervisor */
			if (tsc_deadline)
				e->ecx |= 1u << 24; /* TSC-deadline timer */
			break;
		case 4:
			e->eax = (e->eax & 0x03ffffff) | ((ncpus - 1) << 26);
			break;
		case 0xb:
		case 0x1f:
			e->edx = id;
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = 1u << 8; /* level 0: SMT, one thread */
			} else if (e->index == 1) {
				e->eax = shift;
				e->ebx = ncpus;
				e->ecx = 2u << 8 | 1; /* level 1: cores */
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			break;
		case 0x80000008:
			e->ecx = (e->ecx & ~0xf0ffu) | (ncpus - 1) | (shift << 12);
			break;
		case 0x8000001e:
			e->eax = id;
			e->ebx = id & 0xff; /* core id, one thread per core */
			e->ecx = 0;
			break;
		default:
			break;
		}
	}
}

int vm_vcpu_create(struct vm *vm, unsigned id)
{
	struct vm_vcpu *v = &vm->vcpus[id];
	_cleanup_free_ struct kvm_cpuid2 *cpuid = NULL;
	int r, size;

	v->vm = vm;
	v->id = id;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0)
		return negative_errno();
	size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run))
		return size < 0 ? negative_errno() : -EIO;
	v->run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return negative_errno();
	}
	v->run_size = (size_t)size;
	r = supported_cpuid(vm, &cpuid);
	if (r < 0)
		return r;
	patch_cpuid(cpuid, id, vm->ncpus, ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0);
	if (ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0)
		return negative_errno();
	return 0;
}

void vm_vcpu_destroy(struct vm_vcpu *v)
{
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->fd > 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}

/* The vCPU's registers where it stopped, for the why of a crash: false when KVM cannot say. */
static bool registers(struct vm_vcpu *v, struct kvm_regs *regs, char *buf, size_t size)
{
	struct kvm_sregs sregs;

	if (ioctl(v->fd, KVM_GET_REGS, regs) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0) {
		snprintf(buf, size, "(registers unreadable)");
		return false;
	}
	snprintf(buf, size, "rip=0x%llx rsp=0x%llx rflags=0x%llx cr0=0x%llx cr2=0x%llx cr3=0x%llx cr4=0x%llx efer=0x%llx",
		 regs->rip, regs->rsp, regs->rflags, sregs.cr0, sregs.cr2, sregs.cr3, sregs.cr4, sregs.efer);
	return true;
}

static void vcpu_fail(struct vm_vcpu *v, const char *what, uint64_t detail)
{
	struct kvm_regs regs;
	char buf[200];

	registers(v, &regs, buf, sizeof(buf));
	log_debug("vcpu%u: %s (0x%" PRIx64 ") %s", v->id, what, detail, buf);
	vm_set_exit_why(v->vm, VM_EXIT_ERROR, "vCPU %u: %s (0x%" PRIx64 ")", v->id, what, detail);
}

/* A triple fault is a crash the guest could not report: where it happened is all there is to go on. */
static void vcpu_triple_fault(struct vm_vcpu *v)
{
	struct kvm_regs regs;
	char buf[200], at[40] = "";

	if (registers(v, &regs, buf, sizeof(buf)))
		snprintf(at, sizeof(at), " at rip=0x%llx", regs.rip);
	log_warning("vcpu%u: triple fault: %s", v->id, buf);
	vm_set_exit_why(v->vm, VM_EXIT_REBOOT, "triple fault on vCPU %u%s", v->id, at);
}

/* KVM fills the I/O exit, but its offsets are still checked against the mapping before use. */
static void handle_io(struct vm_vcpu *v)
{
	struct kvm_run *run = v->run;
	unsigned size = run->io.size, count = run->io.count;
	uint64_t off = run->io.data_offset;

	if ((size != 1 && size != 2 && size != 4) || count == 0 || off > v->run_size ||
	    (uint64_t)size * count > v->run_size - off) {
		vcpu_fail(v, "malformed I/O exit", off);
		return;
	}
	atomic_fetch_add(&v->vm->exits_io, 1);
	if (v->vm->port_exits)
		__atomic_fetch_add(&v->vm->port_exits[run->io.port], 1, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < count; i++)
		vm_io_dispatch(v->vm, false, run->io.port, (uint8_t *)run + off + (uint64_t)i * size, size,
			       run->io.direction == KVM_EXIT_IO_OUT);
}

static void handle_exit(struct vm_vcpu *v)
{
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		break;
	case KVM_EXIT_MMIO:
		if (run->mmio.len == 0 || run->mmio.len > sizeof(run->mmio.data)) {
			vcpu_fail(v, "malformed MMIO exit", run->mmio.len);
			break;
		}
		atomic_fetch_add(&v->vm->exits_mmio, 1);
		vm_io_dispatch(v->vm, true, run->mmio.phys_addr, run->mmio.data, run->mmio.len, run->mmio.is_write);
		break;
	case KVM_EXIT_INTR:
		atomic_fetch_add(&v->vm->exits_other, 1);
		break;
	case KVM_EXIT_SHUTDOWN:
		vcpu_triple_fault(v);
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
			vm_set_exit(v->vm, VM_EXIT_POWEROFF);
		else if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
			vm_set_exit_why(v->vm, VM_EXIT_REBOOT, "system reset event");
		else if (run->system_event.type == KVM_SYSTEM_EVENT_CRASH)
			vm_set_exit(v->vm, VM_EXIT_PANIC);
		else
			vcpu_fail(v, "unknown system event", run->system_event.type);
		break;
	case KVM_EXIT_HLT:
		vcpu_fail(v, "halted with the in-kernel irqchip missing", 0);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		vcpu_fail(v, "KVM could not enter the guest", run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		vcpu_fail(v, "KVM internal error", run->internal.suberror);
		break;
	default:
		vcpu_fail(v, "unexpected KVM exit", run->exit_reason);
		break;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vm_vcpu *v = arg;
	sigset_t set;

	if (v->vm->sandbox) {
		int r = vm_sandbox_thread();
		if (r < 0) {
			vcpu_fail(v, "cannot confine the vCPU thread (seccomp)", (uint64_t)-r);
			return NULL;
		}
	}
	atomic_store(&v->tid, (int)gettid());
	atomic_store_explicit(&v->last_exit_ns, coarse_ns(), memory_order_relaxed);
	sigemptyset(&set);
	sigaddset(&set, SIG_KICK);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	while (!atomic_load(&v->vm->state)) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				v->run->immediate_exit = 0;
				continue;
			}
			vcpu_fail(v, "KVM_RUN failed", (uint64_t)errno);
			break;
		}
		atomic_fetch_add_explicit(&v->exits, 1, memory_order_relaxed);
		atomic_store_explicit(&v->last_exit_ns, coarse_ns(), memory_order_relaxed);
		handle_exit(v);
	}
	return NULL;
}

int vm_vcpus_start(struct vm *vm)
{
	struct sigaction sa = { .sa_handler = kick_handler }; /* no SA_RESTART: KVM_RUN must return */
	sigset_t set, old;
	int r;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIG_KICK, &sa, NULL) < 0)
		return negative_errno();
	/* Threads start with the kick blocked and unblock it themselves; the caller keeps its mask. */
	sigemptyset(&set);
	sigaddset(&set, SIG_KICK);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	for (unsigned i = 0; i < vm->ncpus; i++) {
		r = -pthread_create(&vm->vcpus[i].thread, NULL, vcpu_thread, &vm->vcpus[i]);
		if (r < 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			vm_set_exit(vm, VM_EXIT_ERROR);
			return r;
		}
		vm->vcpus[i].thread_started = true;
		if (pthread_getcpuclockid(vm->vcpus[i].thread, &vm->vcpus[i].cpu_clock) != 0)
			vm->vcpus[i].cpu_clock = (clockid_t)-1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	vm_vcpus_watch(vm);
	return 0;
}

void vm_vcpus_kick(struct vm *vm)
{
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vm_vcpu *v = &vm->vcpus[i];
		if (v->run)
			v->run->immediate_exit = 1;
		if (v->thread_started)
			pthread_kill(v->thread, SIG_KICK);
	}
}

void vm_vcpus_join(struct vm *vm)
{
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vm_vcpu *v = &vm->vcpus[i];
		if (!v->thread_started)
			continue;
		/* A thread between its state check and KVM_RUN sees immediate_exit; keep kicking until it is gone. */
		while (pthread_tryjoin_np(v->thread, NULL) == EBUSY) {
			vm_vcpus_kick(vm);
			usleep(1000);
		}
		v->thread_started = false;
	}
}

/* ---- Stall notes ----
 * A guest that stops making progress says little from outside: a halted vCPU, one spinning in guest code
 * and one whose thread the host does not run all sit in KVM_RUN with no exit. The main loop notes when
 * each vCPU last made an exit; at a stop, the thread's state, the CPU time it got since and KVM's view
 * (halted or not, rip) tell them apart. */

static uint64_t ts_ns(const struct timespec *t)
{
	return (uint64_t)t->tv_sec * 1000000000u + (uint64_t)t->tv_nsec;
}

static uint64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return ts_ns(&t);
}

static bool thread_cpu_ns(const struct vm_vcpu *v, uint64_t *ns)
{
	struct timespec t;
	if (v->cpu_clock == (clockid_t)-1 || clock_gettime(v->cpu_clock, &t) < 0)
		return false;
	*ns = ts_ns(&t);
	return true;
}

/* The state letter of /proc/self/task/TID/stat (after the command name, which may hold anything). */
static char thread_state(int tid)
{
	char path[64], buf[512];
	const char *p;
	ssize_t n;
	int fd;

	if (tid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] >= 'A' && p[2] <= 'Z' ? p[2] : 0;
}

void vm_vcpus_watch(struct vm *vm)
{
	uint64_t now = mono_ns();

	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vm_vcpu *v = &vm->vcpus[i];
		uint64_t e = atomic_load_explicit(&v->exits, memory_order_relaxed);

		if (!v->thread_started || (v->seen_ns && e == v->seen_exits))
			continue;
		v->seen_exits = e;
		v->seen_ns = now;
		if (!thread_cpu_ns(v, &v->seen_cpu_ns))
			v->seen_cpu_ns = 0;
	}
}

void vm_vcpus_note_stalls(struct vm *vm)
{
	uint64_t now, coarse, cpu, last;

	vm_vcpus_watch(vm);
	now = mono_ns();
	coarse = coarse_ns();
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vm_vcpu *v = &vm->vcpus[i];

		v->stall_ns = 0;
		if (!v->thread_started || !v->seen_ns || !thread_cpu_ns(v, &cpu))
			continue; /* a thread already gone made its exit */
		last = atomic_load_explicit(&v->last_exit_ns, memory_order_relaxed);
		v->stall_ns = coarse >= last ? coarse - last : 0;
		/* the CPU the thread got since the watch last saw an exit, over the time since then */
		v->stall_window_ns = now - v->seen_ns;
		v->stall_cpu_ns = cpu >= v->seen_cpu_ns ? cpu - v->seen_cpu_ns : 0;
		v->stall_state = thread_state(atomic_load(&v->tid));
	}
}

bool vm_vcpus_describe_stalls(struct vm *vm, char *buf, size_t size)
{
	uint64_t longest = 0;

	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vm_vcpu *v = &vm->vcpus[i];
		struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };
		struct kvm_regs regs;
		char at[40] = "";
		const char *what;
		double secs = (double)v->stall_ns / 1e9, cpu = (double)v->stall_cpu_ns / 1e9,
		       window = (double)v->stall_window_ns / 1e9;

		if (v->fd < 0 || v->stall_ns < (uint64_t)VM_STALL_NOTE_SECS * 1000000000u)
			continue;
		if (ioctl(v->fd, KVM_GET_MP_STATE, &mp) < 0)
			mp.mp_state = KVM_MP_STATE_RUNNABLE;
		if (ioctl(v->fd, KVM_GET_REGS, &regs) == 0)
			snprintf(at, sizeof(at), ", rip=0x%llx", regs.rip);
		if (mp.mp_state == KVM_MP_STATE_HALTED)
			what = "halted in the guest";
		else if (v->stall_state && v->stall_state != 'R')
			what = "its thread asleep, the guest not halted";
		else if (v->stall_cpu_ns * 2 >= v->stall_window_ns)
			what = "spinning in the guest";
		else
			what = "not run by the host";
		log_info("vcpu%u: no exit for %.1f s before the stop: %s (%.1f of %.1f s on a CPU, thread state %c%s)",
			 v->id, secs, what, cpu, window, v->stall_state ? v->stall_state : '?', at);
		if (v->stall_ns > longest) {
			longest = v->stall_ns;
			snprintf(buf, size, "vCPU %u had made no exit for %.1f s: %s (%.1f of %.1f s on a CPU%s)", v->id, secs,
				 what, cpu, window, at);
		}
	}
	return longest > 0;
}
