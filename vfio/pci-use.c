/* pci-use.c: what the host does with a device: its network interfaces and block devices, and
 * whether they are in use (up with addresses or routes; mounted, swap, or held by dm/md). */
#include <limits.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <sys/socket.h>

#include "pci-internal.h"
#include "util/log.h"
#include "util/root.h"

bool pci_path_under(const char *target, const char *dev)
{
	size_t dl = strlen(dev);
	const char *p = target;
	struct pci_addr a;

	for (;;) {
		const char *hit = strstr(p, dev);
		if (!hit)
			return false;
		if ((hit == target || hit[-1] == '/') && hit[dl] == '/')
			break;
		p = hit + 1;
	}
	/* Anything behind a bridge carries the bridge's name too: a later PCI address means no. */
	for (p = strstr(p, dev) + dl; *p == '/'; p += strcspn(p + 1, "/") + 1) {
		char comp[64];
		size_t n = strcspn(p + 1, "/");
		if (n < sizeof(comp)) {
			memcpy(comp, p + 1, n);
			comp[n] = '\0';
			if (pci_addr_parse(comp, &a) == 0)
				return false;
		}
	}
	return true;
}

/* Entries of /sys/class/<cls> whose link points under the device. */
static int class_children(const char *cls, const char *dev, char ***ret)
{
	_cleanup_strv_free_ char **names = NULL;
	char **out = NULL, dir[PATH_MAX];
	size_t n = 0;
	int r;

	snprintf(dir, sizeof(dir), "/sys/class/%s", cls);
	r = root_list(dir, &names);
	if (r == -ENOENT)
		names = calloc(1, sizeof(char *));
	else if (r < 0)
		return r;
	if (!names || !(out = calloc(1, sizeof(char *))))
		return -ENOMEM;
	for (char **s = names; *s; s++) {
		_cleanup_free_ char *target = NULL;
		char p[PATH_MAX];
		if (snprintf(p, sizeof(p), "%s/%s", dir, *s) >= (int)sizeof(p) || root_readlink(p, &target) < 0)
			continue;
		if (!pci_path_under(target, dev))
			continue;
		char *c = strdup(*s);
		if (!c || (r = strv_push(&out, &n, c)) < 0) {
			strv_free(out);
			return -ENOMEM;
		}
	}
	*ret = out;
	return 0;
}

static bool strv_has(char *const *v, const char *s)
{
	for (; v && *v; v++)
		if (streq(*v, s))
			return true;
	return false;
}

/* Native NVMe multipath leaves only the hidden path node nvmeXcYnZ under the controller; the disk
 * in /dev, and what mounts and holders name, is the subsystem's nvmeXnZ (with its partitions).
 * Returns 1 and the head's name when blk is such a node and the head exists. */
static int nvme_head(const char *blk, char **ret)
{
	unsigned x, y, z;
	int end = 0;
	char p[PATH_MAX];

	if (sscanf(blk, "nvme%uc%un%u%n", &x, &y, &z, &end) != 3 || end == 0 || blk[end] != '\0')
		return 0;
	snprintf(p, sizeof(p), "/sys/block/nvme%un%u", x, z);
	if (!root_exists(p))
		return 0;
	return asprintf(ret, "nvme%un%u", x, z) < 0 ? -ENOMEM : 1;
}

/* Replaces hidden NVMe path nodes by the namespace disk and its partitions. */
static int block_visible_names(char ***blocks)
{
	_cleanup_strv_free_ char **in = *blocks;
	char **out = calloc(1, sizeof(char *));
	size_t n = 0;
	int r = 0;

	*blocks = NULL;
	if (!out)
		return -ENOMEM;
	for (char **s = in; *s && r >= 0; s++) {
		_cleanup_strv_free_ char **parts = NULL;
		_cleanup_free_ char *head = NULL;
		char p[PATH_MAX];

		r = nvme_head(*s, &head);
		if (r < 0)
			break;
		if (r == 0) {
			if (!strv_has(out, *s))
				r = strv_pushf(&out, &n, "%s", *s);
			continue;
		}
		if (strv_has(out, head))
			continue;
		if ((r = strv_pushf(&out, &n, "%s", head)) < 0)
			break;
		snprintf(p, sizeof(p), "/sys/block/%s", head);
		if ((r = root_list(p, &parts)) < 0)
			break;
		for (char **e = parts; *e && r >= 0; e++) {
			if (snprintf(p, sizeof(p), "/sys/block/%s/%s/partition", head, *e) < (int)sizeof(p) &&
			    root_exists(p))
				r = strv_pushf(&out, &n, "%s", *e);
		}
	}
	if (r < 0) {
		strv_free(out);
		return r;
	}
	*blocks = out;
	return 0;
}

int pci_dev_children(struct vfio_pci_dev *d)
{
	int r = class_children("net", d->name, &d->netdevs);
	if (r < 0 || (r = class_children("block", d->name, &d->block_devices)) < 0)
		return r;
	return block_visible_names(&d->block_devices);
}

/* Lines of a /proc file whose whitespace-separated column col (0-based) equals want. */
static int proc_lines_matching(const char *path, int col, const char *want, char **ret_line)
{
	_cleanup_free_ char *text = NULL;
	int r = root_read(path, &text);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char copy[1024], *f, *s2 = NULL;
		int i = 0;
		snprintf(copy, sizeof(copy), "%s", l);
		for (f = strtok_r(copy, " \t", &s2); f && i < col; f = strtok_r(NULL, " \t", &s2))
			i++;
		if (f && streq(f, want)) {
			if (ret_line && !(*ret_line = strdup(l)))
				return -ENOMEM;
			return 1;
		}
	}
	return 0;
}

/* IPv6 routes other than link-local and multicast ones, which every up interface has. */
static int ipv6_routes(const char *ifname)
{
	_cleanup_free_ char *text = NULL;
	int r = root_read("/proc/net/ipv6_route", &text);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char dest[64], dev[64];
		if (sscanf(l, "%63s %*s %*s %*s %*s %*s %*s %*s %*s %63s", dest, dev) != 2)
			continue;
		if (!streq(dev, ifname) || startswith(dest, "fe80") || startswith(dest, "ff"))
			continue;
		return 1;
	}
	return 0;
}

/* IPv4 addresses are only in rtnetlink, which a fake root cannot redirect: real host only. */
static int ipv4_addresses(const char *ifname)
{
	char p[PATH_MAX];
	uint64_t ifindex;
	struct nl_sock *sk;
	struct nl_cache *cache = NULL;
	int r, found = 0;

	if (*root_get())
		return 0;
	snprintf(p, sizeof(p), "/sys/class/net/%s/ifindex", ifname);
	r = root_read_u64(p, 10, &ifindex);
	if (r < 0)
		return r;
	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	if (nl_connect(sk, NETLINK_ROUTE) < 0 || rtnl_addr_alloc_cache(sk, &cache) < 0) {
		nl_socket_free(sk);
		return -EIO;
	}
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		if (rtnl_addr_get_family(a) == AF_INET && (uint64_t)rtnl_addr_get_ifindex(a) == ifindex)
			found = 1;
	}
	nl_cache_free(cache);
	nl_socket_free(sk);
	return found;
}

static int iface_carries_traffic(const char *ifname)
{
	char p[PATH_MAX];
	uint64_t flags;
	int r;

	snprintf(p, sizeof(p), "/sys/class/net/%s/flags", ifname);
	r = root_read_u64(p, 16, &flags);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	if (!(flags & 0x1)) /* IFF_UP */
		return 0;
	if ((r = proc_lines_matching("/proc/net/route", 0, ifname, NULL)) != 0 || (r = ipv6_routes(ifname)) != 0)
		return r;
	return ipv4_addresses(ifname);
}

/* The interface itself, or the bridge/bond it is a port of (the host's address usually lives on
 * the master), up with addresses or routes. */
static int netdev_in_use(const char *ifname, char **ret_reason)
{
	_cleanup_free_ char *master = NULL;
	char p[PATH_MAX];
	int r = iface_carries_traffic(ifname);

	if (r > 0)
		return asprintf(ret_reason, "network interface %s is up with addresses or routes", ifname) < 0
			       ? -ENOMEM
			       : 1;
	if (r < 0)
		return r;
	snprintf(p, sizeof(p), "/sys/class/net/%s/master", ifname);
	if (root_readlink_base(p, &master) < 0)
		return 0;
	/* One level is what bridges over bonds need in practice; deeper stacks are rare. */
	for (int depth = 0; master && depth < 3; depth++) {
		_cleanup_free_ char *up = NULL;
		if ((r = iface_carries_traffic(master)) > 0)
			return asprintf(ret_reason, "network interface %s is a port of %s, which is up with addresses "
					"or routes", ifname, master) < 0
				       ? -ENOMEM
				       : 1;
		if (r < 0)
			return r;
		snprintf(p, sizeof(p), "/sys/class/net/%s/master", master);
		if (root_readlink_base(p, &up) < 0)
			break;
		free(master);
		master = TAKE_PTR(up);
	}
	return 0;
}

static int block_in_use(const char *blk, char **ret_reason)
{
	_cleanup_strv_free_ char **holders = NULL;
	_cleanup_free_ char *devno = NULL, *line = NULL;
	char p[PATH_MAX], swapdev[PATH_MAX];
	int r;

	snprintf(p, sizeof(p), "/sys/class/block/%s/dev", blk);
	r = root_read(p, &devno);
	if (r >= 0) {
		/* mountinfo: id parent major:minor root mountpoint ... */
		r = proc_lines_matching("/proc/self/mountinfo", 2, strstrip(devno), &line);
		if (r < 0)
			return r;
		if (r > 0) {
			char mnt[PATH_MAX] = "?";
			sscanf(line, "%*s %*s %*s %*s %4095s", mnt);
			return asprintf(ret_reason, "block device %s is mounted on %s", blk, mnt) < 0 ? -ENOMEM : 1;
		}
	}
	snprintf(swapdev, sizeof(swapdev), "/dev/%s", blk);
	r = proc_lines_matching("/proc/swaps", 0, swapdev, NULL);
	if (r != 0)
		return r < 0 ? r
			     : (asprintf(ret_reason, "block device %s is in use as swap", blk) < 0 ? -ENOMEM : 1);
	snprintf(p, sizeof(p), "/sys/class/block/%s/holders", blk);
	r = root_list(p, &holders);
	if (r >= 0 && holders[0])
		return asprintf(ret_reason, "block device %s is held by %s", blk, holders[0]) < 0 ? -ENOMEM : 1;
	return r == -ENOENT || r >= 0 ? 0 : r;
}

int vfio_pci_in_use(const struct vfio_pci_dev *d, char **ret_reason)
{
	int r;

	for (char **s = d->netdevs; s && *s; s++)
		if ((r = netdev_in_use(*s, ret_reason)) != 0)
			return r;
	for (char **s = d->block_devices; s && *s; s++)
		if ((r = block_in_use(*s, ret_reason)) != 0)
			return r;
	return 0;
}
