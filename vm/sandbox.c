/* sandbox.c: confinement of the threads that act on guest-controlled input (vCPUs, device I/O threads):
 * no new privileges and a seccomp filter that allows only the system calls those loops make. */
#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>

#include "internal.h"
#include "util/log.h"

/* What a vCPU or a device's data path does: KVM and VFIO ioctls, reads and writes on descriptors it
 * already holds (eventfds, taps, device regions, the console), polling, memory for malloc, time, and
 * thread lifetime. No open, socket, exec, fork, kill, ptrace, mount, or file-system changes: a guest that
 * finds a bug in a device model still cannot reach the host's files or start processes. */
static const int allowed[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(pread64), SCMP_SYS(pwrite64),
	SCMP_SYS(preadv), SCMP_SYS(pwritev), SCMP_SYS(lseek), SCMP_SYS(ioctl), SCMP_SYS(close),
	SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(epoll_wait),
	SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl), SCMP_SYS(sendto), SCMP_SYS(sendmsg), SCMP_SYS(recvfrom),
	SCMP_SYS(recvmsg), SCMP_SYS(futex), SCMP_SYS(sched_yield), SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep),
	SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday), SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(tgkill),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(sigaltstack), SCMP_SYS(restart_syscall),
	SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise), SCMP_SYS(brk), SCMP_SYS(mprotect),
	SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(set_robust_list), SCMP_SYS(rseq), SCMP_SYS(getrandom),
	SCMP_SYS(sched_getaffinity), /* pthread_getattr_np (thread start under ASan) */
};

int vm_sandbox_thread(void)
{
	scmp_filter_ctx ctx;
	int r;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return negative_errno();
	/* A refused call fails with EPERM rather than killing the VMM: a model that strays reports an error
	 * the VMM can log and survive; the guest gains nothing either way. */
	ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(allowed); i++) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
		if (r < 0)
			goto out;
	}
	/* Threads, not processes: a model may start its data-path thread when the guest enables it (virtio's
	 * DRIVER_OK arrives on a vCPU). clone is allowed with CLONE_THREAD only, so fork stays refused; clone3
	 * takes its flags in memory a filter cannot read, so it answers ENOSYS and glibc falls back to clone. */
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	if (r < 0)
		goto out;
	r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (r < 0)
		goto out;
	r = seccomp_load(ctx); /* this thread only: the main loop keeps what setup and teardown need */
out:
	seccomp_release(ctx);
	return r < 0 ? r : 0;
}
