/* kvm-lapic.h: a bare KVM VM for interrupt tests (in-kernel irqchip, one vCPU that never runs) and
 * its local APIC as the proof of delivery: a vector that arrived is pending in the IRR. */
#pragma once

#include <fcntl.h>
#include <sys/ioctl.h>
#include <time.h>

#include <linux/kvm.h>

#include "util/util.h"

#define LAPIC_SVR 0xf0
#define LAPIC_TMR 0x180
#define LAPIC_IRR 0x200

struct test_vm {
	int kvm, vm, vcpu;
};

static inline void test_vm_close(struct test_vm *t)
{
	if (t->vcpu >= 0)
		close(t->vcpu);
	if (t->vm >= 0)
		close(t->vm);
	if (t->kvm >= 0)
		close(t->kvm);
	*t = (struct test_vm){ .kvm = -1, .vm = -1, .vcpu = -1 };
}

/* The vector's bit in one of the LAPIC's 256-bit registers (eight 32-bit words, 16 bytes apart). */
static inline bool lapic_bit(const struct kvm_lapic_state *s, unsigned reg, unsigned vector)
{
	uint32_t w;
	memcpy(&w, s->regs + reg + (vector / 32) * 0x10, sizeof(w));
	return w >> (vector % 32) & 1;
}

static inline int lapic_get(const struct test_vm *t, struct kvm_lapic_state *s)
{
	return ioctl(t->vcpu, KVM_GET_LAPIC, s) < 0 ? negative_errno() : 0;
}

/* Software-enables the APIC (SVR bit 8: a disabled APIC drops fixed interrupts instead of latching
 * them) and clears IRR and ISR, so the next check sees only what arrives from now on. */
static inline int lapic_reset_pending(const struct test_vm *t)
{
	struct kvm_lapic_state s;
	uint32_t svr;
	int r = lapic_get(t, &s);

	if (r < 0)
		return r;
	memcpy(&svr, s.regs + LAPIC_SVR, sizeof(svr));
	svr |= 0x100 | 0xff;
	memcpy(s.regs + LAPIC_SVR, &svr, sizeof(svr));
	for (unsigned i = 0; i < 8; i++) {
		memset(s.regs + LAPIC_IRR + i * 0x10, 0, 4);
		memset(s.regs + 0x100 + i * 0x10, 0, 4); /* ISR */
	}
	return ioctl(t->vcpu, KVM_SET_LAPIC, &s) < 0 ? negative_errno() : 0;
}

/* Polls for the vector in the IRR: irqfd injection may run from a kernel work item, after write()
 * returns. 1 pending, 0 not within timeout_ms. */
static inline int lapic_wait_irr(const struct test_vm *t, unsigned vector, int timeout_ms)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct kvm_lapic_state s;
		int r = lapic_get(t, &s);
		if (r < 0)
			return r;
		if (lapic_bit(&s, LAPIC_IRR, vector))
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >= timeout_ms)
			return 0;
		usleep(1000);
	}
}

/* A VM (with the in-kernel irqchip when asked) and vCPU 0 with its APIC enabled. */
static inline int test_vm_open(struct test_vm *t, bool irqchip)
{
	int r;

	*t = (struct test_vm){ .kvm = -1, .vm = -1, .vcpu = -1 };
	t->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (t->kvm < 0)
		return negative_errno();
	t->vm = ioctl(t->kvm, KVM_CREATE_VM, 0);
	if (t->vm < 0)
		goto fail;
	if (irqchip && ioctl(t->vm, KVM_CREATE_IRQCHIP, 0) < 0)
		goto fail;
	t->vcpu = ioctl(t->vm, KVM_CREATE_VCPU, 0);
	if (t->vcpu < 0)
		goto fail;
	if (irqchip) {
		r = lapic_reset_pending(t);
		if (r < 0) {
			test_vm_close(t);
			return r;
		}
	}
	return 0;
fail:
	r = negative_errno();
	test_vm_close(t);
	return r;
}
