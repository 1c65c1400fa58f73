/* pci.c: the PCI inventory: every function under /sys/bus/pci/devices (through the root) with
 * its ids, names, driver, IOMMU group, SR-IOV role, NUMA node, config-space capabilities. */
#include <limits.h>

#include "pci-internal.h"
#include "util/log.h"
#include "util/root.h"

#define PCI_DEVICES "/sys/bus/pci/devices"

int pci_sysfs_path(char *buf, size_t len, const char *dev, const char *file)
{
	int n = snprintf(buf, len, PCI_DEVICES "/%s%s%s", dev, file && *file ? "/" : "", file ? file : "");
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

bool vfio_pci_is_vfio_driver(const char *driver)
{
	/* vfio-pci itself and the vendor variants built on vfio-pci-core (mlx5_vfio_pci, ...). */
	return driver && (streq(driver, VFIO_PCI_DRIVER) || strstr(driver, "vfio_pci") ||
			  strstr(driver, "vfio-pci"));
}

void vfio_pci_dev_free(struct vfio_pci_dev *d)
{
	if (!d)
		return;
	free(d->vendor_name);
	free(d->device_name);
	free(d->class_name);
	free(d->driver);
	free(d->driver_override);
	free(d->physfn);
	free(d->reset_method);
	strv_free(d->netdevs);
	strv_free(d->block_devices);
	free(d);
}

static void pci_dev_freep(struct vfio_pci_dev **d)
{
	vfio_pci_dev_free(*d);
}

void vfio_pci_list_free(struct vfio_pci_dev **v)
{
	if (!v)
		return;
	for (struct vfio_pci_dev **p = v; *p; p++)
		vfio_pci_dev_free(*p);
	free(v);
}

static int read_hex(const char *dev, const char *file, uint64_t max, uint64_t *ret)
{
	char p[PATH_MAX];
	uint64_t v;
	int r = pci_sysfs_path(p, sizeof(p), dev, file);

	if (r < 0)
		return r;
	r = root_read_u64(p, 16, &v);
	if (r < 0)
		return r;
	if (v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

/* Optional decimal attribute: absent -> def. */
static int read_int_opt(const char *dev, const char *file, int def, int *ret)
{
	char p[PATH_MAX];
	_cleanup_free_ char *s = NULL;
	int r = pci_sysfs_path(p, sizeof(p), dev, file);

	if (r < 0)
		return r;
	r = root_read(p, &s);
	if (r == -ENOENT) {
		*ret = def;
		return 0;
	}
	if (r < 0)
		return r;
	return parse_int(strstrip(s), ret);
}

int pci_read_link_opt(const char *dev, const char *file, char **ret)
{
	char p[PATH_MAX];
	int r = pci_sysfs_path(p, sizeof(p), dev, file);

	if (r < 0)
		return r;
	r = root_readlink_base(p, ret);
	if (r == -ENOENT) {
		*ret = NULL;
		return 0;
	}
	return r;
}

static int read_ids(struct vfio_pci_dev *d)
{
	uint64_t v;
	int r;

	if ((r = read_hex(d->name, "vendor", 0xffff, &v)) < 0)
		return r;
	d->vendor_id = (uint16_t)v;
	if ((r = read_hex(d->name, "device", 0xffff, &v)) < 0)
		return r;
	d->device_id = (uint16_t)v;
	if ((r = read_hex(d->name, "class", 0xffffff, &v)) < 0)
		return r;
	d->class_code = (uint32_t)v;
	/* Subsystem ids are absent on some bridges: zero, like lspci shows. */
	if (read_hex(d->name, "subsystem_vendor", 0xffff, &v) >= 0)
		d->subsystem_vendor_id = (uint16_t)v;
	if (read_hex(d->name, "subsystem_device", 0xffff, &v) >= 0)
		d->subsystem_device_id = (uint16_t)v;
	/* PCI-to-PCI and semi-transparent bridges. */
	d->is_bridge = (d->class_code >> 8) == 0x0604 || (d->class_code >> 8) == 0x0609;
	return 0;
}

static int read_binding(struct vfio_pci_dev *d)
{
	char p[PATH_MAX];
	_cleanup_free_ char *group = NULL;
	int r;

	if ((r = pci_read_link_opt(d->name, "driver", &d->driver)) < 0)
		return r;
	if ((r = pci_sysfs_path(p, sizeof(p), d->name, "driver_override")) < 0)
		return r;
	r = root_read(p, &d->driver_override);
	if (r < 0 && r != -ENOENT)
		return r;
	/* The kernel shows an unset override as "(null)". */
	if (d->driver_override && (!*strstrip(d->driver_override) || streq(d->driver_override, "(null)"))) {
		free(d->driver_override);
		d->driver_override = NULL;
	}
	if ((r = pci_read_link_opt(d->name, "iommu_group", &group)) < 0)
		return r;
	d->iommu_group = -1;
	if (group && (parse_int(group, &d->iommu_group) < 0 || d->iommu_group < 0))
		return -EINVAL;
	return 0;
}

static int read_sriov(struct vfio_pci_dev *d)
{
	int r;

	if ((r = read_int_opt(d->name, "sriov_totalvfs", -1, &d->sriov_total_vfs)) < 0)
		return r;
	d->sriov_num_vfs = -1;
	if (d->sriov_total_vfs >= 0 && (r = read_int_opt(d->name, "sriov_numvfs", 0, &d->sriov_num_vfs)) < 0)
		return r;
	return pci_read_link_opt(d->name, "physfn", &d->physfn);
}

static int read_misc(struct vfio_pci_dev *d)
{
	char p[PATH_MAX];
	int r;

	if ((r = read_int_opt(d->name, "numa_node", -1, &d->numa_node)) < 0)
		return r;
	if (d->numa_node < 0)
		d->numa_node = -1;
	if ((r = pci_sysfs_path(p, sizeof(p), d->name, "reset_method")) < 0)
		return r;
	r = root_read(p, &d->reset_method);
	if (r == -ENOENT || (r >= 0 && !*strstrip(d->reset_method))) {
		free(d->reset_method);
		d->reset_method = NULL;
		r = 0;
	}
	return r;
}

static int pci_dev_read_one(struct pcilib *lib, const struct pci_addr *addr, struct vfio_pci_dev **ret)
{
	_cleanup_(pci_dev_freep) struct vfio_pci_dev *d = calloc(1, sizeof(*d));
	char p[PATH_MAX];
	int r;

	if (!d)
		return -ENOMEM;
	d->addr = *addr;
	pci_addr_format(addr, d->name);
	if ((r = pci_sysfs_path(p, sizeof(p), d->name, NULL)) < 0)
		return r;
	if (!root_exists(p))
		return -ENODEV;
	if ((r = read_ids(d)) < 0 || (r = read_binding(d)) < 0 || (r = read_sriov(d)) < 0 ||
	    (r = read_misc(d)) < 0 || (r = pci_dev_children(d)) < 0) {
		log_debug("%s: reading sysfs failed: %s", d->name, strerror(-r));
		return r;
	}
	if ((r = pcilib_names(lib, d)) < 0)
		log_debug("%s: no names from pci.ids: %s", d->name, strerror(-r));
	r = pcilib_caps(lib, d);
	if (r == -ENOMEM)
		return r;
	d->config_read = r >= 0;
	if (r < 0)
		log_debug("%s: config space unreadable: %s", d->name, strerror(-r));
	*ret = TAKE_PTR(d);
	return 0;
}

int vfio_pci_dev_read(const struct pci_addr *addr, struct vfio_pci_dev **ret)
{
	struct pcilib *lib = NULL;
	int r = pcilib_open(&lib);

	if (r < 0)
		return r;
	r = pci_dev_read_one(lib, addr, ret);
	pcilib_close(lib);
	return r;
}

static int cmp_dev(const void *a, const void *b)
{
	return pci_addr_cmp(&(*(struct vfio_pci_dev *const *)a)->addr, &(*(struct vfio_pci_dev *const *)b)->addr);
}

int vfio_pci_list(struct vfio_pci_dev ***ret)
{
	_cleanup_strv_free_ char **names = NULL;
	struct vfio_pci_dev **v = NULL;
	struct pcilib *lib = NULL;
	size_t n = 0;
	int r = root_list(PCI_DEVICES, &names);

	if (r == -ENOENT) {
		v = calloc(1, sizeof(*v));
		if (!v)
			return -ENOMEM;
		*ret = v;
		return 0;
	}
	if (r < 0)
		return r;
	v = calloc(strv_length(names) + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	r = pcilib_open(&lib);
	if (r < 0)
		goto fail;
	for (char **s = names; *s; s++) {
		struct pci_addr a;
		if (pci_addr_parse(*s, &a) < 0) {
			log_debug("%s: not a PCI address, ignoring", *s);
			continue;
		}
		r = pci_dev_read_one(lib, &a, &v[n]);
		/* A device hot-removed while we walk is simply gone. */
		if (r == -ENODEV || r == -ENOENT)
			continue;
		if (r < 0)
			goto fail;
		n++;
	}
	pcilib_close(lib);
	/* Names sort like addresses only while domains have the same width. */
	qsort(v, n, sizeof(*v), cmp_dev);
	*ret = v;
	return 0;
fail:
	pcilib_close(lib);
	vfio_pci_list_free(v);
	return r;
}
