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

int irq_kvm_route_msi(struct irq_routes *t, int fd, const struct irq_msi *msg, uint32_t *ret_gsi)
{
	uint32_t gsi;
	int r;

	if (irq_routes_dirty(t)) {
		/* Committing would also push someone else's pending changes; and rolling back ours
		 * would drop theirs. Refuse rather than mix them. */
		log_debug("route msi: the table has uncommitted changes");
		return -EBUSY;
	}
	r = irq_routes_alloc_gsi(t, &gsi);
	if (r < 0)
		return r;
	r = irq_routes_add_msi(t, gsi, msg);
	if (r < 0)
		goto release;
	r = irq_routes_commit(t);
	if (r < 0)
		goto rollback;
	r = irq_irqfd_assign(irq_routes_vm_fd(t), gsi, fd, -1);
	if (r < 0)
		goto unroute;
	*ret_gsi = gsi;
	return 0;
unroute:
	irq_routes_remove(t, gsi);
	if (irq_routes_commit(t) < 0)
		log_debug("route msi: GSI %u: could not take the route back out", gsi);
rollback:
	irq_routes_rollback(t);
release:
	irq_routes_release_gsi(t, gsi);
	return r;
}

int irq_kvm_unroute_msi(struct irq_routes *t, uint32_t gsi, int fd)
{
	struct irq_msi msg;
	int r;

	/* Checked first: KVM's deassign succeeds even for an irqfd it does not have. */
	if (irq_routes_get_msi(t, gsi, &msg) < 0)
		return -ENOENT;
	if (irq_routes_dirty(t))
		return -EBUSY;
	r = irq_irqfd_deassign(irq_routes_vm_fd(t), gsi, fd);
	if (r < 0)
		return r;
	r = irq_routes_remove(t, gsi);
	if (r >= 0)
		r = irq_routes_commit(t);
	if (r < 0) {
		/* Put it back as it was: the route stays, and so does the irqfd. */
		irq_routes_rollback(t);
		if (irq_irqfd_assign(irq_routes_vm_fd(t), gsi, fd, -1) < 0)
			log_debug("unroute msi: GSI %u: could not reassign the irqfd", gsi);
		return r;
	}
	return irq_routes_release_gsi(t, gsi);
}
