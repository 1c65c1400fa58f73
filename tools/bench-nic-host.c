/* bench-nic-host.c: host plumbing for `ptctl bench nic`: rtnetlink links and addresses (libnl-route),
 * taps, a descriptor-held network namespace, the undo list, child processes and the CPU/exit counters. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "bench-nic-host.h"
#include "sriov/sriov.h"
#include "util/log.h"
#include "util/root.h"
#include "util/state.h"
#include "vfio/vfio.h"
#include "vm/vm.h"

/* ---- rtnetlink ---- */

static int nl_errno(int e)
{
	return sriov_nl_errno(e);
}

static int open_sock(struct nl_sock **ret)
{
	struct nl_sock *sk = nl_socket_alloc();
	int r;

	if (!sk)
		return -ENOMEM;
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0) {
		nl_socket_free(sk);
		return nl_errno(r);
	}
	*ret = sk;
	return 0;
}

static int get_link(struct nl_sock *sk, const char *ifname, struct rtnl_link **ret)
{
	int r = rtnl_link_get_kernel(sk, 0, ifname, ret);
	return r < 0 ? nl_errno(r) : 0;
}

/* Opens a route socket, looks ifname up and hands both to fn; the link and the socket go afterwards. */
static int with_link(const char *ifname, int (*fn)(struct nl_sock *sk, struct rtnl_link *l, void *arg), void *arg)
{
	struct nl_sock *sk = NULL;
	struct rtnl_link *l = NULL;
	int r = open_sock(&sk);

	if (r < 0)
		return r;
	r = get_link(sk, ifname, &l);
	if (r >= 0) {
		r = fn(sk, l, arg);
		rtnl_link_put(l);
	}
	nl_socket_free(sk);
	return r;
}

static int read_ifindex(struct nl_sock *sk, struct rtnl_link *l, void *ret)
{
	(void)sk;
	*(int *)ret = rtnl_link_get_ifindex(l);
	return 0;
}

static int read_up(struct nl_sock *sk, struct rtnl_link *l, void *ret)
{
	(void)sk;
	*(bool *)ret = rtnl_link_get_flags(l) & IFF_UP;
	return 0;
}

static int delete_link(struct nl_sock *sk, struct rtnl_link *l, void *arg)
{
	int r = rtnl_link_delete(sk, l);
	(void)arg;
	return r < 0 ? nl_errno(r) : 0;
}

/* One RTM_SETLINK with what fill puts into the change object. */
struct link_change {
	void (*fill)(struct rtnl_link *chg, int arg);
	int arg;
};

static int change_link(struct nl_sock *sk, struct rtnl_link *l, void *arg)
{
	const struct link_change *c = arg;
	struct rtnl_link *chg = rtnl_link_alloc();
	int r;

	if (!chg)
		return -ENOMEM;
	c->fill(chg, c->arg);
	r = rtnl_link_change(sk, l, chg, 0);
	rtnl_link_put(chg);
	return r < 0 ? nl_errno(r) : 0;
}

static void fill_up(struct rtnl_link *chg, int up)
{
	if (up)
		rtnl_link_set_flags(chg, IFF_UP);
	else
		rtnl_link_unset_flags(chg, IFF_UP);
}

static void fill_ns(struct rtnl_link *chg, int fd)
{
	rtnl_link_set_ns_fd(chg, fd);
}

int nb_link_ifindex(const char *ifname, int *ret)
{
	return with_link(ifname, read_ifindex, ret);
}

int nb_link_set_up(const char *ifname, bool up)
{
	return with_link(ifname, change_link, &(struct link_change){ fill_up, up });
}

int nb_link_move_to_netns(const char *ifname, int netns_fd)
{
	return with_link(ifname, change_link, &(struct link_change){ fill_ns, netns_fd });
}

int nb_link_is_up(const char *ifname, bool *ret)
{
	return with_link(ifname, read_up, ret);
}

int nb_link_delete(const char *ifname)
{
	return with_link(ifname, delete_link, NULL);
}

static int addr_op(const char *ifname, const char *cidr, bool add)
{
	struct nl_sock *sk = NULL;
	struct rtnl_addr *a = NULL;
	struct nl_addr *local = NULL;
	int ifindex, r = nb_link_ifindex(ifname, &ifindex);

	if (r < 0)
		return r;
	if ((r = open_sock(&sk)) < 0)
		return r;
	r = nl_addr_parse(cidr, AF_INET, &local);
	if (r < 0) {
		r = -EINVAL;
		goto out;
	}
	if (!(a = rtnl_addr_alloc())) {
		r = -ENOMEM;
		goto out;
	}
	rtnl_addr_set_ifindex(a, ifindex);
	rtnl_addr_set_local(a, local);
	r = add ? rtnl_addr_add(sk, a, NLM_F_EXCL) : rtnl_addr_delete(sk, a, 0);
	r = r < 0 ? nl_errno(r) : 0;
out:
	rtnl_addr_put(a);
	nl_addr_put(local);
	nl_socket_free(sk);
	return r;
}

int nb_addr_add(const char *ifname, const char *cidr)
{
	return addr_op(ifname, cidr, true);
}

int nb_addr_del(const char *ifname, const char *cidr)
{
	return addr_op(ifname, cidr, false);
}

int nb_tap_create(const char *name)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	_cleanup_close_ int fd = -1;
	char p[256];

	if (strlen(name) >= IFNAMSIZ)
		return -ENAMETOOLONG;
	if (root_path(p, sizeof(p), "/dev/net/tun") < 0)
		return -ENAMETOOLONG;
	fd = open(p, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 1) < 0)
		return negative_errno();
	return 0;
}

int nb_netns_new(int *ret_fd)
{
	_cleanup_close_ int orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), fd = -1;
	int r;

	if (orig < 0)
		return negative_errno();
	if (unshare(CLONE_NEWNET) < 0)
		return negative_errno();
	fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	r = fd < 0 ? negative_errno() : 0;
	/* back to where we were, whatever happened */
	if (setns(orig, CLONE_NEWNET) < 0)
		return negative_errno();
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* ---- undo ---- */

int nb_undo_push(struct nb_undo_list *l, enum nb_undo_kind kind, const char *a, const char *b, int fd, pid_t pid)
{
	if (l->n >= ARRAY_SIZE(l->items))
		return -ENOSPC;
	struct nb_undo *u = &l->items[l->n];
	*u = (struct nb_undo){ .kind = kind, .fd = fd, .pid = pid };
	snprintf(u->a, sizeof(u->a), "%s", a ? a : "");
	snprintf(u->b, sizeof(u->b), "%s", b ? b : "");
	return (int)l->n++;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

static int release(const char *addr)
{
	struct vfio_bind_result res = {};
	struct vfio_bind_opts o = {};
	struct pci_addr a;
	int r;

	if (pci_addr_parse(addr, &a) < 0)
		return -EINVAL;
	r = vfio_release(&a, &o, &res);
	if (r < 0 && res.reason)
		log_warning("%s: could not return it to its driver: %s (run 'ptctl release %s')", addr, res.reason, addr);
	vfio_bind_result_clear(&res);
	return r;
}

/* Release puts a device that had no driver on the kernel's default match; it had none, so none again. */
static int unbind(const char *addr)
{
	char p[256];
	if (root_path(p, sizeof(p), "/sys/bus/pci/devices/%s/driver", addr) < 0)
		return -ENAMETOOLONG;
	if (access(p, F_OK) < 0)
		return 0;
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/driver/unbind", addr);
	return root_write(p, addr);
}

static int numvfs_zero(const char *pf)
{
	struct sriov_change_opts o = {};
	struct sriov_change_error e = {};
	_cleanup_close_ int lock = state_lock(10000);
	int r;

	if (lock < 0)
		return lock;
	r = sriov_pf_set_num_vfs(pf, 0, &o, &e);
	sriov_change_error_done(&e);
	return r;
}

static int run_one(struct nb_undo *u)
{
	switch (u->kind) {
	case NB_UNDO_ADDR: {
		int r = nb_addr_del(u->a, u->b);
		return r == -ENODEV || r == -EADDRNOTAVAIL ? 0 : r;
	}
	case NB_UNDO_LINK_DOWN:
		return nb_link_set_up(u->a, false);
	case NB_UNDO_LINK_DEL: {
		int r = nb_link_delete(u->a);
		return r == -ENODEV ? 0 : r;
	}
	case NB_UNDO_CLOSE:
		return close(u->fd) < 0 ? negative_errno() : 0;
	case NB_UNDO_RELEASE: {
		int r = release(u->a);
		return r >= 0 && strstr(u->b, "unbound") ? unbind(u->a) : r;
	}
	case NB_UNDO_ASSIGN: {
		_cleanup_free_ char *why = NULL;
		int r = vm_assign_finish(u->a, startswith(u->b, "release"), &why);
		if (r < 0 && why)
			log_warning("%s", why);
		return r >= 0 && strstr(u->b, "unbound") ? unbind(u->a) : r;
	}
	case NB_UNDO_NUMVFS:
		return numvfs_zero(u->a);
	case NB_UNDO_KILL:
		nb_kill(u->pid);
		return 0;
	case NB_UNDO_RMTREE:
		return nftw(u->a, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 ? negative_errno() : 0;
	}
	return -EINVAL;
}

static const char *what(const struct nb_undo *u, char *buf, size_t len)
{
	switch (u->kind) {
	case NB_UNDO_ADDR: snprintf(buf, len, "%s: address %s is still there (ip addr del %s dev %s)", u->a, u->b, u->b, u->a); break;
	case NB_UNDO_LINK_DOWN: snprintf(buf, len, "%s: still up (ip link set %s down)", u->a, u->a); break;
	case NB_UNDO_LINK_DEL: snprintf(buf, len, "%s: tap still there (ip link del %s)", u->a, u->a); break;
	case NB_UNDO_CLOSE: snprintf(buf, len, "network namespace: cannot close it"); break;
	case NB_UNDO_RELEASE:
	case NB_UNDO_ASSIGN: snprintf(buf, len, "%s: not returned to its driver (ptctl release %s)", u->a, u->a); break;
	case NB_UNDO_NUMVFS: snprintf(buf, len, "%s: its VF is still there (ptctl sriov destroy %s)", u->a, u->a); break;
	default: snprintf(buf, len, "%s: cannot remove it", u->a);
	}
	return buf;
}

void nb_undo_now(struct nb_undo_list *l, int index)
{
	char buf[1400];
	if (index < 0 || (size_t)index >= l->n || l->items[index].done)
		return;
	l->items[index].done = true;
	int r = run_one(&l->items[index]);
	if (r < 0)
		log_warning("%s: %s", what(&l->items[index], buf, sizeof(buf)), strerror(-r));
}

int nb_undo_all(struct nb_undo_list *l)
{
	int failed = 0;
	for (size_t i = l->n; i-- > 0;) {
		char buf[1400];
		if (l->items[i].done)
			continue;
		l->items[i].done = true;
		int r = run_one(&l->items[i]);
		if (r < 0) {
			log_warning("%s: %s", what(&l->items[i], buf, sizeof(buf)), strerror(-r));
			failed++;
		}
	}
	l->n = 0;
	return failed;
}

/* ---- processes ---- */

int nb_spawn(char *const argv[], int *ret_out, bool err_too, int (*child_setup)(void *), void *userdata,
	     pid_t *ret_pid)
{
	int p[2] = { -1, -1 };
	pid_t pid;

	if (ret_out && pipe2(p, O_CLOEXEC) < 0)
		return negative_errno();
	pid = fork();
	if (pid < 0) {
		int r = negative_errno();
		if (ret_out) {
			close(p[0]);
			close(p[1]);
		}
		return r;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		/* a child of ours dies with us: nothing keeps running after a kill -9 of ptctl; and it leads a
		 * process group, so what it starts (the script's iperf3 client) is killed with it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setpgid(0, 0);
		dup2(null, STDIN_FILENO);
		dup2(ret_out ? p[1] : null, STDOUT_FILENO);
		if (err_too)
			dup2(ret_out ? p[1] : null, STDERR_FILENO);
		if (child_setup && child_setup(userdata) < 0)
			_exit(127);
		execvp(argv[0], argv);
		fprintf(stderr, "ptctl: %s: %m\n", argv[0]);
		_exit(127);
	}
	if (ret_out) {
		close(p[1]);
		*ret_out = p[0];
	}
	*ret_pid = pid;
	return 0;
}

void nb_kill(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(-pid, SIGKILL); /* its process group: the child and whatever it started */
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* ---- counters ---- */

/* utime + stime (fields 14 and 15) of /proc/PID/stat or /proc/PID/task/TID/stat, in seconds. */
static int stat_cpu(const char *path, double *ret)
{
	_cleanup_free_ char *s = NULL;
	unsigned long long ut, st;
	int r = root_read(path, &s);

	if (r < 0)
		return r;
	const char *p = strrchr(s, ')'); /* the command name may hold spaces and parentheses */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -EBADMSG;
	*ret = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

int nb_cpu_seconds(pid_t pid, double *ret)
{
	char p[64], want[32];
	_cleanup_strv_free_ char **procs = NULL;
	double total = 0, t;
	int r;

	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	if ((r = stat_cpu(p, &total)) < 0)
		return r;
	/* vhost-net's worker: a kernel thread "vhost-PID" outside the process (before Linux 6.4; since then a
	 * thread of the process, counted above) */
	snprintf(want, sizeof(want), "vhost-%d", (int)pid);
	if (root_list("/proc", &procs) >= 0)
		for (char **d = procs; *d; d++) {
			_cleanup_free_ char *comm = NULL;
			if (!isdigit((unsigned char)**d))
				continue;
			snprintf(p, sizeof(p), "/proc/%s/comm", *d);
			if (root_read(p, &comm) < 0 || !streq(comm, want))
				continue;
			snprintf(p, sizeof(p), "/proc/%s/stat", *d);
			if (stat_cpu(p, &t) >= 0)
				total += t;
		}
	*ret = total;
	return 0;
}

int nb_debugfs_exits(pid_t pid, uint64_t *ret)
{
	_cleanup_strv_free_ char **vms = NULL;
	char prefix[32], p[256];
	uint64_t total = 0, v;
	bool found = false;
	int r = root_list("/sys/kernel/debug/kvm", &vms);

	if (r < 0)
		return r;
	snprintf(prefix, sizeof(prefix), "%d-", (int)pid);
	for (char **d = vms; *d; d++) {
		if (!startswith(*d, prefix))
			continue;
		/* the VM directory's exits file is the sum over its vCPUs */
		snprintf(p, sizeof(p), "/sys/kernel/debug/kvm/%s/exits", *d);
		if (root_read_u64(p, 10, &v) >= 0) {
			total += v;
			found = true;
		}
	}
	if (!found)
		return -ENOENT;
	*ret = total;
	return 0;
}

double nb_loadavg(void)
{
	_cleanup_free_ char *s = NULL;
	double v;
	if (root_read("/proc/loadavg", &s) < 0 || sscanf(s, "%lf", &v) != 1)
		return -1;
	return v;
}
