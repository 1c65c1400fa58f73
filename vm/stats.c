/* stats.c: KVM's binary statistics of the VM's vCPUs (KVM_GET_STATS_FD, Linux 5.14+), read by name and
 * summed over the vCPUs: what benchmarks count around a measured window (exits, halt_exits, ...). */
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include "internal.h"

/* One vCPU's counter name from its stats fd: header, descriptors (each followed by its name), data. */
static int read_stat(int vcpu_fd, const char *name, uint64_t *ret)
{
	_cleanup_close_ int fd = ioctl(vcpu_fd, KVM_GET_STATS_FD, NULL);
	_cleanup_free_ uint8_t *descs = NULL;
	struct kvm_stats_header h;
	size_t dsize;

	if (fd < 0)
		return negative_errno();
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return -EIO;
	/* the kernel's header is trusted only as far as it is plausible */
	if (h.name_size < 8 || h.name_size > 4096 || h.num_desc == 0 || h.num_desc > 65536)
		return -EBADMSG;
	dsize = sizeof(struct kvm_stats_desc) + h.name_size;
	descs = malloc(dsize * h.num_desc);
	if (!descs)
		return -ENOMEM;
	if (pread(fd, descs, dsize * h.num_desc, h.desc_offset) != (ssize_t)(dsize * h.num_desc))
		return -EIO;
	for (uint32_t i = 0; i < h.num_desc; i++) {
		const struct kvm_stats_desc *d = (const void *)(descs + i * dsize);
		uint64_t v;
		if (strnlen(d->name, h.name_size) == h.name_size || !streq(d->name, name))
			continue;
		if (d->size < 1)
			return -EBADMSG;
		if (pread(fd, &v, sizeof(v), h.data_offset + d->offset) != (ssize_t)sizeof(v))
			return -EIO;
		*ret = v;
		return 0;
	}
	return -ENOENT;
}

int vm_vcpu_stat_sum(const struct vm *vm, const char *name, uint64_t *ret)
{
	uint64_t total = 0, v;

	for (unsigned i = 0; i < vm->ncpus; i++) {
		int r = read_stat(vm->vcpus[i].fd, name, &v);
		if (r < 0)
			return r;
		total += v;
	}
	*ret = total;
	return 0;
}
