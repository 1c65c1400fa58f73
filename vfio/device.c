/* device.c: the VFIO device object: opening it from its group, region and IRQ info, region and
 * config-space access, BAR mmap honouring sparse areas, reset and hot-reset information. */
#include <fcntl.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "util/log.h"
#include "util/root.h"
#include "container-internal.h"

#define INFO_MAX (64u * 1024)

int vfio_device_bound_driver(const struct pci_addr *addr, char **ret)
{
	char a[PCI_ADDR_STRLEN], path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", pci_addr_format(addr, a));
	if (!root_exists(path))
		return -ENOENT;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", a);
	r = root_readlink_base(path, ret);
	if (r == -ENOENT) {
		*ret = NULL;
		return 0;
	}
	return r;
}

/* Region info grows to the argsz the kernel asks for when capabilities do not fit. */
static int read_region(int fd, unsigned index, struct vfio_region_desc *ret)
{
	size_t argsz = sizeof(struct vfio_region_info);

	for (int attempt = 0; attempt < 3; attempt++) {
		_cleanup_free_ struct vfio_region_info *ri = calloc(1, argsz);
		if (!ri)
			return -ENOMEM;
		ri->argsz = (uint32_t)argsz;
		ri->index = index;
		if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, ri) < 0)
			return negative_errno();
		if (ri->argsz > argsz) {
			if (ri->argsz > INFO_MAX)
				return -E2BIG;
			argsz = ri->argsz;
			continue;
		}
		return vfio_region_desc_parse(ri, argsz, ret);
	}
	return -EAGAIN;
}

static int read_irq(int fd, unsigned index, struct vfio_irq_desc *ret)
{
	struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = index };

	if (ioctl(fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) < 0)
		return negative_errno();
	*ret = (struct vfio_irq_desc){ .index = index, .flags = ii.flags, .count = ii.count };
	return 0;
}

static int read_info(struct vfio_device *d)
{
	struct vfio_device_info di = { .argsz = sizeof(di) };
	int r;

	if (ioctl(d->fd, VFIO_DEVICE_GET_INFO, &di) < 0)
		return negative_errno();
	/* A PCI device has at most a few dozen; more is a confused kernel, not a device. */
	if (di.num_regions > 256 || di.num_irqs > 256)
		return -EBADMSG;
	d->flags = di.flags;
	d->regions = calloc(di.num_regions ? di.num_regions : 1, sizeof(*d->regions));
	d->irqs = calloc(di.num_irqs ? di.num_irqs : 1, sizeof(*d->irqs));
	if (!d->regions || !d->irqs)
		return -ENOMEM;
	for (unsigned i = 0; i < di.num_regions; i++) {
		r = read_region(d->fd, i, &d->regions[i]);
		/* vfio-pci answers EINVAL for indexes it does not implement (e.g. VGA). */
		if (r == -EINVAL) {
			d->regions[i] = (struct vfio_region_desc){ .index = i };
			r = 0;
		}
		if (r < 0)
			return r;
		d->n_regions = i + 1;
	}
	for (unsigned i = 0; i < di.num_irqs; i++) {
		r = read_irq(d->fd, i, &d->irqs[i]);
		if (r == -EINVAL) {
			d->irqs[i] = (struct vfio_irq_desc){ .index = i };
			r = 0;
		}
		if (r < 0)
			return r;
		d->n_irqs = i + 1;
	}
	return 0;
}

int vfio_device_new(struct vfio_group *g, const struct pci_addr *addr, struct vfio_device **ret)
{
	char name[PCI_ADDR_STRLEN];
	struct vfio_device *d;
	int fd, r;

	if (!g->container)
		return -ENODEV; /* GET_DEVICE_FD needs the group in a container with an IOMMU set */
	fd = ioctl(g->fd, VFIO_GROUP_GET_DEVICE_FD, pci_addr_format(addr, name));
	if (fd < 0) {
		r = negative_errno();
		log_debug("%s: VFIO_GROUP_GET_DEVICE_FD: %s", name, strerror(-r));
		return r;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	d->n_ref = 1;
	d->fd = fd;
	d->addr = *addr;
	d->group = vfio_group_ref(g);
	r = read_info(d);
	if (r < 0) {
		log_debug("%s: device info: %s", name, strerror(-r));
		vfio_device_unref(d);
		return r;
	}
	*ret = d;
	return 0;
}

int vfio_device_open(struct vfio_container *c, const struct pci_addr *addr, struct vfio_device **ret)
{
	_cleanup_vfio_group_ struct vfio_group *g = NULL;
	_cleanup_free_ char *driver = NULL;
	unsigned id;
	int r;

	r = vfio_device_bound_driver(addr, &driver);
	if (r < 0)
		return r;
	if (!streq(driver, "vfio-pci"))
		return -EMEDIUMTYPE;
	r = vfio_group_id_of_device(addr, &id);
	if (r < 0)
		return r;
	r = vfio_container_group(c, id, &g);
	if (r < 0)
		return r;
	return vfio_device_new(g, addr, ret);
}

struct vfio_device *vfio_device_unref(struct vfio_device *d)
{
	if (!d || --d->n_ref > 0)
		return NULL;
	if (d->fd >= 0)
		close(d->fd);
	for (unsigned i = 0; i < d->n_regions; i++)
		vfio_region_desc_done(&d->regions[i]);
	free(d->regions);
	free(d->irqs);
	vfio_group_unref(d->group);
	free(d);
	return NULL;
}

int vfio_device_fd(const struct vfio_device *d)
{
	return d->fd;
}

const struct pci_addr *vfio_device_addr(const struct vfio_device *d)
{
	return &d->addr;
}

struct vfio_group *vfio_device_group(const struct vfio_device *d)
{
	return d->group;
}

uint32_t vfio_device_flags(const struct vfio_device *d)
{
	return d->flags;
}

unsigned vfio_device_n_regions(const struct vfio_device *d)
{
	return d->n_regions;
}

unsigned vfio_device_n_irqs(const struct vfio_device *d)
{
	return d->n_irqs;
}

const struct vfio_region_desc *vfio_device_region(const struct vfio_device *d, unsigned index)
{
	return index < d->n_regions ? &d->regions[index] : NULL;
}

const struct vfio_irq_desc *vfio_device_irq(const struct vfio_device *d, unsigned index)
{
	return index < d->n_irqs ? &d->irqs[index] : NULL;
}

static int region_check(struct vfio_device *d, unsigned index, uint64_t off, size_t len, uint32_t need,
			const struct vfio_region_desc **ret)
{
	const struct vfio_region_desc *rd = vfio_device_region(d, index);

	if (!rd)
		return -EINVAL;
	if (!(rd->flags & need))
		return -EACCES;
	if (len > rd->size || off > rd->size - len)
		return -EINVAL;
	*ret = rd;
	return 0;
}

int vfio_device_region_read(struct vfio_device *d, unsigned index, uint64_t off, void *buf, size_t len)
{
	const struct vfio_region_desc *rd;
	ssize_t n;
	int r = region_check(d, index, off, len, VFIO_REGION_INFO_FLAG_READ, &rd);

	if (r < 0)
		return r;
	n = pread(d->fd, buf, len, (off_t)(rd->offset + off));
	if (n < 0)
		return negative_errno();
	return (size_t)n == len ? 0 : -EIO;
}

int vfio_device_region_write(struct vfio_device *d, unsigned index, uint64_t off, const void *buf, size_t len)
{
	const struct vfio_region_desc *rd;
	ssize_t n;
	int r = region_check(d, index, off, len, VFIO_REGION_INFO_FLAG_WRITE, &rd);

	if (r < 0)
		return r;
	n = pwrite(d->fd, buf, len, (off_t)(rd->offset + off));
	if (n < 0)
		return negative_errno();
	return (size_t)n == len ? 0 : -EIO;
}

int vfio_device_config_read(struct vfio_device *d, uint64_t off, void *buf, size_t len)
{
	return vfio_device_region_read(d, VFIO_PCI_CONFIG_REGION_INDEX, off, buf, len);
}

int vfio_device_config_write(struct vfio_device *d, uint64_t off, const void *buf, size_t len)
{
	return vfio_device_region_write(d, VFIO_PCI_CONFIG_REGION_INDEX, off, buf, len);
}

int vfio_device_reset(struct vfio_device *d)
{
	if (!(d->flags & VFIO_DEVICE_FLAGS_RESET))
		return -ENOTTY;
	if (ioctl(d->fd, VFIO_DEVICE_RESET) < 0)
		return negative_errno();
	return 0;
}

int vfio_device_hot_reset_info(struct vfio_device *d, struct vfio_hot_reset_dep **ret, size_t *n)
{
	size_t argsz = sizeof(struct vfio_pci_hot_reset_info);

	for (int attempt = 0; attempt < 3; attempt++) {
		_cleanup_free_ struct vfio_pci_hot_reset_info *hi = calloc(1, argsz);
		if (!hi)
			return -ENOMEM;
		hi->argsz = (uint32_t)argsz;
		if (ioctl(d->fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, hi) == 0)
			return vfio_hot_reset_info_parse(hi, argsz, ret, n);
		/* ENOSPC: count says how many dependents there are; size the buffer for them. */
		if (errno != ENOSPC)
			return negative_errno();
		if (hi->count > (INFO_MAX - sizeof(*hi)) / sizeof(hi->devices[0]))
			return -E2BIG;
		argsz = sizeof(*hi) + hi->count * sizeof(hi->devices[0]);
	}
	return -EAGAIN;
}

int vfio_device_bar_map(struct vfio_device *d, unsigned index, struct vfio_bar_map **ret)
{
	const struct vfio_region_desc *rd = vfio_device_region(d, index);
	long page = sysconf(_SC_PAGESIZE);
	struct vfio_mmap_area whole;
	const struct vfio_mmap_area *areas;
	struct vfio_bar_map *m;
	size_t n;
	int prot = 0;

	if (!rd || rd->size == 0)
		return -EINVAL;
	if (!(rd->flags & VFIO_REGION_INFO_FLAG_MMAP) || rd->size > SIZE_MAX)
		return -EACCES;
	if (rd->has_sparse) {
		areas = rd->sparse;
		n = rd->n_sparse;
	} else {
		whole = (struct vfio_mmap_area){ .offset = 0, .size = rd->size };
		areas = &whole;
		n = 1;
	}
	if (n == 0)
		return -EACCES;
	if (rd->flags & VFIO_REGION_INFO_FLAG_READ)
		prot |= PROT_READ;
	if (rd->flags & VFIO_REGION_INFO_FLAG_WRITE)
		prot |= PROT_WRITE;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->index = index;
	m->size = rd->size;
	m->areas = calloc(n, sizeof(*m->areas));
	/* Reserve the whole BAR so area offsets keep their meaning and gaps fault. */
	m->base = mmap(NULL, rd->size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!m->areas || m->base == MAP_FAILED) {
		m->base = NULL;
		vfio_bar_map_free(m);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		void *p;
		if (areas[i].size == 0)
			continue;
		if (areas[i].offset % (uint64_t)page || areas[i].size % (uint64_t)page) {
			log_debug("region %u: area 0x%" PRIx64 "+0x%" PRIx64 " not page-aligned, skipped", index,
				  areas[i].offset, areas[i].size);
			continue;
		}
		p = mmap(m->base + areas[i].offset, areas[i].size, prot, MAP_SHARED | MAP_FIXED, d->fd,
			 (off_t)(rd->offset + areas[i].offset));
		if (p == MAP_FAILED) {
			int r = negative_errno();
			log_debug("region %u: mmap area 0x%" PRIx64 ": %s", index, areas[i].offset, strerror(-r));
			vfio_bar_map_free(m);
			return r;
		}
		m->areas[m->n_areas++] = areas[i];
	}
	if (m->n_areas == 0) {
		vfio_bar_map_free(m);
		return -EACCES;
	}
	*ret = m;
	return 0;
}

void *vfio_bar_map_ptr(const struct vfio_bar_map *m, uint64_t off, size_t len)
{
	for (size_t i = 0; i < m->n_areas; i++) {
		const struct vfio_mmap_area *a = &m->areas[i];
		if (off >= a->offset && len <= a->size && off - a->offset <= a->size - len)
			return m->base + off;
	}
	return NULL;
}

struct vfio_bar_map *vfio_bar_map_free(struct vfio_bar_map *m)
{
	if (!m)
		return NULL;
	/* One munmap covers the reservation and every fixed mapping inside it. */
	if (m->base)
		munmap(m->base, m->size);
	free(m->areas);
	free(m);
	return NULL;
}
