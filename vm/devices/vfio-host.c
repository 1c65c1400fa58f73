/* vfio-host.c: the real backend of the vfio-pci model: the VM's one VFIO container (all guest RAM
 * mapped at IOVA = guest-physical before any device is enabled), the KVM-VFIO pseudo device that
 * knows the VM's groups, and each device's fd. */
#include <sys/ioctl.h>

#include "iommu/iommu.h"
#include "util/log.h"
#include "vm/devices/vfio-pci.h"

/* Shared by the VM's assigned devices; the last one to go frees it. */
struct vm_vfio {
	unsigned refs;
	struct vfio_container *c;
	struct iommu_dma_map *dma;
	int kvm_dev; /* KVM_DEV_TYPE_VFIO */
};

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;

struct host_be {
	struct vm *vm;
	struct vfio_device *dev;
	struct vm_vfio *shared;
};

static void shared_put(struct vm *vm, struct vm_vfio *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&shared_lock);
	if (--s->refs == 0) {
		iommu_dma_map_free(s->dma);
		vfio_container_unref(s->c);
		if (s->kvm_dev >= 0)
			close(s->kvm_dev);
		free(s);
		vm->vfio = NULL;
	}
	pthread_mutex_unlock(&shared_lock);
}

static int shared_get(struct vm *vm, struct vm_vfio **ret, const char **why)
{
	struct vm_vfio *s;
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_VFIO };
	int r = 0;

	pthread_mutex_lock(&shared_lock);
	s = vm->vfio;
	if (s) {
		s->refs++;
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		r = -ENOMEM;
		goto out;
	}
	s->refs = 1;
	s->kvm_dev = -1;
	r = vfio_container_new(&s->c);
	if (r < 0) {
		*why = r == -ENOENT ? "/dev/vfio/vfio is missing (load the vfio-pci module)" : "cannot open a VFIO container";
		free(s);
		goto out;
	}
	if (ioctl(vm_kvm_fd(vm), KVM_CREATE_DEVICE, &cd) < 0) {
		/* Without it the device works, but KVM cannot tell the guest does DMA (coherency): say so in debug. */
		log_debug("KVM_CREATE_DEVICE(VFIO): %m");
	} else
		s->kvm_dev = (int)cd.fd;
	vm->vfio = s;
out:
	if (r >= 0)
		*ret = s;
	pthread_mutex_unlock(&shared_lock);
	return r;
}

/* After the first group is attached (the container then has an IOMMU): all guest RAM, IOVA = GPA. */
static int shared_map(struct vm *vm, struct vm_vfio *s, const char **why)
{
	struct iommu_dma_report rep = { 0 };
	int r = 0;

	pthread_mutex_lock(&shared_lock);
	if (!s->dma) {
		r = iommu_dma_map_guestmem(s->c, vm_guestmem(vm), &rep, &s->dma);
		if (r < 0)
			*why = r == -ENOMEM	      ? "cannot pin guest memory for DMA (RLIMIT_MEMLOCK too low? run as root)"
			       : r == -EADDRNOTAVAIL ? "guest RAM collides with a reserved IOVA window of the host IOMMU"
			       : r == -ENOSPC	      ? "the IOMMU has too few DMA mapping entries left for guest RAM"
						      : "cannot map guest memory into the IOMMU";
	}
	pthread_mutex_unlock(&shared_lock);
	return r;
}

static void kvm_vfio_group(struct vm_vfio *s, int group_fd, bool add)
{
	int32_t fd = group_fd;
	struct kvm_device_attr a = { .group = KVM_DEV_VFIO_GROUP,
				     .attr = add ? KVM_DEV_VFIO_GROUP_ADD : KVM_DEV_VFIO_GROUP_DEL,
				     .addr = (uint64_t)(uintptr_t)&fd };

	if (s->kvm_dev >= 0 && ioctl(s->kvm_dev, KVM_SET_DEVICE_ATTR, &a) < 0 && errno != EEXIST)
		log_debug("KVM-VFIO group %s: %m", add ? "add" : "del");
}

static int be_region_read(void *be, unsigned index, uint64_t off, void *buf, size_t len)
{
	return vfio_device_region_read(((struct host_be *)be)->dev, index, off, buf, len);
}

static int be_region_write(void *be, unsigned index, uint64_t off, const void *buf, size_t len)
{
	return vfio_device_region_write(((struct host_be *)be)->dev, index, off, buf, len);
}

static const struct vfio_region_desc *be_region(void *be, unsigned index)
{
	return vfio_device_region(((struct host_be *)be)->dev, index);
}

static const struct vfio_irq_desc *be_irq(void *be, unsigned index)
{
	return vfio_device_irq(((struct host_be *)be)->dev, index);
}

static int be_set_irqs(void *be, const struct irq_vfio_req *req)
{
	struct host_be *h = be;
	const struct vfio_irq_desc *d = vfio_device_irq(h->dev, req->index);
	struct vfio_irq_info info;

	if (!d)
		return -EINVAL;
	info = (struct vfio_irq_info){ .argsz = sizeof(info), .flags = d->flags, .index = d->index, .count = d->count };
	return irq_vfio_set(vfio_device_fd(h->dev), &info, req);
}

static int be_reset(void *be)
{
	return vfio_device_reset(((struct host_be *)be)->dev);
}

static int be_bar_map(void *be, unsigned index, struct vfio_bar_map **ret)
{
	return vfio_device_bar_map(((struct host_be *)be)->dev, index, ret);
}

static void be_free(void *be)
{
	struct host_be *h = be;

	if (h->dev && h->shared)
		kvm_vfio_group(h->shared, vfio_group_fd(vfio_device_group(h->dev)), false);
	/* The last device out unmaps guest RAM while its group still holds the container's IOMMU. */
	pthread_mutex_lock(&shared_lock);
	if (h->shared && h->shared->refs == 1)
		h->shared->dma = iommu_dma_map_free(h->shared->dma);
	pthread_mutex_unlock(&shared_lock);
	vfio_device_unref(h->dev);
	shared_put(h->vm, h->shared);
	free(h);
}

static const struct vm_vfio_backend_ops host_ops = {
	.region_read = be_region_read,
	.region_write = be_region_write,
	.region = be_region,
	.irq = be_irq,
	.set_irqs = be_set_irqs,
	.reset = be_reset,
	.bar_map = be_bar_map,
	.free = be_free,
};

int vm_vfio_pci_add(struct vm *vm, const char *address, const char **why)
{
	struct host_be *h;
	struct pci_addr a;
	char name[PCI_ADDR_STRLEN];
	int r;

	if (pci_addr_parse(address, &a) < 0) {
		*why = "not a PCI address";
		return -EINVAL;
	}
	pci_addr_format(&a, name);
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->vm = vm;
	if ((r = shared_get(vm, &h->shared, why)) < 0) {
		free(h);
		return r;
	}
	r = vfio_device_open(h->shared->c, &a, &h->dev);
	if (r < 0) {
		*why = r == -EMEDIUMTYPE ? "not bound to vfio-pci"
		       : r == -EBUSY	 ? "its IOMMU group is held by another process (another VM?)"
		       : r == -EPERM	 ? "its IOMMU group is not viable (another member is on a host driver)"
		       : r == -ENOENT	 ? "no IOMMU group or /dev/vfio node (is the IOMMU on?)"
					 : "cannot open it through VFIO";
		be_free(h);
		return r;
	}
	if ((r = shared_map(vm, h->shared, why)) < 0) {
		be_free(h);
		return r;
	}
	kvm_vfio_group(h->shared, vfio_group_fd(vfio_device_group(h->dev)), true);
	return vm_vfio_pci_add_backend(vm, name, &host_ops, h, why);
}
