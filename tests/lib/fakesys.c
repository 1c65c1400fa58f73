/* fakesys.c: builds fake sysfs/proc trees and models the kernel's PCI driver core on them.
 * The model acts on root_write() calls, so the code under test runs unchanged. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Paths in a fake tree are short; a truncated one fails the test that built it anyway. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include "fakesys.h"
#include "util/root.h"
#include "util/util.h"

#define MAX_DRIVERS 32
#define MAX_DEVS 128
#define MAX_FAILS 8

struct fake_driver {
	char name[64];
	char **ids; /* "vvvv:dddd" or "*" */
	unsigned faults;
};

struct fake_module {
	char module[64], driver[64];
	char *ids[4];
};

struct fake_dev {
	char addr[32];
	char path[PATH_MAX]; /* /sys/devices/pci0000:00/... */
	uint16_t vendor, device;
};

struct fake_fail {
	char suffix[128];
	int countdown;
	int err;
};

struct fakesys {
	char dir[PATH_MAX];
	bool owned;
	struct fake_driver drivers[MAX_DRIVERS];
	size_t n_drivers;
	struct fake_dev devs[MAX_DEVS];
	size_t n_devs;
	struct fake_module modules[MAX_DRIVERS];
	size_t n_modules;
	char modprobe[PATH_MAX];
	struct fake_fail fails[MAX_FAILS];
	size_t n_fails;
	char **writes;
	size_t n_writes;
	fakesys_write_cb on_write;
	void *on_write_data;
};

static const char pci_ids[] =
	"# pci.ids for ptctl's fake trees: names stay the same whatever the host has.\n"
	"1234  Technical Corp.\n"
	"\t11e8  QEMU PCI Test Device\n"
	"1b36  Red Hat, Inc.\n"
	"\t000c  QEMU PCIe Root port\n"
	"\t0010  QEMU NVM Express Controller\n"
	"8086  Intel Corporation\n"
	"\t10c9  82576 Gigabit Network Connection\n"
	"\t10ca  82576 Virtual Function\n"
	"\t10d3  82574L Gigabit Network Connection\n"
	"\t2918  82801IB (ICH9) LPC Interface Controller\n"
	"\t2922  82801IR/IO/IH (ICH9R/DO/DH) 6 port SATA Controller [AHCI mode]\n"
	"\t2930  82801I (ICH9 Family) SMBus Controller\n"
	"\t29c0  82G33/G31/P35/P31 Express DRAM Controller\n"
	"C 01  Mass storage controller\n"
	"\t06  SATA controller\n"
	"\t08  Non-Volatile memory controller\n"
	"C 02  Network controller\n"
	"\t00  Ethernet controller\n"
	"C 06  Bridge\n"
	"\t00  Host bridge\n"
	"\t01  ISA bridge\n"
	"\t04  PCI bridge\n"
	"C 0c  Serial bus controller\n"
	"\t05  SMBus\n"
	"C 00  Unclassified device\n"
	"\t00  Non-VGA unclassified device\n"
	"C ff  Unassigned class\n";

static int host(struct fakesys *fs, char *buf, size_t len, const char *path)
{
	int n = snprintf(buf, len, "%s%s", fs->dir, path);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int mkdir_parents(char *p)
{
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			*s = '/';
			return -errno;
		}
		*s = '/';
	}
	return 0;
}

static int fs_mkdir(struct fakesys *fs, const char *path)
{
	char p[PATH_MAX + 2];
	int r = host(fs, p, sizeof(p) - 2, path);
	if (r < 0)
		return r;
	strcat(p, "/");
	return mkdir_parents(p);
}

static int write_bytes(struct fakesys *fs, const char *path, const void *data, size_t len, bool append)
{
	char p[PATH_MAX];
	int fd, r = host(fs, p, sizeof(p), path);

	if (r < 0 || (r = mkdir_parents(p)) < 0)
		return r;
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
	if (fd < 0)
		return -errno;
	r = write(fd, data, len) == (ssize_t)len ? 0 : -EIO;
	close(fd);
	return r;
}

int fakesys_write(struct fakesys *fs, const char *path, const char *content)
{
	return write_bytes(fs, path, content, strlen(content), false);
}

int fakesys_append(struct fakesys *fs, const char *path, const char *content)
{
	return write_bytes(fs, path, content, strlen(content), true);
}

_printf_(3, 4) static int writef(struct fakesys *fs, const char *path, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return fakesys_write(fs, path, buf);
}

/* A link from path to target, both host paths, stored relative as the kernel's are. */
static int link_rel(struct fakesys *fs, const char *target, const char *path)
{
	char rel[PATH_MAX] = "", p[PATH_MAX];
	const char *slash;
	int r;

	/* From the link's directory up to / ... */
	slash = path;
	while ((slash = strchr(slash + 1, '/')))
		strcat(rel, "../");
	strncat(rel, target + 1, sizeof(rel) - strlen(rel) - 1);
	if ((r = host(fs, p, sizeof(p), path)) < 0 || (r = mkdir_parents(p)) < 0)
		return r;
	unlink(p);
	return symlink(rel, p) < 0 ? -errno : 0;
}

int fakesys_symlink(struct fakesys *fs, const char *target, const char *path)
{
	return link_rel(fs, target, path);
}

static int rm(struct fakesys *fs, const char *path)
{
	char p[PATH_MAX];
	int r = host(fs, p, sizeof(p), path);
	if (r < 0)
		return r;
	return unlink(p) < 0 && errno != ENOENT ? -errno : 0;
}

int fakesys_add_driver(struct fakesys *fs, const char *name, const char *const *ids);

static struct fake_driver *find_driver(struct fakesys *fs, const char *name)
{
	char p[PATH_MAX];

	for (size_t i = 0; i < fs->n_drivers; i++)
		if (streq(fs->drivers[i].name, name))
			return &fs->drivers[i];
	/* A module's driver registers when the fake modprobe has made its directory. */
	for (size_t i = 0; i < fs->n_modules; i++) {
		struct fake_module *m = &fs->modules[i];
		snprintf(p, sizeof(p), "%s/sys/bus/pci/drivers/%s", fs->dir, m->driver);
		if (streq(m->driver, name) && access(p, F_OK) == 0 &&
		    fakesys_add_driver(fs, m->driver, (const char *const *)m->ids) >= 0)
			return &fs->drivers[fs->n_drivers - 1];
	}
	return NULL;
}

static struct fake_dev *find_dev(struct fakesys *fs, const char *addr)
{
	for (size_t i = 0; i < fs->n_devs; i++)
		if (streq(fs->devs[i].addr, addr))
			return &fs->devs[i];
	return NULL;
}

static int read_small(struct fakesys *fs, const char *path, char *buf, size_t len)
{
	char p[PATH_MAX];
	int fd, r = host(fs, p, sizeof(p), path);
	ssize_t n;

	if (r < 0)
		return r;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return 0;
}

int fakesys_driver(struct fakesys *fs, const char *dev, char **ret)
{
	char p[PATH_MAX], t[PATH_MAX];
	ssize_t n;
	const char *base;

	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/%s/driver", fs->dir, dev);
	n = readlink(p, t, sizeof(t) - 1);
	if (n < 0) {
		*ret = NULL;
		return errno == ENOENT ? 0 : -errno;
	}
	t[n] = '\0';
	base = strrchr(t, '/');
	*ret = strdup(base ? base + 1 : t);
	return *ret ? 0 : -ENOMEM;
}

int fakesys_override(struct fakesys *fs, const char *dev, char **ret)
{
	char p[PATH_MAX], buf[128];
	int r;
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/driver_override", dev);
	r = read_small(fs, p, buf, sizeof(buf));
	if (r < 0)
		return r;
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

static int do_bind(struct fakesys *fs, struct fake_dev *d, struct fake_driver *drv)
{
	char lp[PATH_MAX], tp[PATH_MAX];
	int r;

	snprintf(tp, sizeof(tp), "/sys/bus/pci/drivers/%s", drv->name);
	snprintf(lp, sizeof(lp), "%s/driver", d->path);
	if ((r = link_rel(fs, tp, lp)) < 0)
		return r;
	snprintf(lp, sizeof(lp), "/sys/bus/pci/drivers/%s/%s", drv->name, d->addr);
	return link_rel(fs, d->path, lp);
}

static int do_unbind(struct fakesys *fs, struct fake_dev *d, const char *driver)
{
	char p[PATH_MAX];
	int r;
	snprintf(p, sizeof(p), "%s/driver", d->path);
	if ((r = rm(fs, p)) < 0)
		return r;
	snprintf(p, sizeof(p), "/sys/bus/pci/drivers/%s/%s", driver, d->addr);
	return rm(fs, p);
}

/* The PCI core's match: driver_override alone decides when set, else the id table. */
static bool matches(struct fakesys *fs, struct fake_dev *d, struct fake_driver *drv)
{
	char p[PATH_MAX], ov[128], id[16];

	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/driver_override", d->addr);
	if (read_small(fs, p, ov, sizeof(ov)) == 0 && *ov && !streq(ov, "(null)"))
		return streq(ov, drv->name);
	snprintf(id, sizeof(id), "%04x:%04x", d->vendor, d->device);
	for (char **s = drv->ids; s && *s; s++)
		if (streq(*s, "*") || streq(*s, id))
			return true;
	return false;
}

static int model_write(const char *path, const char *value, void *userdata)
{
	struct fakesys *fs = userdata;
	char addr[64], drvname[64], buf[PATH_MAX + 128];
	_cleanup_free_ char *cur = NULL;
	struct fake_dev *d;
	struct fake_driver *drv;
	int r;

	snprintf(buf, sizeof(buf), "%s <- %s", path, value);
	char *entry = strdup(buf);
	if (!entry || strv_push(&fs->writes, &fs->n_writes, entry) < 0)
		return -ENOMEM;
	if (fs->on_write && (r = fs->on_write(path, value, fs->on_write_data)) < 0)
		return r;
	for (size_t i = 0; i < fs->n_fails; i++) {
		size_t pl = strlen(path), sl = strlen(fs->fails[i].suffix);
		if (fs->fails[i].countdown > 0 && pl >= sl && streq(path + pl - sl, fs->fails[i].suffix) &&
		    --fs->fails[i].countdown == 0)
			return fs->fails[i].err;
	}
	snprintf(addr, sizeof(addr), "%.*s", (int)strcspn(value, "\n"), value);
	for (size_t i = 0; i < fs->n_modules; i++)
		find_driver(fs, fs->modules[i].driver); /* registers what the fake modprobe loaded */

	if (sscanf(path, "/sys/bus/pci/devices/%63[^/]/driver_overrid%1[e]", addr, drvname) == 2) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/driver_override", addr);
		if (!find_dev(fs, addr))
			return -ENOENT;
		size_t n = strcspn(value, "\n");
		if (n == 0)
			return fakesys_write(fs, p, "(null)\n") < 0 ? -EIO : 1;
		snprintf(buf, sizeof(buf), "%.*s\n", (int)n, value);
		return fakesys_write(fs, p, buf) < 0 ? -EIO : 1;
	}
	if (streq(path, "/sys/bus/pci/drivers_probe")) {
		if (!(d = find_dev(fs, addr)))
			return -ENODEV;
		if ((r = fakesys_driver(fs, addr, &cur)) < 0)
			return r;
		if (cur)
			return 1;
		for (size_t i = 0; i < fs->n_drivers; i++) {
			drv = &fs->drivers[i];
			if (!matches(fs, d, drv) || (drv->faults & FAKESYS_PROBE_FAILS))
				continue;
			return do_bind(fs, d, drv) < 0 ? -EIO : 1;
		}
		return 1; /* like the kernel: success although nothing bound */
	}
	if (sscanf(path, "/sys/bus/pci/devices/%63[^/]/driver/unbin%1[d]", drvname, buf) == 2) {
		/* Through the device's own driver link: the same as that driver's unbind file. */
		if ((r = fakesys_driver(fs, drvname, &cur)) < 0)
			return r;
		if (!cur)
			return -ENOENT;
		snprintf(buf, sizeof(buf), "/sys/bus/pci/drivers/%s/unbind", cur);
		return model_write(buf, value, userdata);
	}
	if (sscanf(path, "/sys/bus/pci/drivers/%63[^/]/%63s", drvname, buf) == 2) {
		if (!(drv = find_driver(fs, drvname)))
			return -ENOENT;
		if (streq(buf, "new_id")) {
			unsigned v, dv;
			size_t n = 0;
			if (sscanf(value, "%x %x", &v, &dv) != 2)
				return -EINVAL;
			snprintf(buf, sizeof(buf), "%04x:%04x", v, dv);
			n = strv_length(drv->ids);
			char *s = strdup(buf);
			return s && strv_push(&drv->ids, &n, s) >= 0 ? 1 : -ENOMEM;
		}
		if (!streq(buf, "bind") && !streq(buf, "unbind"))
			return 0;
		if (!(d = find_dev(fs, addr)))
			return -ENODEV;
		if ((r = fakesys_driver(fs, addr, &cur)) < 0)
			return r;
		if (streq(buf, "unbind")) {
			if (!streq(cur, drv->name))
				return -ENODEV;
			if (drv->faults & FAKESYS_UNBIND_EBUSY)
				return -EBUSY;
			return do_unbind(fs, d, drv->name) < 0 ? -EIO : 1;
		}
		if (cur)
			return -EBUSY;
		if (!matches(fs, d, drv))
			return -ENODEV;
		if (drv->faults & FAKESYS_PROBE_FAILS)
			return -ENXIO;
		return do_bind(fs, d, drv) < 0 ? -EIO : 1;
	}
	return 0;
}

static int init_tree(struct fakesys *fs)
{
	static const char *const dirs[] = {
		"/sys/bus/pci/devices", "/sys/bus/pci/drivers", "/sys/kernel/iommu_groups",
		"/sys/class/net",	"/sys/class/block",	"/sys/devices/pci0000:00",
		"/run",
	};
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
		if ((r = fs_mkdir(fs, dirs[i])) < 0)
			return r;
	if ((r = fakesys_write(fs, "/sys/bus/pci/drivers_probe", "")) < 0 ||
	    (r = fakesys_write(fs, "/sys/bus/pci/drivers_autoprobe", "1\n")) < 0 ||
	    (r = fakesys_write(fs, "/proc/net/route",
			       "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n")) < 0 ||
	    (r = fakesys_write(fs, "/proc/net/ipv6_route", "")) < 0 ||
	    (r = fakesys_write(fs, "/proc/self/mountinfo",
			       "22 1 0:21 / / rw,relatime - tmpfs rootfs rw\n")) < 0 ||
	    (r = fakesys_write(fs, "/proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n")) < 0)
		return r;
	return fakesys_write(fs, "/usr/share/misc/pci.ids", pci_ids);
}

static int fs_alloc(const char *dir, bool owned, struct fakesys **ret)
{
	struct fakesys *fs = calloc(1, sizeof(*fs));
	int r;

	if (!fs)
		return -ENOMEM;
	snprintf(fs->dir, sizeof(fs->dir), "%s", dir);
	fs->owned = owned;
	if ((r = init_tree(fs)) < 0) {
		free(fs);
		return r;
	}
	*ret = fs;
	return 0;
}

int fakesys_new(struct fakesys **ret)
{
	char dir[] = "/tmp/ptctl-fakesys-XXXXXX";
	struct fakesys *fs;
	int r;

	if (!mkdtemp(dir))
		return -errno;
	r = fs_alloc(dir, true, &fs);
	if (r < 0) {
		rmdir(dir);
		return r;
	}
	root_set(fs->dir);
	root_set_write_hook(model_write, fs);
	*ret = fs;
	return 0;
}

int fakesys_new_at(const char *dir, struct fakesys **ret)
{
	return fs_alloc(dir, false, ret);
}

void fakesys_free(struct fakesys *fs)
{
	const char *keep = getenv("FAKESYS_KEEP");

	if (!fs)
		return;
	if (fs->owned) {
		root_set_write_hook(NULL, NULL);
		root_set(NULL);
		if (keep && streq(keep, "1")) {
			fprintf(stderr, "fakesys: kept %s\n", fs->dir);
		} else {
			char cmd[PATH_MAX + 16];
			snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fs->dir);
			if (system(cmd) != 0)
				fprintf(stderr, "fakesys: could not remove %s\n", fs->dir);
		}
	}
	for (size_t i = 0; i < fs->n_drivers; i++)
		strv_free(fs->drivers[i].ids);
	for (size_t i = 0; i < fs->n_modules; i++)
		for (size_t j = 0; j < ARRAY_SIZE(fs->modules[i].ids); j++)
			free(fs->modules[i].ids[j]);
	strv_free(fs->writes);
	free(fs);
}

const char *fakesys_dir(const struct fakesys *fs)
{
	return fs->dir;
}

int fakesys_add_driver(struct fakesys *fs, const char *name, const char *const *ids)
{
	struct fake_driver *drv;
	char p[PATH_MAX];
	size_t n = 0;
	int r;

	for (size_t i = 0; i < fs->n_drivers; i++)
		if (streq(fs->drivers[i].name, name))
			return -EEXIST;
	if (fs->n_drivers == MAX_DRIVERS)
		return -ENOSPC;
	drv = &fs->drivers[fs->n_drivers++];
	snprintf(drv->name, sizeof(drv->name), "%s", name);
	if (!(drv->ids = calloc(1, sizeof(char *))))
		return -ENOMEM;
	for (const char *const *s = ids; s && *s; s++) {
		char *c = strdup(*s);
		if (!c || strv_push(&drv->ids, &n, c) < 0)
			return -ENOMEM;
	}
	static const char *const files[] = { "bind", "unbind", "new_id", "remove_id", "uevent" };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		snprintf(p, sizeof(p), "/sys/bus/pci/drivers/%s/%s", name, files[i]);
		if ((r = fakesys_write(fs, p, "")) < 0)
			return r;
	}
	return 0;
}

int fakesys_fault(struct fakesys *fs, const char *driver, unsigned faults)
{
	struct fake_driver *drv = find_driver(fs, driver);
	if (!drv)
		return -ENOENT;
	drv->faults = faults;
	return 0;
}

int fakesys_fail_write(struct fakesys *fs, const char *suffix, int nth, int err)
{
	if (fs->n_fails == MAX_FAILS || nth < 1 || err >= 0)
		return -EINVAL;
	struct fake_fail *f = &fs->fails[fs->n_fails++];
	snprintf(f->suffix, sizeof(f->suffix), "%s", suffix);
	f->countdown = nth;
	f->err = err;
	return 0;
}

static void put16(uint8_t *c, size_t off, uint16_t v)
{
	c[off] = v & 0xff;
	c[off + 1] = v >> 8;
}

static void put32(uint8_t *c, size_t off, uint32_t v)
{
	put16(c, off, v & 0xffff);
	put16(c, off + 2, v >> 16);
}

/* A config space with a real capability chain: MSI at 0x50, MSI-X at 0x70, PCIe at 0x90. */
static size_t make_config(const struct fakesys_dev *d, uint8_t *c)
{
	bool bridge = (d->class_code >> 8) == 0x0604;
	bool pcie = d->pcie || d->flr;
	uint8_t *link = &c[0x34];
	size_t len = pcie ? 4096 : 256;

	memset(c, 0, len);
	put16(c, 0x00, d->vendor);
	put16(c, 0x02, d->device);
	put32(c, 0x08, (d->class_code << 8) | 0x01);
	c[0x0e] = bridge ? 0x01 : 0x00;
	if (!bridge) {
		put16(c, 0x2c, d->subsystem_vendor);
		put16(c, 0x2e, d->subsystem_device);
	}
	if (d->msi_vectors > 0) {
		unsigned log2 = 0;
		while ((1 << log2) < d->msi_vectors && log2 < 5)
			log2++;
		*link = 0x50;
		c[0x50] = 0x05;
		put16(c, 0x52, (uint16_t)(0x80 | (log2 << 1))); /* 64-bit, Multiple Message Capable */
		link = &c[0x51];
	}
	if (d->msix_vectors > 0) {
		*link = 0x70;
		c[0x70] = 0x11;
		put16(c, 0x72, (uint16_t)((d->msix_vectors - 1) & 0x7ff));
		put32(c, 0x74, 0x3); /* table in BAR 3 */
		put32(c, 0x78, 0x2003);
		link = &c[0x71];
	}
	if (pcie) {
		*link = 0x90;
		c[0x90] = 0x10;
		put16(c, 0x92, bridge ? 0x0042 : 0x0002); /* version 2; root port or endpoint */
		put32(c, 0x94, d->flr ? (1u << 28) : 0);
		link = &c[0x91];
	}
	if (c[0x34])
		put16(c, 0x06, 0x0010); /* status: capability list */
	return len;
}

static int dev_files(struct fakesys *fs, const struct fakesys_dev *d, const char *path)
{
	char p[PATH_MAX];
	int r;
#define ATTR(name, ...)                                                                            \
	do {                                                                                       \
		snprintf(p, sizeof(p), "%s/" name, path);                                          \
		if ((r = writef(fs, p, __VA_ARGS__)) < 0)                                          \
			return r;                                                                  \
	} while (0)
	ATTR("vendor", "0x%04x\n", d->vendor);
	ATTR("device", "0x%04x\n", d->device);
	ATTR("subsystem_vendor", "0x%04x\n", d->subsystem_vendor);
	ATTR("subsystem_device", "0x%04x\n", d->subsystem_device);
	ATTR("class", "0x%06x\n", d->class_code);
	ATTR("numa_node", "%d\n", d->numa_node);
	ATTR("driver_override", "(null)\n");
	ATTR("enable", "1\n");
	if (d->reset_method)
		ATTR("reset_method", "%s\n", d->reset_method);
	if (d->sriov_total_vfs > 0) {
		ATTR("sriov_totalvfs", "%d\n", d->sriov_total_vfs);
		ATTR("sriov_numvfs", "0\n");
		ATTR("sriov_drivers_autoprobe", "1\n");
	}
#undef ATTR
	uint8_t cfg[4096];
	const void *bytes = d->config ? (const void *)d->config : cfg;
	size_t len = d->config ? d->config_len : make_config(d, cfg);
	snprintf(p, sizeof(p), "%s/config", path);
	return write_bytes(fs, p, bytes, len, false);
}

int fakesys_add_dev(struct fakesys *fs, const struct fakesys_dev *d)
{
	struct fake_dev *fd;
	char p[PATH_MAX];
	int r;

	if (!d->addr || find_dev(fs, d->addr))
		return -EEXIST;
	if (fs->n_devs == MAX_DEVS)
		return -ENOSPC;
	fd = &fs->devs[fs->n_devs];
	snprintf(fd->addr, sizeof(fd->addr), "%s", d->addr);
	fd->vendor = d->vendor;
	fd->device = d->device;
	if (d->parent) {
		struct fake_dev *parent = find_dev(fs, d->parent);
		if (!parent)
			return -ENOENT;
		snprintf(fd->path, sizeof(fd->path), "%s/%s", parent->path, d->addr);
	} else {
		snprintf(fd->path, sizeof(fd->path), "/sys/devices/pci%.4s:%.2s/%s", d->addr, d->addr + 5, d->addr);
	}
	fs->n_devs++;
	if ((r = dev_files(fs, d, fd->path)) < 0)
		return r;
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s", d->addr);
	if ((r = link_rel(fs, fd->path, p)) < 0)
		return r;
	if (d->iommu_group >= 0) {
		char g[PATH_MAX];
		snprintf(g, sizeof(g), "/sys/kernel/iommu_groups/%d", d->iommu_group);
		snprintf(p, sizeof(p), "%s/iommu_group", fd->path);
		if ((r = link_rel(fs, g, p)) < 0)
			return r;
		snprintf(p, sizeof(p), "/sys/kernel/iommu_groups/%d/devices/%s", d->iommu_group, d->addr);
		if ((r = link_rel(fs, fd->path, p)) < 0)
			return r;
		snprintf(p, sizeof(p), "/sys/kernel/iommu_groups/%d/reserved_regions", d->iommu_group);
		if ((r = fakesys_write(fs, p, "0x00000000fee00000 0x00000000feefffff msi\n")) < 0)
			return r;
	}
	if (d->driver) {
		struct fake_driver *drv = find_driver(fs, d->driver);
		if (!drv)
			return -ENOENT;
		return do_bind(fs, fd, drv);
	}
	return 0;
}

int fakesys_add_vf(struct fakesys *fs, const char *pf, int index, const struct fakesys_dev *d)
{
	struct fake_dev *pfd = find_dev(fs, pf), *vfd;
	char p[PATH_MAX], buf[64];
	int r, n = 0;

	if (!pfd)
		return -ENOENT;
	if ((r = fakesys_add_dev(fs, d)) < 0)
		return r;
	vfd = find_dev(fs, d->addr);
	snprintf(p, sizeof(p), "%s/physfn", vfd->path);
	if ((r = link_rel(fs, pfd->path, p)) < 0)
		return r;
	snprintf(p, sizeof(p), "%s/virtfn%d", pfd->path, index);
	if ((r = link_rel(fs, vfd->path, p)) < 0)
		return r;
	snprintf(p, sizeof(p), "%s/sriov_numvfs", pfd->path);
	if (read_small(fs, p, buf, sizeof(buf)) == 0)
		n = atoi(buf);
	return writef(fs, p, "%d\n", n + 1);
}

int fakesys_add_netdev(struct fakesys *fs, const char *dev, const char *ifname, unsigned flags, int ifindex)
{
	struct fake_dev *d = find_dev(fs, dev);
	char dir[PATH_MAX], p[PATH_MAX];
	int r;

	if (!d)
		return -ENOENT;
	snprintf(dir, sizeof(dir), "%s/net/%s", d->path, ifname);
	snprintf(p, sizeof(p), "%s/flags", dir);
	if ((r = writef(fs, p, "0x%x\n", flags)) < 0)
		return r;
	snprintf(p, sizeof(p), "%s/ifindex", dir);
	if ((r = writef(fs, p, "%d\n", ifindex)) < 0)
		return r;
	snprintf(p, sizeof(p), "%s/operstate", dir);
	if ((r = writef(fs, p, "%s\n", flags & 1 ? "up" : "down")) < 0)
		return r;
	snprintf(p, sizeof(p), "/sys/class/net/%s", ifname);
	return link_rel(fs, dir, p);
}

int fakesys_add_route(struct fakesys *fs, const char *ifname)
{
	char line[256];
	snprintf(line, sizeof(line), "%s\t0012C6C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n", ifname);
	return fakesys_append(fs, "/proc/net/route", line);
}

int fakesys_add_ipv6_route(struct fakesys *fs, const char *ifname, const char *dest32hex)
{
	char line[512];
	snprintf(line, sizeof(line),
		 "%s 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 "
		 "00000001 00000000 00000001 %8s\n",
		 dest32hex, ifname);
	return fakesys_append(fs, "/proc/net/ipv6_route", line);
}

int fakesys_add_block(struct fakesys *fs, const char *dev, const char *disk, const char *name, const char *devno)
{
	struct fake_dev *d = find_dev(fs, dev);
	char dir[PATH_MAX], p[PATH_MAX];
	int r;

	if (!d)
		return -ENOENT;
	/* NVMe-like layout: DEVICE/nvme/nvme0/nvme0n1[/nvme0n1p1]. */
	if (disk)
		snprintf(dir, sizeof(dir), "%s/nvme/nvme0/%s/%s", d->path, disk, name);
	else
		snprintf(dir, sizeof(dir), "%s/nvme/nvme0/%s", d->path, name);
	snprintf(p, sizeof(p), "%s/dev", dir);
	if ((r = writef(fs, p, "%s\n", devno)) < 0 || (r = fs_mkdir(fs, strcat(strcpy(p, dir), "/holders"))) < 0)
		return r;
	snprintf(p, sizeof(p), "/sys/class/block/%s", name);
	return link_rel(fs, dir, p);
}

int fakesys_add_mount(struct fakesys *fs, const char *devno, const char *mountpoint)
{
	char line[512];
	snprintf(line, sizeof(line), "40 22 %s / %s rw,relatime - ext4 /dev/x rw\n", devno, mountpoint);
	return fakesys_append(fs, "/proc/self/mountinfo", line);
}

int fakesys_add_holder(struct fakesys *fs, const char *blk, const char *holder)
{
	char p[PATH_MAX], t[PATH_MAX];
	snprintf(p, sizeof(p), "/sys/class/block/%s/holders/%s", blk, holder);
	snprintf(t, sizeof(t), "/sys/devices/virtual/block/%s", holder);
	int r = fs_mkdir(fs, t);
	return r < 0 ? r : link_rel(fs, t, p);
}

char *const *fakesys_writes(const struct fakesys *fs)
{
	static char *const empty[] = { NULL };
	return fs->writes ? fs->writes : empty;
}

size_t fakesys_n_writes(const struct fakesys *fs)
{
	return fs->n_writes;
}

void fakesys_clear_writes(struct fakesys *fs)
{
	strv_free(fs->writes);
	fs->writes = NULL;
	fs->n_writes = 0;
}

int fakesys_add_sample_host(struct fakesys *fs, bool iommu)
{
	const int g = iommu ? 0 : -1000; /* group numbers below 0 mean none */
#define GROUP(n) ((n) + g < 0 ? -1 : (n))
	static const struct {
		const char *name;
		const char *ids[3];
	} drivers[] = {
		{ "pcieport", { "1b36:000c", NULL } }, { "igb", { "8086:10c9", NULL } },
		{ "igbvf", { "8086:10ca", NULL } },    { "e1000e", { "8086:10d3", NULL } },
		{ "nvme", { "1b36:0010", NULL } },     { "lpc_ich", { "8086:2918", NULL } },
		{ "ahci", { "8086:2922", NULL } },     { "i801_smbus", { "8086:2930", NULL } },
		{ "vfio-pci", { NULL } },	       { "pci-stub", { NULL } },
	};
	const struct fakesys_dev devs[] = {
		{ .addr = "0000:00:00.0", .vendor = 0x8086, .device = 0x29c0, .class_code = 0x060000,
		  .iommu_group = GROUP(0), .numa_node = -1, .subsystem_vendor = 0x1af4, .subsystem_device = 0x1100 },
		{ .addr = "0000:00:05.0", .vendor = 0x1234, .device = 0x11e8, .class_code = 0x00ff00,
		  .iommu_group = GROUP(7), .numa_node = -1, .msi_vectors = 1, .subsystem_vendor = 0x1af4,
		  .subsystem_device = 0x1100 },
		{ .addr = "0000:00:1c.0", .vendor = 0x1b36, .device = 0x000c, .class_code = 0x060400,
		  .iommu_group = GROUP(1), .numa_node = -1, .driver = "pcieport", .pcie = true, .msix_vectors = 1 },
		{ .addr = "0000:00:1c.1", .vendor = 0x1b36, .device = 0x000c, .class_code = 0x060400,
		  .iommu_group = GROUP(2), .numa_node = -1, .driver = "pcieport", .pcie = true, .msix_vectors = 1 },
		{ .addr = "0000:00:1c.2", .vendor = 0x1b36, .device = 0x000c, .class_code = 0x060400,
		  .iommu_group = GROUP(3), .numa_node = -1, .driver = "pcieport", .pcie = true, .msix_vectors = 1 },
		{ .addr = "0000:01:00.0", .parent = "0000:00:1c.0", .vendor = 0x8086, .device = 0x10c9,
		  .subsystem_vendor = 0x8086, .subsystem_device = 0x0000, .class_code = 0x020000,
		  .iommu_group = GROUP(1), .numa_node = 0, .driver = "igb", .msi_vectors = 1, .msix_vectors = 10,
		  .flr = true, .sriov_total_vfs = 7, .reset_method = "flr bus" },
		{ .addr = "0000:02:00.0", .parent = "0000:00:1c.1", .vendor = 0x8086, .device = 0x10d3,
		  .subsystem_vendor = 0x8086, .subsystem_device = 0x0000, .class_code = 0x020000,
		  .iommu_group = GROUP(2), .numa_node = 0, .driver = "e1000e", .msi_vectors = 1, .msix_vectors = 5,
		  .pcie = true, .reset_method = "bus" },
		{ .addr = "0000:03:00.0", .parent = "0000:00:1c.2", .vendor = 0x1b36, .device = 0x0010,
		  .subsystem_vendor = 0x1af4, .subsystem_device = 0x1100, .class_code = 0x010802,
		  .iommu_group = GROUP(3), .numa_node = 0, .driver = "nvme", .msix_vectors = 65, .flr = true,
		  .reset_method = "flr bus" },
		{ .addr = "0000:00:1f.0", .vendor = 0x8086, .device = 0x2918, .class_code = 0x060100,
		  .iommu_group = GROUP(4), .numa_node = -1, .driver = "lpc_ich", .subsystem_vendor = 0x1af4,
		  .subsystem_device = 0x1100 },
		{ .addr = "0000:00:1f.2", .vendor = 0x8086, .device = 0x2922, .class_code = 0x010601,
		  .iommu_group = GROUP(4), .numa_node = -1, .driver = "ahci", .msi_vectors = 1,
		  .subsystem_vendor = 0x1af4, .subsystem_device = 0x1100 },
		{ .addr = "0000:00:1f.3", .vendor = 0x8086, .device = 0x2930, .class_code = 0x0c0500,
		  .iommu_group = GROUP(4), .numa_node = -1, .driver = "i801_smbus", .subsystem_vendor = 0x1af4,
		  .subsystem_device = 0x1100 },
	};
	const struct fakesys_dev vfs[] = {
		{ .addr = "0000:01:10.0", .parent = "0000:00:1c.0", .vendor = 0x8086, .device = 0x10ca,
		  .subsystem_vendor = 0x8086, .class_code = 0x020000, .iommu_group = GROUP(5), .numa_node = 0,
		  .driver = "igbvf", .msix_vectors = 3, .flr = true, .reset_method = "flr" },
		{ .addr = "0000:01:10.2", .parent = "0000:00:1c.0", .vendor = 0x8086, .device = 0x10ca,
		  .subsystem_vendor = 0x8086, .class_code = 0x020000, .iommu_group = GROUP(6), .numa_node = 0,
		  .driver = "vfio-pci", .msix_vectors = 3, .flr = true, .reset_method = "flr" },
	};
#undef GROUP
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(drivers); i++)
		if ((r = fakesys_add_driver(fs, drivers[i].name, drivers[i].ids)) < 0)
			return r;
	for (size_t i = 0; i < ARRAY_SIZE(devs); i++)
		if ((r = fakesys_add_dev(fs, &devs[i])) < 0)
			return r;
	for (size_t i = 0; i < ARRAY_SIZE(vfs); i++)
		if ((r = fakesys_add_vf(fs, "0000:01:00.0", (int)i, &vfs[i])) < 0)
			return r;
	if ((r = fakesys_add_netdev(fs, "0000:01:00.0", "enp1s0", 0x1003, 2)) < 0 ||
	    (r = fakesys_add_route(fs, "enp1s0")) < 0 ||
	    (r = fakesys_add_netdev(fs, "0000:02:00.0", "enp2s0", 0x1002, 3)) < 0 ||
	    (r = fakesys_add_block(fs, "0000:03:00.0", NULL, "nvme0n1", "259:0")) < 0 ||
	    (r = fakesys_add_block(fs, "0000:03:00.0", "nvme0n1", "nvme0n1p1", "259:1")) < 0)
		return r;
	return fakesys_add_mount(fs, "259:1", "/srv");
}

int fakesys_add_module(struct fakesys *fs, const char *module, const char *driver, const char *const *ids)
{
	struct fake_module *m;
	char line[256];
	int r;

	if (fs->n_modules == MAX_DRIVERS)
		return -ENOSPC;
	m = &fs->modules[fs->n_modules++];
	snprintf(m->module, sizeof(m->module), "%s", module);
	snprintf(m->driver, sizeof(m->driver), "%s", driver);
	for (size_t i = 0; ids && ids[i] && i + 1 < ARRAY_SIZE(m->ids); i++)
		if (!(m->ids[i] = strdup(ids[i])))
			return -ENOMEM;
	snprintf(line, sizeof(line), "%s %s\n", module, driver);
	if ((r = fakesys_append(fs, "/lib/fake-modules", line)) < 0)
		return r;
	char script[4 * PATH_MAX];
	snprintf(script, sizeof(script),
		 "#!/bin/sh\n"
		 "# fakesys modprobe: registers the PCI driver of a module fakesys_add_module() declared;\n"
		 "# -D only resolves it (as kmod's --show-depends does), registering nothing.\n"
		 "show=0; [ \"$1\" = -D ] && { show=1; shift; }\n"
		 "line=$(grep \"^$1 \" '%s/lib/fake-modules') || { echo \"modprobe: FATAL: Module $1 not found\" >&2; exit 1; }\n"
		 "[ $show = 0 ] || { echo \"insmod /lib/modules/$1.ko\"; exit 0; }\n"
		 "d='%s/sys/bus/pci/drivers/'\"${line#* }\"\n"
		 "mkdir -p \"$d\" && for f in bind unbind new_id remove_id uevent; do : > \"$d/$f\"; done\n",
		 fs->dir, fs->dir);
	if ((r = fakesys_write(fs, "/sbin/modprobe", script)) < 0)
		return r;
	snprintf(fs->modprobe, sizeof(fs->modprobe), "%s/sbin/modprobe", fs->dir);
	return chmod(fs->modprobe, 0755) < 0 ? -errno : 0;
}

const char *fakesys_modprobe_path(const struct fakesys *fs)
{
	return fs->modprobe;
}

void fakesys_on_write(struct fakesys *fs, fakesys_write_cb cb, void *userdata)
{
	fs->on_write = cb;
	fs->on_write_data = userdata;
}
