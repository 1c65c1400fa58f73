/* container.c: the VFIO container (/dev/vfio/vfio): API checks, type1v2 selection once the
 * first group is attached, IOMMU limits, DMA map/unmap and the list of attached groups. */
#include <fcntl.h>
#include <sys/ioctl.h>

#include "util/log.h"
#include "util/root.h"
#include "container-internal.h"

/* The info buffer grows to what the kernel asks for, but a hostile or broken argsz must not
 * make us allocate without bound. */
#define INFO_MAX (64u * 1024)

int vfio_container_new(struct vfio_container **ret)
{
	_cleanup_close_ int fd = -1;
	struct vfio_container *c;
	int r;

	fd = root_open("/dev/vfio/vfio", O_RDWR, 0);
	if (fd < 0) {
		log_debug("/dev/vfio/vfio: %s", strerror(-fd));
		return fd;
	}
	r = ioctl(fd, VFIO_GET_API_VERSION);
	if (r != VFIO_API_VERSION) {
		log_debug("VFIO API version %d, need %d", r, VFIO_API_VERSION);
		return -EPROTONOSUPPORT;
	}
	r = ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU);
	if (r <= 0) {
		log_debug("VFIO type1v2 IOMMU not supported (%d)", r);
		return -EPROTONOSUPPORT;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->n_ref = 1;
	c->fd = TAKE_FD(fd);
	*ret = c;
	return 0;
}

struct vfio_container *vfio_container_ref(struct vfio_container *c)
{
	if (c)
		c->n_ref++;
	return c;
}

struct vfio_container *vfio_container_unref(struct vfio_container *c)
{
	if (!c || --c->n_ref > 0)
		return NULL;
	/* Groups hold references, so none can be attached any more. */
	vfio_iommu_limits_done(&c->limits);
	if (c->fd >= 0)
		close(c->fd);
	free(c->groups);
	free(c);
	return NULL;
}

int vfio_container_fd(const struct vfio_container *c)
{
	return c->fd;
}

const struct vfio_iommu_limits *vfio_container_limits(const struct vfio_container *c)
{
	return c->iommu_set ? &c->limits : NULL;
}

int vfio_container_refresh_limits(struct vfio_container *c)
{
	size_t argsz = sizeof(struct vfio_iommu_type1_info);
	struct vfio_iommu_limits l;
	int r;

	if (!c->iommu_set)
		return -ENODEV;
	for (int attempt = 0; attempt < 3; attempt++) {
		_cleanup_free_ struct vfio_iommu_type1_info *info = calloc(1, argsz);
		if (!info)
			return -ENOMEM;
		info->argsz = (uint32_t)argsz;
		if (ioctl(c->fd, VFIO_IOMMU_GET_INFO, info) < 0)
			return negative_errno();
		if (info->argsz > argsz) {
			/* Capabilities did not fit: the kernel says how much it needs. */
			if (info->argsz > INFO_MAX)
				return -E2BIG;
			argsz = info->argsz;
			continue;
		}
		r = vfio_iommu_limits_parse(info, argsz, &l);
		if (r < 0)
			return r;
		vfio_iommu_limits_done(&c->limits);
		c->limits = l;
		return 0;
	}
	return -EAGAIN;
}

int vfio_container_set_iommu(struct vfio_container *c)
{
	int r;

	if (c->iommu_set)
		return 0;
	if (ioctl(c->fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
		r = negative_errno();
		/* ENODEV here means vfio_iommu_type1 is not loaded (no soft dependency honoured). */
		log_debug("VFIO_SET_IOMMU(type1v2): %s", strerror(-r));
		return r;
	}
	c->iommu_set = true;
	r = vfio_container_refresh_limits(c);
	if (r < 0)
		log_debug("VFIO_IOMMU_GET_INFO: %s", strerror(-r));
	return r;
}

int vfio_container_add_group(struct vfio_container *c, struct vfio_group *g)
{
	struct vfio_group **n = realloc(c->groups, (c->n_groups + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->groups = n;
	c->groups[c->n_groups++] = g;
	return 0;
}

void vfio_container_remove_group(struct vfio_container *c, struct vfio_group *g)
{
	for (size_t i = 0; i < c->n_groups; i++)
		if (c->groups[i] == g) {
			memmove(&c->groups[i], &c->groups[i + 1], (c->n_groups - i - 1) * sizeof(*c->groups));
			c->n_groups--;
			break;
		}
	/* The kernel drops the IOMMU backend with the last group; the next attach sets it again. */
	if (c->n_groups == 0 && c->iommu_set) {
		c->iommu_set = false;
		vfio_iommu_limits_done(&c->limits);
		c->limits = (struct vfio_iommu_limits){ 0 };
	}
}

int vfio_container_group(struct vfio_container *c, unsigned id, struct vfio_group **ret)
{
	struct vfio_group *g = NULL;
	int r;

	for (size_t i = 0; i < c->n_groups; i++)
		if (vfio_group_id(c->groups[i]) == id) {
			*ret = vfio_group_ref(c->groups[i]);
			return 0;
		}
	r = vfio_group_new(id, &g);
	if (r < 0)
		return r;
	r = vfio_group_attach(g, c);
	if (r < 0) {
		vfio_group_unref(g);
		return r;
	}
	*ret = g;
	return 0;
}

static uint64_t granule_of(const struct vfio_container *c)
{
	uint64_t b = c->limits.pgsize_bitmap;
	return b ? b & -b : 4096;
}

int vfio_container_map_dma(struct vfio_container *c, uint64_t iova, void *vaddr, uint64_t size)
{
	struct vfio_iommu_type1_dma_map m;
	int r;

	if (!c->iommu_set)
		return -ENODEV;
	r = vfio_dma_map_arg(iova, vaddr, size, granule_of(c), &m);
	if (r < 0)
		return r;
	if (ioctl(c->fd, VFIO_IOMMU_MAP_DMA, &m) < 0) {
		r = negative_errno();
		log_debug("MAP_DMA iova 0x%" PRIx64 " size 0x%" PRIx64 ": %s", iova, size, strerror(-r));
		return r;
	}
	return 0;
}

int vfio_container_unmap_dma(struct vfio_container *c, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap u;
	int r;

	if (!c->iommu_set)
		return -ENODEV;
	r = vfio_dma_unmap_arg(iova, size, granule_of(c), &u);
	if (r < 0)
		return r;
	if (ioctl(c->fd, VFIO_IOMMU_UNMAP_DMA, &u) < 0) {
		r = negative_errno();
		log_debug("UNMAP_DMA iova 0x%" PRIx64 " size 0x%" PRIx64 ": %s", iova, size, strerror(-r));
		return r;
	}
	/* The kernel reports what it unmapped; less than asked means a hole in our bookkeeping. */
	if (u.size != size) {
		log_debug("UNMAP_DMA iova 0x%" PRIx64 ": unmapped 0x%llx of 0x%" PRIx64, iova,
			  (unsigned long long)u.size, size);
		return -ENOENT;
	}
	return 0;
}
