/* vfiogroup.c: the VFIO group object (/dev/vfio/N): viability, attaching to a container and
 * detaching from it. A group holds its container for as long as it is attached. */
#include <fcntl.h>
#include <limits.h>
#include <sys/ioctl.h>

#include "util/log.h"
#include "util/root.h"
#include "container-internal.h"

int vfio_group_id_of_device(const struct pci_addr *addr, unsigned *ret)
{
	char a[PCI_ADDR_STRLEN], path[PATH_MAX];
	_cleanup_free_ char *base = NULL;
	uint64_t id;
	int r;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", pci_addr_format(addr, a));
	r = root_readlink_base(path, &base);
	if (r < 0)
		return r;
	r = parse_u64(base, 10, &id);
	if (r < 0 || id > UINT_MAX)
		return -EBADMSG;
	*ret = (unsigned)id;
	return 0;
}

int vfio_group_new(unsigned id, struct vfio_group **ret)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	_cleanup_close_ int fd = -1;
	char path[64];
	struct vfio_group *g;

	snprintf(path, sizeof(path), "/dev/vfio/%u", id);
	fd = root_open(path, O_RDWR, 0);
	if (fd < 0) {
		log_debug("%s: %s", path, strerror(-fd));
		return fd;
	}
	if (ioctl(fd, VFIO_GROUP_GET_STATUS, &st) < 0)
		return negative_errno();
	if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		log_debug("IOMMU group %u is not viable", id);
		return -EPERM;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->n_ref = 1;
	g->id = id;
	g->fd = TAKE_FD(fd);
	*ret = g;
	return 0;
}

struct vfio_group *vfio_group_ref(struct vfio_group *g)
{
	if (g)
		g->n_ref++;
	return g;
}

struct vfio_group *vfio_group_unref(struct vfio_group *g)
{
	if (!g || --g->n_ref > 0)
		return NULL;
	/* Devices hold references, so none is open and detaching should not be refused; if it is
	 * anyway, closing the fd below detaches in the kernel, so let go of the container too. */
	if (vfio_group_detach(g) < 0 && g->container) {
		vfio_container_remove_group(g->container, g);
		vfio_container_unref(TAKE_PTR(g->container));
	}
	if (g->fd >= 0)
		close(g->fd);
	free(g);
	return NULL;
}

int vfio_group_attach(struct vfio_group *g, struct vfio_container *c)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	int cfd = c->fd;
	int r;

	if (g->container)
		return g->container == c ? 0 : -EBUSY;
	r = vfio_container_add_group(c, g);
	if (r < 0)
		return r;
	if (ioctl(g->fd, VFIO_GROUP_SET_CONTAINER, &cfd) < 0) {
		r = negative_errno();
		log_debug("IOMMU group %u: VFIO_GROUP_SET_CONTAINER: %s", g->id, strerror(-r));
		vfio_container_remove_group(c, g);
		return r;
	}
	g->container = vfio_container_ref(c);
	r = vfio_container_set_iommu(c);
	if (r < 0) {
		vfio_group_detach(g);
		return r;
	}
	/* Viability can change between open and attach (a host driver bound meanwhile). */
	if (ioctl(g->fd, VFIO_GROUP_GET_STATUS, &st) < 0 || !(st.flags & VFIO_GROUP_FLAGS_CONTAINER_SET)) {
		log_debug("IOMMU group %u: container not set after attach", g->id);
		vfio_group_detach(g);
		return -EIO;
	}
	return 0;
}

int vfio_group_detach(struct vfio_group *g)
{
	struct vfio_container *c = g->container;

	if (!c)
		return 0;
	if (ioctl(g->fd, VFIO_GROUP_UNSET_CONTAINER) < 0) {
		int r = negative_errno();
		log_debug("IOMMU group %u: VFIO_GROUP_UNSET_CONTAINER: %s", g->id, strerror(-r));
		return r;
	}
	vfio_container_remove_group(c, g);
	g->container = NULL;
	vfio_container_unref(c);
	return 0;
}

int vfio_group_fd(const struct vfio_group *g)
{
	return g->fd;
}

unsigned vfio_group_id(const struct vfio_group *g)
{
	return g->id;
}

struct vfio_container *vfio_group_container(const struct vfio_group *g)
{
	return g->container;
}
