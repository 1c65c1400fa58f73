/* pci.c: the PCI inventory: every function under /sys/bus/pci/devices (through the root) with
 * its ids, names, driver, IOMMU group, SR-IOV role, NUMA node, config-space capabilities. */
#include <limits.h>

#include "pci-internal.h"
#include "util/attr.h"
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
	for (size_t i = 0; i < d->n_problems; i++) {
		free(d->problems[i].file);
		free(d->problems[i].reason);
	}
	free(d->problems);
	free(d);
}

const struct vfio_pci_problem *vfio_pci_dev_problem(const struct vfio_pci_dev *d, const char *field)
{
	for (size_t i = 0; i < d->n_problems; i++)
		if (streq(d->problems[i].field, field))
			return &d->problems[i];
	return NULL;
}

/* Notes that file (feeding field) is unreadable; takes why. Only running out of memory fails. */
static int note_problem(struct vfio_pci_dev *d, const char *file, const char *field, int r, char *why)
{
	_cleanup_free_ char *reason = why;
	struct vfio_pci_problem *n;
	char p[PATH_MAX];

	if (r == -ENOMEM)
		return r;
	if (!reason && !(reason = strdup(r == -ENOENT ? "missing" : file_type_error(r))))
		return -ENOMEM;
	if (pci_sysfs_path(p, sizeof(p), d->name, file) < 0)
		snprintf(p, sizeof(p), "%s", file);
	n = realloc(d->problems, (d->n_problems + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	d->problems = n;
	n[d->n_problems] = (struct vfio_pci_problem){ .field = field };
	if (!(n[d->n_problems].file = strdup(p)))
		return -ENOMEM;
	n[d->n_problems++].reason = TAKE_PTR(reason);
	log_debug("%s: %s: %s", d->name, p, n[d->n_problems - 1].reason);
	return 0;
}

/* One numeric attribute through the shared parser: absent -> def (or, when required, a problem). */
static int read_num(struct vfio_pci_dev *d, const char *file, const char *field, int base, int min, int max,
		    bool required, int def, int *ret)
{
	char p[PATH_MAX];
	char *why = NULL;
	int r = pci_sysfs_path(p, sizeof(p), d->name, file);

	*ret = def;
	if (r >= 0)
		r = attr_read_int(p, base, min, max, ret, &why);
	if (r == -ENOENT && !required)
		return 0;
	if (r < 0) {
		*ret = def;
		return note_problem(d, file, field, r, why);
	}
	return 0;
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
	int v, r;

	if ((r = read_num(d, "vendor", "vendor_id", 16, 0, 0xffff, true, 0, &v)) < 0)
		return r;
	d->vendor_id = (uint16_t)v;
	if ((r = read_num(d, "device", "device_id", 16, 0, 0xffff, true, 0, &v)) < 0)
		return r;
	d->device_id = (uint16_t)v;
	if ((r = read_num(d, "class", "class", 16, 0, 0xffffff, true, 0, &v)) < 0)
		return r;
	d->class_code = (uint32_t)v;
	/* Subsystem ids are absent on some bridges: zero, like lspci shows. */
	if ((r = read_num(d, "subsystem_vendor", "subsystem_vendor_id", 16, 0, 0xffff, false, 0, &v)) < 0)
		return r;
	d->subsystem_vendor_id = (uint16_t)v;
	if ((r = read_num(d, "subsystem_device", "subsystem_device_id", 16, 0, 0xffff, false, 0, &v)) < 0)
		return r;
	d->subsystem_device_id = (uint16_t)v;
	/* PCI-to-PCI and semi-transparent bridges. */
	d->is_bridge = (d->class_code >> 8) == 0x0604 || (d->class_code >> 8) == 0x0609;
	return 0;
}

static int read_binding(struct vfio_pci_dev *d)
{
	char p[PATH_MAX], *why = NULL;
	int r;

	if ((r = pci_read_link_opt(d->name, "driver", &d->driver)) < 0 &&
	    (r = note_problem(d, "driver", "driver", r, NULL)) < 0)
		return r;
	if ((r = pci_sysfs_path(p, sizeof(p), d->name, "driver_override")) < 0)
		return r;
	r = root_read(p, &d->driver_override);
	if (r < 0 && r != -ENOENT && (r = note_problem(d, "driver_override", "driver_override", r, NULL)) < 0)
		return r;
	/* The kernel shows an unset override as "(null)". */
	if (d->driver_override && (!*strstrip(d->driver_override) || streq(d->driver_override, "(null)"))) {
		free(d->driver_override);
		d->driver_override = NULL;
	}
	d->iommu_group = -1;
	if ((r = pci_sysfs_path(p, sizeof(p), d->name, "iommu_group")) < 0)
		return r;
	r = attr_read_link_number(p, &d->iommu_group, &why);
	if (r < 0) {
		d->iommu_group = -1;
		if (r != -ENOENT)
			return note_problem(d, "iommu_group", "iommu_group", r, why);
	}
	return 0;
}

/* An SR-IOV capability has 16-bit TotalVFs and NumVFs fields. */
#define SRIOV_MAX_VFS 0xffff

static int read_sriov(struct vfio_pci_dev *d)
{
	int r;

	if ((r = read_num(d, "sriov_totalvfs", "sriov_total_vfs", 10, 0, SRIOV_MAX_VFS, false, -1,
			  &d->sriov_total_vfs)) < 0)
		return r;
	d->sriov_num_vfs = -1;
	if (d->sriov_total_vfs >= 0 && (r = read_num(d, "sriov_numvfs", "sriov_num_vfs", 10, 0, SRIOV_MAX_VFS,
						       false, 0, &d->sriov_num_vfs)) < 0)
		return r;
	if ((r = pci_read_link_opt(d->name, "physfn", &d->physfn)) < 0)
		return note_problem(d, "physfn", "physfn", r, NULL);
	return 0;
}

/* Linux numbers NUMA nodes below MAX_NUMNODES (1 << CONFIG_NODES_SHIFT, at most 1024). */
#define NUMA_MAX 1023

static int read_misc(struct vfio_pci_dev *d)
{
	char p[PATH_MAX];
	int r;

	if ((r = read_num(d, "numa_node", "numa_node", 10, -1, NUMA_MAX, false, -1, &d->numa_node)) < 0)
		return r;
	if ((r = pci_sysfs_path(p, sizeof(p), d->name, "reset_method")) < 0)
		return r;
	r = root_read(p, &d->reset_method);
	if (r == -ENOENT || (r >= 0 && !*strstrip(d->reset_method))) {
		free(d->reset_method);
		d->reset_method = NULL;
		r = 0;
	}
	if (r < 0)
		return note_problem(d, "reset_method", "reset_method", r, NULL);
	return 0;
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
	/* Only running out of memory ends the read: a bad file becomes a problem of the device. */
	if ((r = read_ids(d)) < 0 || (r = read_binding(d)) < 0 || (r = read_sriov(d)) < 0 ||
	    (r = read_misc(d)) < 0)
		return r;
	r = pci_dev_children(d);
	if (r < 0 && (r = note_problem(d, "net", "netdevs", r, NULL)) < 0)
		return r;
	if (!d->netdevs && !(d->netdevs = calloc(1, sizeof(char *))))
		return -ENOMEM;
	if (!d->block_devices && !(d->block_devices = calloc(1, sizeof(char *))))
		return -ENOMEM;
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
