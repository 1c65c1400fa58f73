/* bench-nic.c: `ptctl bench nic`: one wire (an SR-IOV VF and its PF), five ways to reach it: native (the
 * VF on its host driver in a network namespace), emulated (e1000), virtio, vhost and pass-through, each
 * measured with the same guest and iperf3, side by side in one run. `ptctl bench kit` writes that guest. */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "bench-nic-host.h"
#include "bench-nic.h"
#include "guest-kit.h"
#include "sriov/sriov.h"
#include "util/log.h"
#include "util/output.h"
#include "util/root.h"
#include "util/state.h"
#include "verb.h"
#include "vfio/vfio.h"
#include "vm/vm.h"

#define IPERF_PORT 5201
#define BOOT_ALLOWANCE 300 /* s from start to the guest's LINK line (nested guests on a loaded host are slow) */

/* Where each path's wire ends: the host side (where iperf3 listens) and the measured side. */
static const struct {
	const char *host, *guest, *tap;
} wires[NICBENCH_PATHS] = {
	[NICBENCH_NATIVE] = { "198.18.1.1/24", "198.18.1.2/24", NULL },
	[NICBENCH_EMULATED] = { "198.18.2.1/24", "198.18.2.2/24", "ptb-emulated" },
	[NICBENCH_VIRTIO] = { "198.18.3.1/24", "198.18.3.2/24", "ptb-virtio" },
	[NICBENCH_VHOST] = { "198.18.4.1/24", "198.18.4.2/24", "ptb-vhost" },
	[NICBENCH_PASSTHROUGH] = { "198.18.1.1/24", "198.18.1.2/24", NULL },
};

struct bench {
	struct nicbench_opts o;
	struct nicbench_report rep;
	struct nb_undo_list undo;
	char dir[64];        /* our scratch directory */
	char kit[PATH_MAX];  /* the guest's initramfs */
	struct guest_kit *kit_info;
	char vf[PCI_ADDR_STRLEN], pf[PCI_ADDR_STRLEN];
	char pf_netdev[64];
	bool pf_wire;        /* the PF's address is set */
};

/* Async-signal-safe state for Ctrl-C: the handler stops whatever runs; the main flow then undoes. */
static volatile sig_atomic_t interrupted;
static struct vm *volatile current_vm;
static volatile pid_t current_pid;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
	if (current_vm)
		vm_request_stop(current_vm);
	if (current_pid > 0) {
		kill(-current_pid, SIGKILL); /* the child's process group (nb_spawn makes one) */
		kill(current_pid, SIGKILL);
	}
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_reason(struct nicbench_result *r, enum nicbench_status s, const char *fmt, ...) _printf_(3, 4);
static void set_reason(struct nicbench_result *r, enum nicbench_status s, const char *fmt, ...)
{
	va_list ap;
	r->status = s;
	free(r->reason);
	va_start(ap, fmt);
	if (vasprintf(&r->reason, fmt, ap) < 0)
		r->reason = NULL;
	va_end(ap);
}

static void progress(enum nicbench_path p, const char *fmt, ...) _printf_(2, 3);
static void progress(enum nicbench_path p, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "ptctl: bench nic: %s: ", nicbench_path_name(p));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- the wire ---- */

static int read_link_base(const char *fmt, const char *addr, char *buf, size_t len)
{
	char p[256];
	_cleanup_free_ char *v = NULL;
	snprintf(p, sizeof(p), fmt, addr);
	int r = root_readlink_base(p, &v);
	if (r < 0)
		return r;
	snprintf(buf, len, "%s", v);
	return 0;
}

static int first_netdev(const char *addr, char *buf, size_t len)
{
	char p[256];
	_cleanup_strv_free_ char **names = NULL;
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/net", addr);
	int r = root_list(p, &names);
	if (r < 0)
		return r;
	if (!names[0])
		return -ENOENT;
	snprintf(buf, len, "%s", names[0]);
	return 0;
}

/* --pf: use a VF that exists and is unused, or create one (undone at the end). */
static int wire_from_pf(struct bench *b)
{
	_cleanup_sriov_pf_ struct sriov_pf *pf = NULL;
	struct pci_addr a;
	int r;

	pci_addr_parse(b->o.pf, &a);
	pci_addr_format(&a, b->pf);
	r = sriov_pf_load(b->pf, &pf);
	if (r == -ENODEV)
		return log_error("%s: no such PCI device", b->pf), EXIT_USAGE;
	if (r == -EOPNOTSUPP)
		return log_error("%s: not an SR-IOV physical function (give its PF, or the VF with --vf)", b->pf), EXIT_USAGE;
	if (r < 0)
		return log_error("%s: cannot read its SR-IOV state: %s", b->pf, strerror(-r)), EXIT_FAIL;
	for (size_t i = 0; i < pf->n_vfs; i++) {
		_cleanup_free_ char *why = NULL;
		if (pf->vfs[i].address[0] && sriov_vf_in_use(&pf->vfs[i], &why) == 0) {
			snprintf(b->vf, sizeof(b->vf), "%s", pf->vfs[i].address);
			return EXIT_OK;
		}
	}
	if (pf->num_vfs > 0)
		return log_error("%s: every VF is in use; free one or give it with --vf", b->pf), EXIT_FAIL;
	{
		struct sriov_change_opts co = { .autoprobe = false };
		struct sriov_change_error e = {};
		_cleanup_close_ int lock = state_lock(10000);
		if (lock < 0)
			return log_error("%s: cannot take ptctl's lock: %s", b->pf, strerror(-lock)), EXIT_FAIL;
		if (nb_undo_push(&b->undo, NB_UNDO_NUMVFS, b->pf, NULL, -1, 0) < 0)
			return EXIT_FAIL;
		progress(NICBENCH_NATIVE, "creating a VF on %s", b->pf);
		r = sriov_pf_set_num_vfs(b->pf, 1, &co, &e);
		if (r < 0) {
			log_error("%s: cannot create a VF: %s", b->pf, e.reason ? e.reason : strerror(-r));
			sriov_change_error_done(&e);
			return EXIT_FAIL;
		}
	}
	sriov_pf_free(TAKE_PTR(pf));
	r = sriov_pf_load(b->pf, &pf);
	if (r < 0 || pf->n_vfs < 1 || !pf->vfs[0].address[0])
		return log_error("%s: the new VF did not appear", b->pf), EXIT_FAIL;
	snprintf(b->vf, sizeof(b->vf), "%s", pf->vfs[0].address);
	return EXIT_OK;
}

static int resolve_wire(struct bench *b)
{
	struct pci_addr a;
	char p[256];
	int r;

	if (b->o.pf)
		r = wire_from_pf(b);
	else {
		pci_addr_parse(b->o.vf, &a);
		pci_addr_format(&a, b->vf);
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s", b->vf);
		if (!root_exists(p))
			return log_error("%s: no such PCI device", b->vf), EXIT_USAGE;
		if (read_link_base("/sys/bus/pci/devices/%s/physfn", b->vf, b->pf, sizeof(b->pf)) < 0)
			return log_error("%s: not an SR-IOV virtual function (no physfn); give a VF, or its PF with --pf",
					 b->vf), EXIT_USAGE;
		r = EXIT_OK;
	}
	if (r != EXIT_OK)
		return r;
	if (first_netdev(b->pf, b->pf_netdev, sizeof(b->pf_netdev)) < 0)
		return log_error("%s: the PF has no network interface (is its driver loaded?)", b->pf), EXIT_FAIL;
	b->rep.vf = b->vf;
	b->rep.pf = b->pf;
	b->rep.pf_netdev = b->pf_netdev;
	return EXIT_OK;
}

/* The PF end of the wire: up, with its address (both undone at the end). */
static int pf_wire_up(struct bench *b, char **why)
{
	bool up = false;
	int r;

	if (b->pf_wire)
		return 0;
	if ((r = nb_link_is_up(b->pf_netdev, &up)) < 0)
		return asprintf(why, "%s: %s", b->pf_netdev, strerror(-r)), r;
	if (!up) {
		nb_undo_push(&b->undo, NB_UNDO_LINK_DOWN, b->pf_netdev, NULL, -1, 0);
		if ((r = nb_link_set_up(b->pf_netdev, true)) < 0)
			return asprintf(why, "%s: cannot set it up: %s", b->pf_netdev, strerror(-r)), r;
	}
	nb_undo_push(&b->undo, NB_UNDO_ADDR, b->pf_netdev, wires[NICBENCH_NATIVE].host, -1, 0);
	r = nb_addr_add(b->pf_netdev, wires[NICBENCH_NATIVE].host);
	if (r < 0)
		return asprintf(why, "%s: cannot add %s: %s%s", b->pf_netdev, wires[NICBENCH_NATIVE].host, strerror(-r),
				r == -EEXIST ? " (another ptctl bench nic running, or one left behind?)" : ""), r;
	b->pf_wire = true;
	return 0;
}

/* A tap for the VM paths: created, addressed and up, all undone when the path ends. */
static int tap_up(struct bench *b, enum nicbench_path p, char **why)
{
	const char *tap = wires[p].tap;
	int r;

	nb_undo_push(&b->undo, NB_UNDO_LINK_DEL, tap, NULL, -1, 0);
	if ((r = nb_tap_create(tap)) < 0)
		return asprintf(why, "tap %s: cannot create it: %s", tap, strerror(-r)), r;
	if ((r = nb_addr_add(tap, wires[p].host)) < 0)
		return asprintf(why, "tap %s: cannot add %s: %s%s", tap, wires[p].host, strerror(-r),
				r == -EEXIST ? " (another ptctl bench nic running?)" : ""), r;
	if ((r = nb_link_set_up(tap, true)) < 0)
		return asprintf(why, "tap %s: cannot set it up: %s", tap, strerror(-r)), r;
	return 0;
}

/* iperf3's server at the host end of the wire; killed when the path ends. */
static int iperf_server(struct bench *b, enum nicbench_path p, char **why)
{
	char addr[32], port[16];
	snprintf(addr, sizeof(addr), "%.*s", (int)strcspn(wires[p].host, "/"), wires[p].host);
	snprintf(port, sizeof(port), "%d", IPERF_PORT);
	char *argv[] = { "iperf3", "-s", "-B", addr, "-p", port, NULL };
	pid_t pid;
	int r = nb_spawn(argv, NULL, true, NULL, NULL, &pid);

	if (r < 0)
		return asprintf(why, "iperf3: cannot start it: %s", strerror(-r)), r;
	nb_undo_push(&b->undo, NB_UNDO_KILL, "iperf3", NULL, -1, pid);
	/* a server that cannot bind (port taken) exits at once */
	usleep(300 * 1000);
	if (waitpid(pid, NULL, WNOHANG) == pid) {
		b->undo.items[b->undo.n - 1].pid = 0;
		return asprintf(why, "iperf3 -s -B %s -p %d exited at once (is port %d taken?)", addr, IPERF_PORT,
				IPERF_PORT), -EADDRINUSE;
	}
	return 0;
}

/* Moves the VF to driver (igbvf for native, vfio-pci for pass-through); released when the path ends. */
static int vf_to_driver(struct bench *b, const char *driver, char **why)
{
	struct vfio_bind_result res = {};
	struct vfio_bind_opts o = { .driver = streq(driver, "vfio-pci") ? NULL : driver };
	_cleanup_free_ char *cur = NULL;
	struct pci_addr a;
	char p[256];
	int r;

	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/driver", b->vf);
	if (root_readlink_base(p, &cur) >= 0 && streq(cur, driver))
		return 0;
	pci_addr_parse(b->vf, &a);
	nb_undo_push(&b->undo, NB_UNDO_RELEASE, b->vf, cur ? "" : "unbound", -1, 0);
	r = vfio_bind(&a, &o, &res);
	if (r < 0) {
		b->undo.items[b->undo.n - 1].done = true;
		asprintf(why, "%s: cannot bind it to %s: %s", b->vf, driver, res.reason ? res.reason : strerror(-r));
	}
	vfio_bind_result_clear(&res);
	return r;
}

/* ---- one run's console ---- */

struct run {
	struct bench *b;
	enum nicbench_path path;
	int fd;                  /* console (or the native script's stdout) */
	pid_t pid;               /* QEMU or the native script; 0 for ptctl's own VM */
	struct vm *vm;
	bool vm_done;
	int vm_wake[2];          /* the VM thread writes here when vm_run returns */
	char last[4][256];       /* the last console lines, for a failure's reason */
	unsigned nlast;
};

static void counters(struct run *rn, uint64_t *exits, bool *has_exits, double *cpu, bool *has_cpu)
{
	*has_exits = *has_cpu = false;
	if (rn->path == NICBENCH_NATIVE)
		return;
	if (rn->vm) {
		*has_exits = vm_vcpu_stat_sum(rn->vm, "exits", exits) >= 0 || nb_debugfs_exits(getpid(), exits) >= 0;
		*has_cpu = nb_cpu_seconds(getpid(), cpu) >= 0;
	} else {
		*has_exits = nb_debugfs_exits(rn->pid, exits) >= 0;
		*has_cpu = nb_cpu_seconds(rn->pid, cpu) >= 0;
	}
}

/* Reads console lines until the script is done, failed, or time runs out. */
static void watch(struct run *rn, struct nicbench_console *con, struct nicbench_result *res)
{
	const unsigned D = rn->b->o.duration;
	const double window = 2.0 * (D + 1) + 5; /* two iperf3 runs with 1 s omitted each */
	double t0 = now(), started = 0, last_note = t0, deadline = t0 + BOOT_ALLOWANCE + 2 * window + 60;
	uint64_t exits0 = 0, exits1 = 0;
	double cpu0 = 0, cpu1 = 0, tw0 = 0;
	bool he0 = false, hc0 = false, he1 = false, hc1 = false;
	char buf[4096];
	size_t have = 0;
	bool eof = false;

	while (!eof && !interrupted) {
		/* the console, and for ptctl's own VM the thread's end (a panicked guest has no EOF to give) */
		struct pollfd pfd[2] = { { .fd = rn->fd, .events = POLLIN }, { .fd = rn->vm_wake[0], .events = POLLIN } };
		double t = now();
		if (t > deadline) {
			set_reason(res, NICBENCH_FAILED, "no result within %.0f s (last console line: %s)", t - t0,
				   rn->nlast ? rn->last[(rn->nlast - 1) % 4] : "none");
			return;
		}
		if (t - last_note >= 10) {
			if (con->started && !con->ended)
				progress(rn->path, "measuring, %.0f s left", started + window - t > 0 ? started + window - t : 0);
			else if (!con->link)
				progress(rn->path, "%s (%.0f s)", rn->path == NICBENCH_NATIVE ? "bringing the VF up" : "booting the guest",
					 t - t0);
			last_note = t;
		}
		int n = poll(pfd, rn->vm ? 2 : 1, 1000);
		if (n <= 0)
			continue;
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t k = read(rn->fd, buf + have, sizeof(buf) - 2 - have);
			if (k < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (k <= 0)
				eof = true;
			else
				have += (size_t)k;
		} else if (pfd[1].revents & POLLIN)
			eof = true; /* the VM ended and its console is drained */
		if (eof && have && buf[have - 1] != '\n')
			buf[have++] = '\n'; /* the last line, without its newline */
		if (have >= sizeof(buf) - 2 && !memchr(buf, '\n', have))
			buf[have++] = '\n'; /* an endless line: cut it */
		buf[have] = 0;
		char *line = buf, *nl;
		while ((nl = strchr(line, '\n'))) {
			*nl = 0;
			line[strcspn(line, "\r")] = 0;
			if (*line && !strstr(line, con->nonce))
				snprintf(rn->last[rn->nlast++ % 4], sizeof(rn->last[0]), "%.200s", line);
			log_debug("%s| %s", nicbench_path_name(rn->path), line);
			switch (nicbench_console_line(con, line)) {
			case NICBENCH_EV_LINK:
				progress(rn->path, "%s is up (driver %s), measuring %u s each way", con->nic ? con->nic : "NIC",
					 con->driver ? con->driver : "?", D);
				break;
			case NICBENCH_EV_START:
				counters(rn, &exits0, &he0, &cpu0, &hc0);
				tw0 = started = now();
				break;
			case NICBENCH_EV_END:
				counters(rn, &exits1, &he1, &cpu1, &hc1);
				res->window_seconds = now() - tw0;
				break;
			case NICBENCH_EV_DONE:
			case NICBENCH_EV_FAIL:
				eof = true;
				break;
			default:
				break;
			}
			line = nl + 1;
		}
		have = strlen(line);
		memmove(buf, line, have + 1);
		if (con->done || con->fail)
			break;
	}
	if (interrupted) {
		set_reason(res, NICBENCH_FAILED, "interrupted");
		return;
	}
	_cleanup_free_ char *why = NULL;
	if (nicbench_result_from_console(con, res, &why) < 0) {
		if (!con->link && !con->fail && rn->nlast)
			set_reason(res, NICBENCH_FAILED, "%s; the console ended with: %s", why ? why : "no result",
				   rn->last[(rn->nlast - 1) % 4]);
		else if (con->devices && con->fail)
			set_reason(res, NICBENCH_FAILED, "%s (PCI devices in the guest: %s)", why, con->devices);
		else
			set_reason(res, NICBENCH_FAILED, "%s", why ? why : "no result");
		return;
	}
	res->status = NICBENCH_OK;
	res->has_exits = he0 && he1 && exits1 >= exits0;
	res->exits = res->has_exits ? exits1 - exits0 : 0;
	res->has_cpu = hc0 && hc1 && cpu1 >= cpu0;
	res->cpu_seconds = res->has_cpu ? cpu1 - cpu0 : 0;
}

/* ---- the measured side ---- */

static int new_nonce(char buf[33])
{
	uint8_t r[16];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -EIO;
	for (int i = 0; i < 16; i++)
		sprintf(buf + 2 * i, "%02x", r[i]);
	return 0;
}

static void fill_params(struct bench *b, enum nicbench_path p, const char *nonce, struct guest_params *gp)
{
	static char peer[NICBENCH_PATHS][32];
	snprintf(peer[p], sizeof(peer[p]), "%.*s", (int)strcspn(wires[p].host, "/"), wires[p].host);
	*gp = (struct guest_params){ .nonce = nonce, .addr = wires[p].guest, .peer = peer[p],
				     .duration = b->o.duration, .port = IPERF_PORT };
}

struct native_child {
	int netns;
	const char *path_env, *tmp;
};

/* In the child: the namespace, and a sysfs of its own so /sys/class/net shows the VF (as `ip netns exec`). */
static int enter_netns(void *userdata)
{
	struct native_child *c = userdata;
	if (setns(c->netns, CLONE_NEWNET) < 0 || unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return -1;
	umount2("/sys", MNT_DETACH);
	if (mount("sysfs", "/sys", "sysfs", 0, NULL) < 0)
		return -1;
	setenv("PATH", c->path_env, 1);
	setenv("TMPDIR", c->tmp, 1);
	return 0;
}

/* The kit's userspace on the host: busybox applets and iperf3 in one bin directory. */
static int host_bin(struct bench *b, char *bin, size_t len)
{
	static const char *const applets[] = GUEST_KIT_APPLETS;
	char p[PATH_MAX + 32];

	snprintf(bin, len, "%s/bin", b->dir);
	if (mkdir(bin, 0755) < 0 && errno != EEXIST)
		return negative_errno();
	for (const char *const *a = applets; *a; a++) {
		snprintf(p, sizeof(p), "%s/%s", bin, *a);
		if (symlink("/usr/bin/busybox", p) < 0 && errno != EEXIST)
			return negative_errno();
	}
	snprintf(p, sizeof(p), "%s/iperf3", bin);
	if (symlink("/usr/bin/iperf3", p) < 0 && errno != EEXIST)
		return negative_errno();
	return 0;
}

static int write_text(const char *path, const char *text, mode_t mode)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	size_t n = strlen(text);
	if (fd < 0)
		return negative_errno();
	return write(fd, text, n) == (ssize_t)n ? 0 : -EIO;
}

static void run_native(struct bench *b, struct nicbench_result *res, const char *nonce)
{
	struct nicbench_console con = {};
	char netdev[64], bin[128], tmp[128], measure[128], params[160];
	_cleanup_free_ char *why = NULL, *text = NULL;
	struct guest_params gp;
	int netns = -1, r;

	if (vf_to_driver(b, "igbvf", &why) < 0)
		return set_reason(res, NICBENCH_FAILED, "%s", why);
	for (int i = 0; i < 100 && first_netdev(b->vf, netdev, sizeof(netdev)) < 0; i++)
		usleep(50 * 1000);
	if (first_netdev(b->vf, netdev, sizeof(netdev)) < 0)
		return set_reason(res, NICBENCH_FAILED, "%s: igbvf gave it no network interface", b->vf);
	if ((r = nb_netns_new(&netns)) < 0)
		return set_reason(res, NICBENCH_FAILED, "cannot create a network namespace: %s", strerror(-r));
	nb_undo_push(&b->undo, NB_UNDO_CLOSE, "netns", NULL, netns, 0);
	if ((r = nb_link_move_to_netns(netdev, netns)) < 0)
		return set_reason(res, NICBENCH_FAILED, "%s: cannot move it into the namespace: %s", netdev, strerror(-r));
	if ((r = host_bin(b, bin, sizeof(bin))) < 0)
		return set_reason(res, NICBENCH_FAILED, "%s: %s", bin, strerror(-r));
	snprintf(tmp, sizeof(tmp), "%s/native", b->dir);
	snprintf(measure, sizeof(measure), "%s/measure", b->dir);
	snprintf(params, sizeof(params), "%s/params", tmp);
	mkdir(tmp, 0700);
	fill_params(b, NICBENCH_NATIVE, nonce, &gp);
	gp.nic = netdev;
	gp.pci = b->vf;
	if (guest_params_format(&gp, &text) < 0 || write_text(params, text, 0600) < 0 ||
	    write_text(measure, guest_kit_measure_sh, 0644) < 0)
		return set_reason(res, NICBENCH_FAILED, "cannot write the script into %s", b->dir);
	struct native_child c = { .netns = netns, .path_env = bin, .tmp = tmp };
	char *argv[] = { "/usr/bin/busybox", "sh", measure, params, NULL };
	struct run rn = { .b = b, .path = NICBENCH_NATIVE };
	if ((r = nb_spawn(argv, &rn.fd, true, enter_netns, &c, &rn.pid)) < 0)
		return set_reason(res, NICBENCH_FAILED, "cannot start the measurement: %s", strerror(-r));
	nb_undo_push(&b->undo, NB_UNDO_KILL, "measure", NULL, -1, rn.pid);
	current_pid = rn.pid;
	snprintf(con.nonce, sizeof(con.nonce), "%s", nonce);
	watch(&rn, &con, res);
	current_pid = 0;
	close(rn.fd);
	nicbench_console_done(&con);
}

/* ---- VMs ---- */

static void *vm_thread(void *userdata)
{
	struct run *rn = userdata;
	enum vm_exit_reason reason;
	vm_run(rn->vm, &reason);
	if (write(rn->vm_wake[1], "x", 1) < 0)
		log_debug("vm wake: %m");
	return NULL;
}

static int vm_model(enum nicbench_path p, enum vm_nic_model *ret)
{
	switch (p) {
	case NICBENCH_EMULATED: *ret = VM_NIC_E1000; return 0;
	case NICBENCH_VIRTIO: *ret = VM_NIC_VIRTIO; return 0;
	case NICBENCH_VHOST: *ret = VM_NIC_VHOST; return 0;
	default: return -EINVAL;
	}
}

static const char cmdline[] = "console=ttyS0 quiet panic=-1";

static void run_ptctl_vm(struct bench *b, enum nicbench_path p, const char *initrd, struct nicbench_console *con,
			 struct nicbench_result *res)
{
	struct run rn = { .b = b, .path = p, .vm_wake = { -1, -1 } };
	int cons[2];
	const char *why = NULL;
	const char *assign[1] = { b->vf };
	struct vm_nic_config nic = { .tap = wires[p].tap };
	pthread_t th;
	int r;

	if (p != NICBENCH_PASSTHROUGH)
		vm_model(p, &nic.model);
	if (pipe2(cons, O_CLOEXEC) < 0 || pipe2(rn.vm_wake, O_CLOEXEC) < 0)
		return set_reason(res, NICBENCH_FAILED, "pipe: %m");
	struct vm_config cfg = {
		.name = "ptctl-bench-nic", .kernel = b->rep.kernel, .initrd = initrd, .cmdline = cmdline,
		.memory = b->o.memory, .cpus = 1, .console_in = -1, .console_out = cons[1],
		.nics = p == NICBENCH_PASSTHROUGH ? NULL : &nic, .nnics = p == NICBENCH_PASSTHROUGH ? 0 : 1,
		.assign = p == NICBENCH_PASSTHROUGH ? assign : NULL, .nassign = p == NICBENCH_PASSTHROUGH ? 1 : 0,
	};
	r = vm_new(&cfg, &rn.vm, &why);
	if (r == -EOPNOTSUPP) {
		set_reason(res, NICBENCH_UNAVAILABLE, "%s", why ? why : "ptctl's VMM does not support this path yet");
		goto out;
	}
	if (r < 0) {
		set_reason(res, NICBENCH_FAILED, "the VM could not be created: %s%s%s", why ? why : "", why ? ": " : "",
			   strerror(-r));
		goto out;
	}
	current_vm = rn.vm;
	if (pthread_create(&th, NULL, vm_thread, &rn) != 0) {
		set_reason(res, NICBENCH_FAILED, "cannot start the VM thread");
		goto out;
	}
	/* the console is read here; the thread's end shows up as a wake byte, then EOF once we close cons[1] */
	rn.fd = cons[0];
	watch(&rn, con, res);
	/* the guest powers off after DONE; give it a moment, then stop it */
	struct pollfd w = { .fd = rn.vm_wake[0], .events = POLLIN };
	if (poll(&w, 1, interrupted ? 0 : 20000) <= 0)
		vm_request_stop(rn.vm);
	pthread_join(th, NULL);
	current_vm = NULL;
out:
	vm_free(rn.vm);
	close(cons[0]);
	close(cons[1]);
	if (rn.vm_wake[0] >= 0)
		close(rn.vm_wake[0]);
	if (rn.vm_wake[1] >= 0)
		close(rn.vm_wake[1]);
}

static void run_qemu_vm(struct bench *b, enum nicbench_path p, const char *initrd, struct nicbench_console *con,
			struct nicbench_result *res)
{
	char mem[32], netdev[160], device[128];
	struct run rn = { .b = b, .path = p };
	int r;

	snprintf(mem, sizeof(mem), "%" PRIu64, b->o.memory >> 20);
	snprintf(netdev, sizeof(netdev), "tap,id=n0,ifname=%s,script=no,downscript=no%s", wires[p].tap ? wires[p].tap : "",
		 p == NICBENCH_VHOST ? ",vhost=on" : p == NICBENCH_VIRTIO ? ",vhost=off" : "");
	if (p == NICBENCH_PASSTHROUGH)
		snprintf(device, sizeof(device), "vfio-pci,host=%s", b->vf);
	else
		snprintf(device, sizeof(device), "%s,netdev=n0,romfile=", p == NICBENCH_EMULATED ? "e1000" : "virtio-net-pci");
	char *argv[] = { (char *)b->o.qemu_bin, "-machine", "q35,accel=kvm", "-cpu", "host", "-smp", "1", "-m", mem,
			 "-nodefaults", "-display", "none", "-no-reboot", "-serial", "stdio", "-kernel",
			 (char *)b->rep.kernel, "-initrd", (char *)initrd, "-append", (char *)cmdline, "-device", device,
			 p == NICBENCH_PASSTHROUGH ? NULL : "-netdev", netdev, NULL };
	if ((r = nb_spawn(argv, &rn.fd, true, NULL, NULL, &rn.pid)) < 0)
		return set_reason(res, NICBENCH_FAILED, "%s: cannot start it: %s", b->o.qemu_bin, strerror(-r));
	int k = nb_undo_push(&b->undo, NB_UNDO_KILL, "qemu", NULL, -1, rn.pid);
	current_pid = rn.pid;
	watch(&rn, con, res);
	/* the guest powers off after DONE */
	for (int i = 0; i < 200 && !interrupted && waitpid(rn.pid, NULL, WNOHANG) == 0; i++)
		usleep(100 * 1000);
	current_pid = 0;
	nb_undo_now(&b->undo, k);
	close(rn.fd);
}

static void run_vm(struct bench *b, enum nicbench_path p, const char *nonce, struct nicbench_result *res)
{
	struct nicbench_console con = {};
	char initrd[PATH_MAX], params[PATH_MAX];
	_cleanup_free_ char *why = NULL;
	struct guest_params gp;
	int r;

	if (p == NICBENCH_PASSTHROUGH && !b->o.qemu) {
		/* ptctl bind's checks and steps, and the assignment record `vm run --assign` keeps */
		bool moved = false;
		char p[256];
		_cleanup_free_ char *cur = NULL;
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/driver", b->vf);
		bool unbound = root_readlink_base(p, &cur) < 0;
		int k = nb_undo_push(&b->undo, NB_UNDO_ASSIGN, b->vf, "", -1, 0);
		if ((r = vm_assign_prepare(b->vf, "ptctl-bench-nic", (long)getpid(), &moved, &why)) < 0) {
			b->undo.items[k].done = true;
			return set_reason(res, NICBENCH_FAILED, "%s", why ? why : strerror(-r));
		}
		if (moved)
			snprintf(b->undo.items[k].b, sizeof(b->undo.items[k].b), "release%s", unbound ? " unbound" : "");
	} else if (p == NICBENCH_PASSTHROUGH) {
		if (vf_to_driver(b, "vfio-pci", &why) < 0)
			return set_reason(res, NICBENCH_FAILED, "%s", why);
	}
	/* the kit plus this run's parameters, one file (the kernel unpacks both archives) */
	snprintf(initrd, sizeof(initrd), "%s/initrd-%s", b->dir, nicbench_path_name(p));
	snprintf(params, sizeof(params), "%s/params-%s", b->dir, nicbench_path_name(p));
	fill_params(b, p, nonce, &gp);
	if ((r = guest_params_archive(&gp, params)) < 0)
		return set_reason(res, NICBENCH_FAILED, "cannot write %s: %s", params, strerror(-r));
	{
		char *argv[] = { "sh", "-c", "cat \"$1\" \"$2\" >\"$3\"", "sh", b->kit, params, initrd, NULL };
		pid_t pid;
		int st = 0;
		if (nb_spawn(argv, NULL, false, NULL, NULL, &pid) < 0 || waitpid(pid, &st, 0) < 0 || st != 0)
			return set_reason(res, NICBENCH_FAILED, "cannot assemble %s", initrd);
	}
	snprintf(con.nonce, sizeof(con.nonce), "%s", nonce);
	progress(p, "booting the guest (%s)", b->o.qemu ? "QEMU" : "ptctl's VMM");
	if (b->o.qemu)
		run_qemu_vm(b, p, initrd, &con, res);
	else
		run_ptctl_vm(b, p, initrd, &con, res);
	nicbench_console_done(&con);
	unlink(initrd);
}

/* Is the path possible here at all? Sets the result to unavailable with the reason if not. */
static bool available(struct bench *b, enum nicbench_path p, struct nicbench_result *res)
{
	const char *why = NULL;
	enum vm_nic_model m;
	char path[256];

	if (b->o.qemu) {
		if (p == NICBENCH_VHOST && (root_path(path, sizeof(path), "/dev/vhost-net") < 0 || access(path, R_OK | W_OK) < 0)) {
			set_reason(res, NICBENCH_UNAVAILABLE, "/dev/vhost-net is missing (modprobe vhost_net)");
			return false;
		}
		return true;
	}
	if (p == NICBENCH_NATIVE)
		return true;
	if (p == NICBENCH_PASSTHROUGH ? vm_assign_available(&why) < 0 : vm_model(p, &m) < 0 || vm_nic_model_available(m, &why) < 0) {
		set_reason(res, NICBENCH_UNAVAILABLE, "%s", why ? why : "not supported");
		return false;
	}
	if (p == NICBENCH_VHOST && (root_path(path, sizeof(path), "/dev/vhost-net") < 0 || access(path, R_OK | W_OK) < 0)) {
		set_reason(res, NICBENCH_UNAVAILABLE, "/dev/vhost-net is missing (modprobe vhost_net)");
		return false;
	}
	return true;
}

static void run_path(struct bench *b, enum nicbench_path p)
{
	struct nicbench_result *res = &b->rep.r[p];
	_cleanup_free_ char *why = NULL;
	char nonce[33];
	size_t mark = b->undo.n;

	if (!available(b, p, res)) {
		progress(p, "unavailable: %s", res->reason);
		return;
	}
	if (new_nonce(nonce) < 0)
		return set_reason(res, NICBENCH_FAILED, "no random numbers for the nonce");
	if ((p == NICBENCH_NATIVE || p == NICBENCH_PASSTHROUGH) && pf_wire_up(b, &why) < 0) {
		set_reason(res, NICBENCH_FAILED, "%s", why);
		goto out;
	}
	mark = b->undo.n;
	if (wires[p].tap && tap_up(b, p, &why) < 0) {
		set_reason(res, NICBENCH_FAILED, "%s", why);
		goto out;
	}
	if (iperf_server(b, p, &why) < 0) {
		set_reason(res, NICBENCH_FAILED, "%s", why);
		goto out;
	}
	if (p == NICBENCH_NATIVE)
		run_native(b, res, nonce);
	else
		run_vm(b, p, nonce, res);
out:
	/* everything this path changed goes back now, last first (the PF's address stays for the next path) */
	for (; b->undo.n > mark; b->undo.n--)
		nb_undo_now(&b->undo, (int)b->undo.n - 1);
	if (res->status == NICBENCH_OK)
		progress(p, "%.1f Mbit/s (guest -> peer %.1f, peer -> guest %.1f)", nicbench_mbit(res), res->tx_mbit,
			 res->rx_mbit);
	else
		progress(p, "%s: %s", res->status == NICBENCH_UNAVAILABLE ? "unavailable" : "failed", res->reason);
}

/* ---- the verb ---- */

static int build_kit(struct bench *b)
{
	struct guest_kit_config cfg = { .kernel = b->o.kernel };
	_cleanup_free_ char *why = NULL;
	int r;

	snprintf(b->kit, sizeof(b->kit), "%s/kit.cpio", b->dir);
	r = guest_kit_build(&cfg, b->kit, &b->kit_info, &why);
	if (r < 0)
		return log_error("guest kit: %s", why ? why : strerror(-r)), r == -ENOENT || r == -ENOEXEC ? EXIT_USAGE : EXIT_FAIL;
	for (char **m = b->kit_info->missing; *m; m++)
		log_warning("guest kit: kernel %s has no module %s; the path that needs it will fail", b->kit_info->release, *m);
	b->rep.kernel = b->kit_info->kernel;
	b->rep.release = b->kit_info->release;
	return EXIT_OK;
}

static int write_svg(const struct bench *b)
{
	char tmp[PATH_MAX];
	_cleanup_fclose_ FILE *f = NULL;
	int r;

	snprintf(tmp, sizeof(tmp), "%s.tmp", b->o.svg);
	f = fopen(tmp, "we");
	if (!f)
		return log_error("%s: %m", b->o.svg), -errno;
	r = nicbench_svg(f, &b->rep);
	if (r >= 0 && fflush(f) != 0)
		r = -EIO;
	if (r >= 0 && rename(tmp, b->o.svg) < 0)
		r = negative_errno();
	if (r < 0) {
		unlink(tmp);
		log_error("%s: cannot write the chart: %s", b->o.svg, strerror(-r));
	}
	return r;
}

static int run_bench_nic(int argc, char **argv, const struct verb_ctx *ctx)
{
	struct bench b = {};
	_cleanup_free_ char *err = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	int status, failed = 0;

	if (nicbench_parse_args(argc, argv, &b.o, &err) < 0)
		return verb_usage_error(ctx, argv[0], "%s", err ? err : "bad arguments");
	b.rep = (struct nicbench_report){ .vmm = b.o.qemu ? "qemu" : "ptctl", .duration = b.o.duration,
					  .paths = b.o.paths, .loadavg = nb_loadavg() };
	if (geteuid() != 0)
		return log_error("bench nic: needs root (it binds drivers, creates taps and a network namespace)"), EXIT_FAIL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	snprintf(b.dir, sizeof(b.dir), "/tmp/ptctl-bench-nic.XXXXXX");
	if (!mkdtemp(b.dir))
		return log_error("bench nic: cannot create a directory under /tmp: %m"), EXIT_FAIL;
	nb_undo_push(&b.undo, NB_UNDO_RMTREE, b.dir, NULL, -1, 0);
	/* The guest kit first: a missing kernel or package is said before anything changes (--pf may create
	 * a VF). The native path alone runs no guest and needs no kit. */
	status = b.o.paths & ~(1u << NICBENCH_NATIVE) ? build_kit(&b) : EXIT_OK;
	if (status == EXIT_OK)
		status = resolve_wire(&b);
	if (status == EXIT_OK) {
		progress(NICBENCH_NATIVE, "wire: VF %s, PF %s (%s); guest kernel %s", b.vf, b.pf, b.pf_netdev,
			 b.rep.release ? b.rep.release : "none (no VM path)");
		for (int p = 0; p < NICBENCH_PATHS && !interrupted; p++)
			if (b.o.paths & (1u << p)) {
				run_path(&b, p);
				failed += b.rep.r[p].status == NICBENCH_FAILED;
			}
	}
	if (nb_undo_all(&b.undo) > 0)
		status = EXIT_FAIL;
	if (interrupted) {
		log_error("bench nic: interrupted; everything it changed is undone");
		status = EXIT_FAIL;
	} else if (status == EXIT_OK) {
		if (nicbench_print(stdout, &b.rep) < 0)
			status = EXIT_FAIL;
		if (b.o.svg && write_svg(&b) < 0)
			status = EXIT_FAIL;
		if (failed)
			status = EXIT_FAIL;
	}
	for (int p = 0; p < NICBENCH_PATHS; p++)
		nicbench_result_done(&b.rep.r[p]);
	guest_kit_free(b.kit_info);
	return status;
}

PTCTL_VERB(bench_nic, .name = "bench nic",
	   .synopsis = "--vf ADDRESS | --pf ADDRESS [--paths native,emulated,virtio,vhost,passthrough] [--duration S] "
		       "[--kernel K] [--svg FILE] [--vmm ptctl|qemu] [--qemu PATH] [--memory SIZE]",
	   .summary = "compare network throughput: native, emulated, virtio, vhost, pass-through",
	   .flags = VERB_JSON, .run = run_bench_nic,
	   .help = "DESCRIPTION\n"
		   "    Measures one wire five ways, side by side in one run: an SR-IOV VF and its PF, with iperf3\n"
		   "    between the two ends.\n"
		   "      native       the VF on its host driver (igbvf), moved into a network namespace: no VM\n"
		   "      emulated     a VM with an emulated Intel e1000 on a tap (trap-and-emulate)\n"
		   "      virtio       a VM with virtio-net on a tap, the VMM's own data path\n"
		   "      vhost        a VM with virtio-net on a tap, the kernel's vhost-net data path\n"
		   "      passthrough  a VM with the VF itself (vfio-pci, IOMMU, interrupts through KVM)\n"
		   "    The other end of the wire is the PF's address in the host (native, passthrough) or the\n"
		   "    tap's host side (emulated, virtio, vhost). Addresses come from 198.18.0.0/15 only\n"
		   "    (198.18.1.0/24 on the PF, 198.18.2-4.0/24 on the taps); nothing leaves the machine.\n"
		   "\n"
		   "    Every VM boots the same kernel (the host's own, or --kernel) and the same initramfs, which\n"
		   "    ptctl builds from the host's packages: busybox-static, iperf3 and its libraries, the\n"
		   "    e1000, igbvf and virtio-net modules of that kernel (see 'ptctl bench kit'). The native\n"
		   "    path runs the same script with the same busybox and iperf3 in its namespace.\n"
		   "\n"
		   "    Per path: iperf3 TCP throughput in both directions (1 s omitted for warm-up), ping RTT,\n"
		   "    KVM exits per MB moved (KVM's binary statistics), the NIC's interrupts per MB (the guest's\n"
		   "    /proc/interrupts), the VMM's host CPU time over the window (with vhost's worker); then the\n"
		   "    ratios pass-through/emulated, virtio/emulated and pass-through/native of the mean of both\n"
		   "    directions. A path this build cannot run is reported unavailable with the reason, never\n"
		   "    as a number. A benchmark: it prints figures and judges nothing.\n"
		   "\n"
		   "    Progress goes to stderr. Everything it changes (VF driver, namespace, taps, addresses,\n"
		   "    a VF it created, its VMs and iperf3) is recorded before the change and undone at the end,\n"
		   "    on failure and on Ctrl-C.\n"
		   "\n"
		   "OPTIONS\n"
		   "    --vf ADDRESS      the VF to measure (its PF is the other end)\n"
		   "    --pf ADDRESS      the PF: an unused VF of it is taken, or one is created for the run\n"
		   "    --paths LIST      comma-separated subset (default all, in the order above)\n"
		   "    --duration S      seconds per direction (default 10)\n"
		   "    --kernel K        guest kernel, bzImage or vmlinux (default /boot/vmlinuz-$(uname -r));\n"
		   "                      its modules must be under /lib/modules/RELEASE\n"
		   "    --svg FILE        also write a bar chart (one bar per path, ratios underneath)\n"
		   "    --vmm ptctl|qemu  the VMM (default ptctl); qemu runs the same guests under QEMU\n"
		   "                      (e1000, virtio-net-pci with vhost off/on, vfio-pci) as the peer\n"
		   "    --qemu PATH       QEMU binary (default qemu-system-x86_64)\n"
		   "    --memory SIZE     guest RAM (default 512M)\n"
		   "\n"
		   "OUTPUT\n"
		   "    vmm, vf, pf, pf_netdev, kernel, kernel_release, duration_s, loadavg (1 min, at start),\n"
		   "    paths: [{path, status (ok, unavailable, failed), reason, driver, mbit_s (mean of both\n"
		   "    directions), tx_mbit_s (guest -> peer), rx_mbit_s, rtt_ms, bytes, tx_bytes, rx_bytes, vm_exits,\n"
		   "    vm_exits_per_mb, guest_irqs, guest_irqs_per_mb, vmm_cpu_s, vmm_cpu_percent}],\n"
		   "    ratios: {passthrough_vs_emulated, virtio_vs_emulated, passthrough_vs_native} (null\n"
		   "    when a side is missing). MB = 10^6 bytes; Mbit = 10^6 bits.\n"
		   "\n"
		   "EXIT STATUS\n"
		   "    0 every path measured or unavailable; 1 a path failed (the report is still printed),\n"
		   "    or setup failed or was interrupted; 2 bad usage\n"
		   "\n"
		   "EXAMPLES\n"
		   "    ptctl bench nic --vf 0000:01:10.0 --svg nic.svg\n"
		   "    ptctl bench nic --pf 0000:01:00.0 --paths native,passthrough --duration 5 --json\n");

/* ---- ptctl bench kit ---- */

static int run_bench_kit(int argc, char **argv, const struct verb_ctx *ctx)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' }, { "output", required_argument, NULL, 'o' }, {},
	};
	struct guest_kit_config cfg = {};
	_cleanup_guest_kit_ struct guest_kit *k = NULL;
	_cleanup_json_ json_object *o = json_object_new_object(), *mods = json_object_new_array(),
				   *missing = json_object_new_array();
	_cleanup_free_ char *why = NULL;
	const char *out = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c == 'k')
			cfg.kernel = optarg;
		else if (c == 'o')
			out = optarg;
		else
			return verb_usage_error(ctx, argv[0], "unknown option");
	}
	if (optind < argc)
		return verb_usage_error(ctx, argv[0], "unexpected argument '%s'", argv[optind]);
	if (!out)
		return verb_usage_error(ctx, argv[0], "--output FILE is required");
	if (!o || !mods || !missing)
		return EXIT_FAIL;
	r = guest_kit_build(&cfg, out, &k, &why);
	if (r < 0)
		return log_error("guest kit: %s", why ? why : strerror(-r)), r == -ENOENT || r == -ENOEXEC ? EXIT_USAGE : EXIT_FAIL;
	for (char **m = k->modules; *m; m++)
		json_object_array_add(mods, json_object_new_string(*m));
	for (char **m = k->missing; *m; m++)
		json_object_array_add(missing, json_object_new_string(*m));
	if (json_add_str(o, "initrd", out) < 0 || json_add_str(o, "kernel", k->kernel) < 0 ||
	    json_add_str(o, "kernel_release", k->release) < 0 || json_add_int(o, "size", (int64_t)k->size) < 0 ||
	    json_add_int(o, "files", (int64_t)strv_length(k->files)) < 0 || json_add(o, "modules", TAKE_PTR(mods)) < 0 ||
	    json_add(o, "missing_modules", TAKE_PTR(missing)) < 0)
		return EXIT_FAIL;
	return out_record(stdout, o) < 0 ? EXIT_FAIL : EXIT_OK;
}

PTCTL_VERB(bench_kit, .name = "bench kit", .synopsis = "--output FILE [--kernel K]",
	   .summary = "write the guest initramfs 'bench nic' boots", .flags = VERB_JSON, .run = run_bench_kit,
	   .help = "DESCRIPTION\n"
		   "    Writes the initramfs every 'ptctl bench nic' guest boots, built from this host's packages:\n"
		   "    busybox-static with the applets the scripts use, iperf3 with every library ldd lists (at\n"
		   "    the same paths), and the e1000, igbvf, virtio_pci and virtio_net modules of the kernel in\n"
		   "    the order modprobe would load them (from modules.dep; compressed modules unpacked, since\n"
		   "    busybox insmod reads plain .ko only). Its /init loads them and runs the measurement with\n"
		   "    the parameters of a second archive appended per run. Another VMM can boot it as is.\n"
		   "\n"
		   "OPTIONS\n"
		   "    --output FILE   where to write it (an uncompressed newc cpio)\n"
		   "    --kernel K      the kernel whose modules go in (default /boot/vmlinuz-$(uname -r))\n");
