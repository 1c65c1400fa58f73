/* vfio-irqs.c: VFIO_DEVICE_SET_IRQS for INTx, MSI and MSI-X: building the argument (checked against
 * the index's IRQ info, so the kernel never sees a malformed request) apart from the ioctl. */
#include <sys/ioctl.h>

#include "irq/irq.h"
#include "util/log.h"

static const char *op_name(enum irq_vfio_op op)
{
	switch (op) {
	case IRQ_VFIO_TRIGGER:
		return "trigger";
	case IRQ_VFIO_FIRE:
		return "fire";
	case IRQ_VFIO_DISABLE:
		return "disable";
	case IRQ_VFIO_MASK:
		return "mask";
	case IRQ_VFIO_UNMASK:
		return "unmask";
	case IRQ_VFIO_UNMASK_FD:
		return "unmask-eventfd";
	}
	return "?";
}

/* Flags and element size for an op, or -EINVAL / -EOPNOTSUPP when the index cannot do it. */
static int op_flags(const struct irq_vfio_req *req, const struct vfio_irq_info *info, uint32_t *flags,
		    size_t *elem)
{
	bool eventfd = info->flags & VFIO_IRQ_INFO_EVENTFD, maskable = info->flags & VFIO_IRQ_INFO_MASKABLE;

	*elem = 0;
	switch (req->op) {
	case IRQ_VFIO_TRIGGER:
		if (!eventfd)
			return -EOPNOTSUPP;
		if (!req->fds)
			return -EINVAL;
		*flags = VFIO_IRQ_SET_ACTION_TRIGGER | VFIO_IRQ_SET_DATA_EVENTFD;
		*elem = sizeof(int32_t);
		return 0;
	case IRQ_VFIO_FIRE:
	case IRQ_VFIO_DISABLE:
		*flags = VFIO_IRQ_SET_ACTION_TRIGGER | VFIO_IRQ_SET_DATA_NONE;
		return 0;
	case IRQ_VFIO_MASK:
	case IRQ_VFIO_UNMASK:
		if (!maskable)
			return -EOPNOTSUPP;
		*flags = req->op == IRQ_VFIO_MASK ? VFIO_IRQ_SET_ACTION_MASK : VFIO_IRQ_SET_ACTION_UNMASK;
		if (req->bools) {
			*flags |= VFIO_IRQ_SET_DATA_BOOL;
			*elem = sizeof(uint8_t);
		} else
			*flags |= VFIO_IRQ_SET_DATA_NONE;
		return 0;
	case IRQ_VFIO_UNMASK_FD:
		if (!maskable || !eventfd)
			return -EOPNOTSUPP;
		if (!req->fds)
			return -EINVAL;
		*flags = VFIO_IRQ_SET_ACTION_UNMASK | VFIO_IRQ_SET_DATA_EVENTFD;
		*elem = sizeof(int32_t);
		return 0;
	}
	return -EINVAL;
}

int irq_vfio_build(const struct irq_vfio_req *req, const struct vfio_irq_info *info, struct vfio_irq_set **ret)
{
	uint32_t flags, start = req->start, count = req->count;
	size_t elem;
	struct vfio_irq_set *set;
	int r;

	if (!info || info->index != req->index) {
		log_debug("set irqs: info is for index %u, request for %u", info ? info->index : 0, req->index);
		return -EINVAL;
	}
	r = op_flags(req, info, &flags, &elem);
	if (r < 0) {
		log_debug("set irqs: index %u cannot %s (info flags 0x%x)", req->index, op_name(req->op),
			  info->flags);
		return r;
	}
	if (req->op == IRQ_VFIO_DISABLE) {
		/* The kernel checks start < the index's count even here: an index the device
		 * lacks cannot be disabled either. */
		if (info->count == 0)
			return -EINVAL;
		start = 0;
		count = 0;
	} else if (count == 0 || start >= info->count || count > info->count - start) {
		/* The kernel reads count 0 with DATA_NONE as "disable"; never let a range slip into that. */
		log_debug("set irqs: index %u range %u+%u outside its %u vectors", req->index, start, count,
			  info->count);
		return -EINVAL;
	}
	if (elem == sizeof(int32_t))
		for (uint32_t i = 0; i < count; i++)
			if (req->fds[i] < -1 || (req->op == IRQ_VFIO_UNMASK_FD && req->fds[i] < 0)) {
				log_debug("set irqs: index %u vector %u: bad eventfd %d", req->index, start + i,
					  req->fds[i]);
				return -EBADF;
			}
	if (elem == sizeof(uint8_t))
		for (uint32_t i = 0; i < count; i++)
			if (req->bools[i] > 1)
				return -EINVAL;

	set = calloc(1, sizeof(*set) + (size_t)count * elem);
	if (!set)
		return -ENOMEM;
	*set = (struct vfio_irq_set){
		.argsz = (uint32_t)(sizeof(*set) + (size_t)count * elem),
		.flags = flags,
		.index = req->index,
		.start = start,
		.count = count,
	};
	if (elem == sizeof(int32_t))
		memcpy(set->data, req->fds, count * elem);
	else if (elem == sizeof(uint8_t))
		memcpy(set->data, req->bools, count * elem);
	*ret = set;
	return 0;
}

int irq_vfio_apply(int device_fd, const struct vfio_irq_set *set)
{
	if (ioctl(device_fd, VFIO_DEVICE_SET_IRQS, set) < 0) {
		int r = negative_errno();
		log_debug("VFIO_DEVICE_SET_IRQS index %u flags 0x%x %u+%u: %s", set->index, set->flags,
			  set->start, set->count, strerror(-r));
		return r;
	}
	return 0;
}

int irq_vfio_set(int device_fd, const struct vfio_irq_info *info, const struct irq_vfio_req *req)
{
	_cleanup_free_ struct vfio_irq_set *set = NULL;
	int r = irq_vfio_build(req, info, &set);

	if (r < 0)
		return r;
	return irq_vfio_apply(device_fd, set);
}

int irq_vfio_get_info(int device_fd, uint32_t index, struct vfio_irq_info *ret)
{
	struct vfio_irq_info info = { .argsz = sizeof(info), .index = index };

	if (ioctl(device_fd, VFIO_DEVICE_GET_IRQ_INFO, &info) < 0) {
		int r = negative_errno();
		log_debug("VFIO_DEVICE_GET_IRQ_INFO index %u: %s", index, strerror(-r));
		return r;
	}
	if (info.index != index)
		return -EIO;
	*ret = info;
	return 0;
}
