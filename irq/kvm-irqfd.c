/* kvm-irqfd.c: KVM irqfd, which turns an eventfd signal into a GSI injection inside the kernel, and
 * the capability checks that say whether this VM can do it (and level-triggered resampling). */
#include <sys/ioctl.h>

#include "irq/irq.h"
#include "util/log.h"

int irq_kvm_caps(int vm_fd, struct irq_kvm_caps *ret)
{
	int irqfd, resample, routing;

	irqfd = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD);
	resample = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD_RESAMPLE);
	routing = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING);
	if (irqfd < 0 || resample < 0 || routing < 0)
		return negative_errno();
	*ret = (struct irq_kvm_caps){
		.irqfd = irqfd > 0,
		.irqfd_resample = resample > 0,
		.routes_max = (unsigned)routing,
	};
	return 0;
}

int irq_irqfd_build(uint32_t gsi, int fd, int resample_fd, bool deassign, struct kvm_irqfd *ret)
{
	if (fd < 0 || resample_fd < -1 || (deassign && resample_fd >= 0))
		return -EBADF;
	*ret = (struct kvm_irqfd){
		.fd = (uint32_t)fd,
		.gsi = gsi,
		.flags = deassign ? KVM_IRQFD_FLAG_DEASSIGN : resample_fd >= 0 ? KVM_IRQFD_FLAG_RESAMPLE : 0,
		.resamplefd = resample_fd >= 0 ? (uint32_t)resample_fd : 0,
	};
	return 0;
}

static int irqfd_ioctl(int vm_fd, const struct kvm_irqfd *arg)
{
	if (ioctl(vm_fd, KVM_IRQFD, arg) < 0) {
		int r = negative_errno();
		log_debug("KVM_IRQFD gsi %u fd %u flags 0x%x: %s", arg->gsi, arg->fd, arg->flags, strerror(-r));
		return r;
	}
	return 0;
}

int irq_irqfd_assign(int vm_fd, uint32_t gsi, int fd, int resample_fd)
{
	struct kvm_irqfd arg;
	int r = irq_irqfd_build(gsi, fd, resample_fd, false, &arg);

	return r < 0 ? r : irqfd_ioctl(vm_fd, &arg);
}

int irq_irqfd_deassign(int vm_fd, uint32_t gsi, int fd)
{
	struct kvm_irqfd arg;
	int r = irq_irqfd_build(gsi, fd, -1, true, &arg);

	return r < 0 ? r : irqfd_ioctl(vm_fd, &arg);
}
