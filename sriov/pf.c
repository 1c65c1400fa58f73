/* pf.c: a physical function's SR-IOV state as sysfs shows it (counts, autoprobe, virtfnN links) and
 * whether a VF is in use by a process or an assignment, all read through the system root. */
#include <limits.h>

#include "sriov.h"
#include "util/assigned.h"
#include "util/attr.h"
#include "util/log.h"
#include "util/root.h"
#include "util/state.h"

#define DEV "/sys/bus/pci/devices/"

static int read_link_base(const char *dir, const char *name, char **ret)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof(p), "%s/%s", dir, name) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	return root_readlink_base(p, ret);
}

/* An iommu_group link's number (the parser `list` uses), -1 when absent or malformed. */
static int read_group(const char *dir)
{
	char p[PATH_MAX];
	int n;

	if (snprintf(p, sizeof(p), "%s/iommu_group", dir) >= (int)sizeof(p) || attr_read_link_number(p, &n, NULL) < 0)
		return -1;
	return n;
}

/* The count attributes, read exactly as `list` and `show` read them (util/attr, 16-bit fields). */
static int read_count(const char *dir, const char *name, unsigned max, unsigned *ret, char **ret_why)
{
	char p[PATH_MAX];
	_cleanup_free_ char *why = NULL;
	int v, r;

	if (snprintf(p, sizeof(p), "%s/%s", dir, name) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	r = attr_read_int(p, 10, 0, (int)max, &v, &why);
	if (r < 0) {
		if (r != -ENOENT && ret_why && asprintf(ret_why, "%s: %s", p, why ? why : strerror(-r)) < 0)
			*ret_why = NULL;
		return r;
	}
	*ret = (unsigned)v;
	return 0;
}

static int read_driver(const char *dir, char **ret)
{
	int r = read_link_base(dir, "driver", ret);
	if (r == -ENOENT) {
		*ret = NULL;
		return 0;
	}
	return r;
}

/* The first interface under DIR/net, sorted, so the choice is stable; NULL if there is none. */
static int read_netdev(const char *dir, char **ret)
{
	char p[PATH_MAX];
	_cleanup_strv_free_ char **names = NULL;
	int r;

	*ret = NULL;
	if (snprintf(p, sizeof(p), "%s/net", dir) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	r = root_list(p, &names);
	if (r == -ENOENT || r == -ENOTDIR)
		return 0;
	if (r < 0)
		return r;
	if (names[0] && !(*ret = strdup(names[0])))
		return -ENOMEM;
	return 0;
}

static int read_uint(const char *dir, const char *name, unsigned *ret)
{
	char p[PATH_MAX];
	uint64_t v;
	int r;

	if (snprintf(p, sizeof(p), "%s/%s", dir, name) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	r = root_read_u64(p, 10, &v);
	if (r < 0)
		return r;
	if (v > UINT_MAX)
		return -ERANGE;
	*ret = (unsigned)v;
	return 0;
}

static int load_vf(const char *pfdir, unsigned index, struct sriov_vf *vf)
{
	char link[32], dir[64];
	_cleanup_free_ char *addr = NULL;
	struct pci_addr a;
	int r;

	*vf = (struct sriov_vf){ .index = index, .iommu_group = -1 };
	snprintf(link, sizeof(link), "virtfn%u", index);
	r = read_link_base(pfdir, link, &addr);
	if (r < 0)
		return r;
	/* A malformed target is the kernel's business; keep the VF with an empty address. */
	if (pci_addr_parse(addr, &a) < 0)
		return 0;
	pci_addr_format(&a, vf->address);
	snprintf(dir, sizeof(dir), DEV "%s", vf->address);
	if (!root_exists(dir)) {
		vf->address[0] = '\0';
		return 0;
	}
	vf->iommu_group = read_group(dir);
	r = read_driver(dir, &vf->driver);
	if (r >= 0)
		r = read_netdev(dir, &vf->netdev);
	return r;
}

static int cmp_vf(const void *a, const void *b)
{
	const struct sriov_vf *x = a, *y = b;
	return x->index < y->index ? -1 : x->index > y->index;
}

static int load_vfs(const char *pfdir, struct sriov_pf *pf)
{
	_cleanup_strv_free_ char **names = NULL;
	size_t n = 0;
	int r = root_list(pfdir, &names);

	if (r < 0)
		return r;
	for (size_t i = 0; names[i]; i++)
		n += startswith(names[i], "virtfn");
	pf->vfs = calloc(n ? n : 1, sizeof(*pf->vfs));
	if (!pf->vfs)
		return -ENOMEM;
	for (size_t i = 0; names[i]; i++) {
		int idx;
		if (!startswith(names[i], "virtfn") || parse_int(names[i] + 6, &idx) < 0 || idx < 0)
			continue;
		r = load_vf(pfdir, (unsigned)idx, &pf->vfs[pf->n_vfs]);
		if (r == -ENOENT) /* removed while we looked */
			continue;
		pf->n_vfs++; /* counted before the check so sriov_pf_free releases a half-loaded VF */
		if (r < 0)
			return r;
	}
	qsort(pf->vfs, pf->n_vfs, sizeof(*pf->vfs), cmp_vf);
	return 0;
}

void sriov_pf_free(struct sriov_pf *pf)
{
	if (!pf)
		return;
	for (size_t i = 0; i < pf->n_vfs; i++) {
		free(pf->vfs[i].driver);
		free(pf->vfs[i].netdev);
	}
	free(pf->vfs);
	free(pf->driver);
	free(pf->netdev);
	free(pf);
}

int sriov_pf_load(const char *address, struct sriov_pf **ret)
{
	return sriov_pf_load_why(address, ret, NULL);
}

int sriov_pf_load_why(const char *address, struct sriov_pf **ret, char **ret_why)
{
	_cleanup_sriov_pf_ struct sriov_pf *pf = NULL;
	char dir[64], p[PATH_MAX];
	struct pci_addr a;
	unsigned ap = 1;
	int r;

	if (pci_addr_parse(address, &a) < 0)
		return -EINVAL;
	pf = calloc(1, sizeof(*pf));
	if (!pf)
		return -ENOMEM;
	pci_addr_format(&a, pf->address);
	snprintf(dir, sizeof(dir), DEV "%s", pf->address);
	if (!root_exists(dir))
		return -ENODEV;
	snprintf(p, sizeof(p), "%s/physfn", dir);
	if (root_exists(p))
		return -EOPNOTSUPP;
	r = read_count(dir, "sriov_totalvfs", 0xffff, &pf->total_vfs, ret_why);
	if (r == -ENOENT)
		return -EOPNOTSUPP;
	if (r < 0)
		return r;
	r = read_count(dir, "sriov_numvfs", 0xffff, &pf->num_vfs, ret_why);
	if (r < 0)
		return r;
	/* Kernels before 4.12 have no sriov_drivers_autoprobe: VF drivers always probe there. */
	r = read_count(dir, "sriov_drivers_autoprobe", 1, &ap, ret_why);
	if (r < 0 && r != -ENOENT)
		return r;
	pf->autoprobe = ap != 0;
	pf->iommu_group = read_group(dir);
	r = read_driver(dir, &pf->driver);
	if (r < 0)
		return r;
	r = read_netdev(dir, &pf->netdev);
	if (r < 0)
		return r;
	if (pf->netdev) {
		unsigned idx;
		snprintf(p, sizeof(p), "net/%s/ifindex", pf->netdev);
		if (read_uint(dir, p, &idx) >= 0 && idx <= INT_MAX)
			pf->ifindex = (int)idx;
	}
	r = load_vfs(dir, pf);
	if (r < 0)
		return r;
	log_debug("%s: %u/%u VFs, autoprobe %d, driver %s, netdev %s", pf->address, pf->num_vfs,
		  pf->total_vfs, pf->autoprobe, pf->driver ? pf->driver : "-", pf->netdev ? pf->netdev : "-");
	*ret = TAKE_PTR(pf);
	return 0;
}

/* The pid of a process holding an fd whose link reads target, 0 if none. /proc entries that vanish
 * or that we may not read (other users' processes when not root) are skipped. */
static long find_opener(const char *target)
{
	_cleanup_strv_free_ char **pids = NULL;

	if (root_list("/proc", &pids) < 0)
		return 0;
	for (size_t i = 0; pids[i]; i++) {
		_cleanup_strv_free_ char **fds = NULL;
		char p[PATH_MAX];
		int pid;

		if (parse_int(pids[i], &pid) < 0 || pid <= 0)
			continue;
		snprintf(p, sizeof(p), "/proc/%d/fd", pid);
		if (root_list(p, &fds) < 0)
			continue;
		for (size_t j = 0; fds[j]; j++) {
			_cleanup_free_ char *t = NULL;
			snprintf(p, sizeof(p), "/proc/%d/fd/%s", pid, fds[j]);
			if (root_readlink(p, &t) >= 0 && streq(t, target))
				return pid;
		}
	}
	return 0;
}

static int opener_reason(const char *dev, long pid, char **reason)
{
	_cleanup_free_ char *comm = NULL;
	char p[64];

	snprintf(p, sizeof(p), "/proc/%ld/comm", pid);
	(void)root_read(p, &comm);
	if (asprintf(reason, "bound to vfio-pci, %s open by pid %ld (%s)", dev, pid,
		     comm ? comm : "?") < 0)
		return -ENOMEM;
	return 1;
}

int sriov_vf_in_use(const struct sriov_vf *vf, char **reason)
{
	struct assignment a;
	char dev[64];
	long pid;
	int r;

	if (!vf->address[0])
		return 0;
	r = assigned_read(vf->address, &a);
	if (r < 0)
		return r;
	if (r > 0 && a.running) {
		if (asprintf(reason, "assigned to VM %s (pid %ld), which is running", a.vm, a.pid) < 0)
			return -ENOMEM;
		return 1;
	}
	/* A record whose VM is gone (SIGKILL) says nothing: the checks below tell whether anyone holds it. */
	if (!streq(vf->driver, "vfio-pci"))
		return 0;
	if (vf->iommu_group >= 0) {
		snprintf(dev, sizeof(dev), "/dev/vfio/%d", vf->iommu_group);
		if ((pid = find_opener(dev)))
			return opener_reason(dev, pid, reason);
	}
	/* The per-device cdev (iommufd) is another way in. */
	{
		char p[PATH_MAX];
		_cleanup_strv_free_ char **names = NULL;
		snprintf(p, sizeof(p), DEV "%s/vfio-dev", vf->address);
		if (root_list(p, &names) >= 0)
			for (size_t i = 0; names[i]; i++) {
				snprintf(dev, sizeof(dev), "/dev/vfio/devices/%s", names[i]);
				if ((pid = find_opener(dev)))
					return opener_reason(dev, pid, reason);
			}
	}
	return 0;
}
