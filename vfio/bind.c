/* bind.c: moving devices between drivers without stranding them: the original driver is
 * recorded under /run/ptctl/devices/<addr> before anything changes, each device's starting
 * state is kept so any failure part-way returns every touched device to it, and every bind is
 * verified by reading the driver link back (drivers_probe reports success when nothing binds). */
#include <limits.h>
#include <sys/wait.h>
#include <time.h>

#include "pci-internal.h"
#include "util/log.h"
#include "util/root.h"
#include "util/state.h"

#define RECORD_KIND "devices"
#define LOCK_TIMEOUT_MS 10000
#define DEFAULT_TIMEOUT_MS 3000

/* A device's starting state: what rollback returns it to. */
struct snapshot {
	struct pci_addr addr;
	char name[PCI_ADDR_STRLEN];
	char *driver;   /* NULL: unbound */
	char *override; /* NULL: unset */
	bool touched;   /* a kernel-visible change was made */
	bool made_record;
};

struct op {
	const struct vfio_bind_opts *o;
	struct vfio_bind_result *res;
	const char *target; /* the driver to bind to (bind) */
	int timeout_ms;
	struct snapshot *snaps;
	size_t n_snaps;
};

_printf_(3, 4) static int fail(struct vfio_bind_result *res, enum vfio_bind_failure f, const char *fmt, ...)
{
	va_list ap;
	free(res->reason);
	res->reason = NULL;
	res->failure = f;
	va_start(ap, fmt);
	if (vasprintf(&res->reason, fmt, ap) < 0)
		res->reason = NULL;
	va_end(ap);
	return f == VFIO_BIND_BAD_INPUT ? -EINVAL : f == VFIO_BIND_REFUSED ? -EPERM : -EIO;
}

void vfio_bind_result_clear(struct vfio_bind_result *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < res->n_steps; i++) {
		free(res->steps[i].file);
		free(res->steps[i].value);
	}
	for (size_t i = 0; i < res->n_changes; i++) {
		free(res->changes[i].from);
		free(res->changes[i].to);
	}
	free(res->steps);
	free(res->changes);
	free(res->reason);
	memset(res, 0, sizeof(*res));
}

static int add_step(struct vfio_bind_result *res, const char *dev, const char *action, const char *file,
		    const char *value, struct vfio_bind_step **ret)
{
	struct vfio_bind_step *n = realloc(res->steps, (res->n_steps + 1) * sizeof(*n)), *s;
	if (!n)
		return -ENOMEM;
	res->steps = n;
	s = &n[res->n_steps];
	*s = (struct vfio_bind_step){ .action = action };
	snprintf(s->dev, sizeof(s->dev), "%s", dev);
	if ((file && !(s->file = strdup(file))) || (value && !(s->value = strdup(value)))) {
		free(s->file);
		return -ENOMEM;
	}
	res->n_steps++;
	if (ret)
		*ret = s;
	return 0;
}

static int add_change(struct vfio_bind_result *res, const char *dev, const char *from, const char *to)
{
	struct vfio_bind_change *n = realloc(res->changes, (res->n_changes + 1) * sizeof(*n)), *c;
	if (!n)
		return -ENOMEM;
	res->changes = n;
	c = &n[res->n_changes];
	*c = (struct vfio_bind_change){ 0 };
	snprintf(c->dev, sizeof(c->dev), "%s", dev);
	if ((from && !(c->from = strdup(from))) || (to && !(c->to = strdup(to)))) {
		free(c->from);
		return -ENOMEM;
	}
	res->n_changes++;
	return 0;
}

static int current_driver(const char *dev, char **ret)
{
	char p[PATH_MAX];
	int r = pci_sysfs_path(p, sizeof(p), dev, "driver");
	if (r < 0)
		return r;
	r = root_readlink_base(p, ret);
	if (r == -ENOENT) {
		*ret = NULL;
		return 0;
	}
	return r;
}

static bool driver_exists(const char *driver)
{
	char p[PATH_MAX];
	return snprintf(p, sizeof(p), "/sys/bus/pci/drivers/%s", driver) < (int)sizeof(p) && root_exists(p);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* The kernel may probe asynchronously: poll the link until it names want (NULL: unbound). */
static int wait_driver(const char *dev, const char *want, int timeout_ms, char **ret_now)
{
	for (int waited = 0;; waited += 10) {
		_cleanup_free_ char *now = NULL;
		int r = current_driver(dev, &now);
		if (r < 0)
			return r;
		if ((!want && !now) || (want && streq(now, want)))
			return 0;
		if (waited >= timeout_ms) {
			*ret_now = TAKE_PTR(now);
			return -ETIMEDOUT;
		}
		sleep_ms(10);
	}
}

/* Runs one step now (or only lists it under dry_run). */
static int run_step(struct op *op, const char *dev, const char *action, const char *file, const char *value)
{
	struct vfio_bind_step *s;
	int r = add_step(op->res, dev, action, file, value, &s);
	if (r < 0 || op->o->dry_run)
		return r;
	r = root_write(file, value);
	log_debug("%s: %s: %s <- %s: %s", dev, action, file, value, r < 0 ? strerror(-r) : "ok");
	if (r >= 0)
		s->done = true;
	return r;
}

/* modprobe through a small exec; PTCTL_MODPROBE names another program (tests). */
static int load_module(const char *driver, int *ret_status)
{
	const char *prog = getenv("PTCTL_MODPROBE");
	char module[128];
	pid_t pid;
	int status;

	/* Under a fake root the host's modprobe would change the wrong system. */
	if (!prog && *root_get())
		return -ENOEXEC;
	if (!prog)
		prog = "modprobe";
	snprintf(module, sizeof(module), "%s", driver);
	for (char *c = module; *c; c++)
		if (*c == '-')
			*c = '_';
	pid = fork();
	if (pid < 0)
		return negative_errno();
	if (pid == 0) {
		execlp(prog, prog, module, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return negative_errno();
	*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
	return 0;
}

static int ensure_driver(struct op *op, const char *driver)
{
	int status = 0, r;

	if (driver_exists(driver))
		return 0;
	if (op->o->dry_run)
		return add_step(op->res, "-", "modprobe", NULL, driver, NULL);
	r = load_module(driver, &status);
	if (r == -ENOEXEC)
		return fail(op->res, VFIO_BIND_BAD_INPUT,
			    "unknown driver '%s': not registered (under PTCTL_ROOT modprobe runs only as "
			    "PTCTL_MODPROBE)", driver);
	if (r < 0)
		return fail(op->res, VFIO_BIND_BAD_INPUT,
			    "unknown driver '%s': not registered, and modprobe could not run (%s)", driver,
			    strerror(-r));
	if (status != 0)
		return fail(op->res, VFIO_BIND_BAD_INPUT,
			    "unknown driver '%s': not registered, and modprobe failed (exit status %d)", driver,
			    status);
	if (!driver_exists(driver))
		return fail(op->res, VFIO_BIND_BAD_INPUT,
			    "unknown driver '%s': modprobe loaded a module, but no PCI driver of that name "
			    "registered (see /sys/bus/pci/drivers)", driver);
	return add_step(op->res, "-", "modprobe", NULL, driver, NULL);
}

static int snapshot_take(struct op *op, const char *dev, struct snapshot **ret)
{
	struct snapshot *n = realloc(op->snaps, (op->n_snaps + 1) * sizeof(*n)), *s;
	char p[PATH_MAX];
	int r;

	if (!n)
		return -ENOMEM;
	op->snaps = n;
	s = &n[op->n_snaps];
	*s = (struct snapshot){ 0 };
	if (pci_addr_parse(dev, &s->addr) < 0)
		return -EINVAL;
	pci_addr_format(&s->addr, s->name);
	if ((r = current_driver(s->name, &s->driver)) < 0)
		return r;
	if ((r = pci_sysfs_path(p, sizeof(p), s->name, "driver_override")) < 0)
		goto fail;
	r = root_read(p, &s->override);
	if (r < 0 && r != -ENOENT)
		goto fail;
	if (s->override && (!*strstrip(s->override) || streq(s->override, "(null)"))) {
		free(s->override);
		s->override = NULL;
	}
	op->n_snaps++;
	*ret = s;
	return 0;
fail:
	free(s->driver);
	return r;
}

static void snapshots_free(struct op *op)
{
	for (size_t i = 0; i < op->n_snaps; i++) {
		free(op->snaps[i].driver);
		free(op->snaps[i].override);
	}
	free(op->snaps);
	op->snaps = NULL;
	op->n_snaps = 0;
}

/* Back to the snapshot: override restored, off whatever driver it is on, onto the original. */
static int restore(struct op *op, struct snapshot *s)
{
	_cleanup_free_ char *now = NULL, *left = NULL;
	char p[PATH_MAX];
	int r;

	if ((r = pci_sysfs_path(p, sizeof(p), s->name, "driver_override")) < 0 ||
	    (r = root_write(p, s->override ? s->override : "\n")) < 0)
		return r;
	if ((r = current_driver(s->name, &now)) < 0)
		return r;
	if (streq(now, s->driver))
		return 0;
	if (now) {
		snprintf(p, sizeof(p), "/sys/bus/pci/drivers/%s/unbind", now);
		if ((r = root_write(p, s->name)) < 0)
			return r;
	}
	if (s->driver) {
		snprintf(p, sizeof(p), "/sys/bus/pci/drivers/%s/bind", s->driver);
		r = root_write(p, s->name);
		if (r < 0 && (r = root_write("/sys/bus/pci/drivers_probe", s->name)) < 0)
			return r;
	}
	return wait_driver(s->name, s->driver, op->timeout_ms, &left);
}

/* Undo everything, last device first. Returns 0 when every device is back where it started. */
static int rollback(struct op *op, char **ret_stranded)
{
	int result = 0;

	for (size_t i = op->n_snaps; i-- > 0;) {
		struct snapshot *s = &op->snaps[i];
		int r = s->touched ? restore(op, s) : 0;
		if (r < 0) {
			log_debug("%s: rollback failed: %s", s->name, strerror(-r));
			if (result == 0 && asprintf(ret_stranded, "%s could not be returned to %s (%s)", s->name,
						    s->driver ? s->driver : "no driver", strerror(-r)) < 0)
				*ret_stranded = NULL;
			result = r;
			continue;
		}
		if (s->made_record)
			state_remove(RECORD_KIND, s->name);
	}
	return result;
}

static int write_record(struct op *op, struct snapshot *s, const char *to)
{
	_cleanup_free_ char *old = NULL, *content = NULL;
	char path[PATH_MAX];
	int r = state_read(RECORD_KIND, s->name, &old);

	/* A record from an earlier bind still knows the true original: keep it. */
	if (r >= 0)
		return 0;
	if (r != -ENOENT)
		return r;
	if (asprintf(&content, "original_driver=%s\noriginal_override=%s\ndriver=%s\n", s->driver ? s->driver : "",
		     s->override ? s->override : "", to) < 0)
		return -ENOMEM;
	if ((r = state_path(path, sizeof(path), RECORD_KIND, s->name)) < 0 ||
	    (r = add_step(op->res, s->name, "record", path, s->driver ? s->driver : "(no driver)", NULL)) < 0)
		return r;
	if (op->o->dry_run)
		return 0;
	r = state_write(RECORD_KIND, s->name, content);
	if (r >= 0) {
		s->made_record = true;
		op->res->steps[op->res->n_steps - 1].done = true;
	}
	return r;
}

static const char *step_error(int r)
{
	return r == -ETIMEDOUT ? "the driver did not take it" : strerror(-r);
}

/* driver_override -> unbind -> drivers_probe -> verify, for one device. */
static int move_one(struct op *op, struct snapshot *s)
{
	_cleanup_free_ char *now = NULL;
	char p[PATH_MAX];
	int r;

	if ((r = write_record(op, s, op->target)) < 0)
		return fail(op->res, VFIO_BIND_FAILED, "cannot record the original driver under " STATE_DIR ": %s",
			    strerror(-r));
	s->touched = true;
	if ((r = pci_sysfs_path(p, sizeof(p), s->name, "driver_override")) < 0 ||
	    (r = run_step(op, s->name, "override", p, op->target)) < 0)
		return fail(op->res, VFIO_BIND_FAILED, "writing driver_override failed: %s", strerror(-r));
	if (s->driver) {
		snprintf(p, sizeof(p), "/sys/bus/pci/drivers/%s/unbind", s->driver);
		if ((r = run_step(op, s->name, "unbind", p, s->name)) < 0)
			return fail(op->res, VFIO_BIND_FAILED, "unbinding from %s failed: %s", s->driver, strerror(-r));
	}
	if ((r = run_step(op, s->name, "probe", "/sys/bus/pci/drivers_probe", s->name)) < 0)
		return fail(op->res, VFIO_BIND_FAILED, "drivers_probe failed: %s", strerror(-r));
	if ((r = add_step(op->res, s->name, "verify", NULL, op->target, NULL)) < 0 || op->o->dry_run)
		return r;
	r = wait_driver(s->name, op->target, op->timeout_ms, &now);
	if (r < 0)
		return fail(op->res, VFIO_BIND_FAILED, "%s did not bind it (%s; now %s): see the kernel log (dmesg)",
			    op->target, step_error(r), now ? now : "no driver");
	op->res->steps[op->res->n_steps - 1].done = true;
	return add_change(op->res, s->name, s->driver, op->target);
}

static int refuse_in_use(struct op *op, const struct vfio_pci_dev *d)
{
	_cleanup_free_ char *why = NULL;
	int r;

	if (op->o->force)
		return 0;
	r = vfio_pci_in_use(d, &why);
	if (r < 0)
		return fail(op->res, VFIO_BIND_FAILED, "cannot tell whether the host uses it: %s", strerror(-r));
	if (r > 0) {
		snprintf(op->res->object, sizeof(op->res->object), "%s", d->name);
		return fail(op->res, VFIO_BIND_REFUSED, "in use: %s (stop using it first, or --force)", why);
	}
	return 0;
}

/* vfio-pci refuses a physical function whose VFs are enabled (seen: "Cannot bind to PF with
 * SR-IOV enabled", -EBUSY), and some PF drivers destroy the VFs when unbound: say so first. */
static int refuse_enabled_vfs(struct op *op, const struct vfio_pci_dev *d)
{
	if (op->o->force || d->sriov_num_vfs <= 0 || !vfio_pci_is_vfio_driver(op->target))
		return 0;
	snprintf(op->res->object, sizeof(op->res->object), "%s", d->name);
	return fail(op->res, VFIO_BIND_REFUSED,
		    "SR-IOV is enabled (%d VFs): %s does not take a physical function with VFs, and unbinding "
		    "%s may destroy them (set sriov_numvfs to 0 first, or --force)",
		    d->sriov_num_vfs, op->target, d->driver ? d->driver : "it");
}

/* Which devices move: the device, and with --group the group's other blocking endpoints. */
static int bind_targets(struct op *op, const struct vfio_pci_dev *d, char ***ret)
{
	_cleanup_strv_free_ char **v = NULL;
	struct vfio_group_info *g = NULL;
	_cleanup_free_ char *blockers = NULL;
	size_t n = 0;
	int r;

	char *self = strdup(d->name);
	if (!self || strv_push(&v, &n, self) < 0)
		return -ENOMEM;
	if (!vfio_pci_is_vfio_driver(op->target)) {
		*ret = TAKE_PTR(v);
		return 0;
	}
	if (d->iommu_group < 0)
		return fail(op->res, VFIO_BIND_REFUSED, "no IOMMU group: enable VT-d in the firmware and boot with "
			    "intel_iommu=on (AMD: amd_iommu=on)");
	if ((r = vfio_group_read(d->iommu_group, &g)) < 0)
		return fail(op->res, VFIO_BIND_FAILED, "cannot read IOMMU group %d: %s", d->iommu_group, strerror(-r));
	r = vfio_group_blockers(g, &d->addr, &blockers);
	if (r >= 0 && *blockers && !op->o->group) {
		bool many = strchr(blockers, ',') != NULL;
		r = fail(op->res, VFIO_BIND_REFUSED, "IOMMU group %d is not viable: %s (bind %s too with --group, or "
			 "release %s)", g->group, blockers, many ? "them" : "it", many ? "them" : "it");
	}
	for (size_t i = 0; r >= 0 && op->o->group && i < g->n_members; i++) {
		char *m;
		if (!g->members[i].blocks || pci_addr_cmp(&g->members[i].addr, &d->addr) == 0)
			continue;
		if (!(m = strdup(g->members[i].name)) || strv_push(&v, &n, m) < 0)
			r = -ENOMEM;
	}
	vfio_group_info_free(g);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(v);
	return 0;
}

static int check_device(struct op *op, const struct pci_addr *addr, struct vfio_pci_dev **ret)
{
	int r = vfio_pci_dev_read(addr, ret);

	pci_addr_format(addr, op->res->object);
	if (r == -ENODEV)
		return fail(op->res, VFIO_BIND_BAD_INPUT, "no such PCI device (see ptctl list)");
	if (r < 0)
		return fail(op->res, VFIO_BIND_FAILED, "cannot read the device: %s", strerror(-r));
	return 0;
}

static int take_lock(struct op *op)
{
	int fd;

	if (op->o->locked || op->o->dry_run)
		return -1;
	fd = state_lock(op->o->lock_timeout_ms > 0 ? op->o->lock_timeout_ms : LOCK_TIMEOUT_MS);
	if (fd == -ETIMEDOUT)
		return fail(op->res, VFIO_BIND_FAILED, "another ptctl is changing devices (" STATE_DIR
			    "/lock is held); try again when it is done");
	if (fd < 0)
		return fail(op->res, VFIO_BIND_FAILED, "cannot take " STATE_DIR "/lock: %s", strerror(-fd));
	return fd;
}

/* Failure after changes: roll back, and say whether that worked. */
static int finish_failed(struct op *op, int r)
{
	_cleanup_free_ char *stranded = NULL;
	char *reason;

	if (op->o->dry_run || rollback(op, &stranded) >= 0) {
		bool changed = false;
		for (size_t i = 0; i < op->n_snaps; i++)
			changed |= op->snaps[i].touched;
		if (changed && !op->o->dry_run && asprintf(&reason, "%s; rolled back, nothing changed",
							   op->res->reason ? op->res->reason : "failed") >= 0) {
			free(op->res->reason);
			op->res->reason = reason;
		}
		return r;
	}
	op->res->failure = VFIO_BIND_STRANDED;
	if (asprintf(&reason, "%s; rollback failed: %s: fix by hand (driver_override, drivers/*/bind)",
		     op->res->reason ? op->res->reason : "failed", stranded ? stranded : "unknown") >= 0) {
		free(op->res->reason);
		op->res->reason = reason;
	}
	return r;
}

static int bind_locked(struct op *op, const struct vfio_pci_dev *d)
{
	_cleanup_strv_free_ char **targets = NULL;
	int r;

	if (d->is_bridge)
		return fail(op->res, VFIO_BIND_REFUSED, "a PCI bridge; bridges stay with the host");
	if ((r = ensure_driver(op, op->target)) < 0)
		return r;
	if ((r = bind_targets(op, d, &targets)) < 0)
		return r;
	/* Every check before the first change: a refusal leaves everything as it was. */
	for (char **t = targets; *t; t++) {
		struct pci_addr a;
		struct vfio_pci_dev *m = NULL;
		if (pci_addr_parse(*t, &a) < 0 || (r = vfio_pci_dev_read(&a, &m)) < 0)
			return fail(op->res, VFIO_BIND_FAILED, "cannot read %s: %s", *t, strerror(r < 0 ? -r : EINVAL));
		r = refuse_in_use(op, m);
		if (r >= 0)
			r = refuse_enabled_vfs(op, m);
		vfio_pci_dev_free(m);
		if (r < 0)
			return r;
	}
	for (char **t = targets; *t; t++) {
		struct snapshot *s;
		if ((r = snapshot_take(op, *t, &s)) < 0)
			return fail(op->res, VFIO_BIND_FAILED, "cannot read the state of %s: %s", *t, strerror(-r));
		if (streq(s->driver, op->target)) {
			if ((r = add_change(op->res, s->name, s->driver, s->driver)) < 0)
				return r;
			continue; /* already there */
		}
		snprintf(op->res->object, sizeof(op->res->object), "%s", s->name);
		if ((r = move_one(op, s)) < 0)
			return finish_failed(op, r);
	}
	return 0;
}

int vfio_bind(const struct pci_addr *addr, const struct vfio_bind_opts *o, struct vfio_bind_result *res)
{
	struct op op = { .o = o, .res = res, .target = o->driver ? o->driver : VFIO_PCI_DRIVER,
			 .timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS };
	struct vfio_pci_dev *d = NULL;
	int lock, r;

	if (!*op.target || strchr(op.target, '/'))
		return fail(res, VFIO_BIND_BAD_INPUT, "'%s' is not a driver name", op.target);
	if ((r = check_device(&op, addr, &d)) < 0)
		return r;
	lock = take_lock(&op);
	if (lock < -1) {
		vfio_pci_dev_free(d);
		return lock;
	}
	r = bind_locked(&op, d);
	if (r >= 0)
		snprintf(res->object, sizeof(res->object), "%s", d->name);
	snapshots_free(&op);
	vfio_pci_dev_free(d);
	if (lock >= 0)
		close(lock);
	return r;
}

/* release: back to the recorded original, or to the kernel's default match without a record. */
static int release_locked(struct op *op, const struct vfio_pci_dev *d)
{
	_cleanup_free_ char *rec = NULL, *orig = NULL, *orig_ov = NULL, *now = NULL;
	struct snapshot *s;
	char p[PATH_MAX];
	bool have_record;
	int r;

	r = state_read(RECORD_KIND, d->name, &rec);
	if (r < 0 && r != -ENOENT)
		return fail(op->res, VFIO_BIND_FAILED, "cannot read " STATE_DIR "/" RECORD_KIND "/%s: %s", d->name,
			    strerror(-r));
	have_record = r >= 0;
	if (have_record) {
		if (state_get_value(rec, "original_driver", &orig) < 0 ||
		    state_get_value(rec, "original_override", &orig_ov) < 0)
			return fail(op->res, VFIO_BIND_FAILED, "the record " STATE_DIR "/" RECORD_KIND "/%s is damaged",
				    d->name);
		if (!*orig) {
			free(orig);
			orig = NULL;
		}
		if (!*orig_ov) {
			free(orig_ov);
			orig_ov = NULL;
		}
	} else if (!vfio_pci_is_vfio_driver(d->driver) && !d->driver_override) {
		return fail(op->res, VFIO_BIND_REFUSED, "not bound by ptctl (driver %s); nothing to release",
			    d->driver ? d->driver : "none");
	}
	if (orig && (r = ensure_driver(op, orig)) < 0) {
		op->res->failure = VFIO_BIND_FAILED; /* the record names it: not the caller's input */
		return r;
	}
	if ((r = snapshot_take(op, d->name, &s)) < 0)
		return fail(op->res, VFIO_BIND_FAILED, "cannot read its state: %s", strerror(-r));
	s->touched = true;
	if ((r = pci_sysfs_path(p, sizeof(p), s->name, "driver_override")) < 0 ||
	    (r = run_step(op, s->name, "override", p, orig_ov ? orig_ov : "\n")) < 0)
		return finish_failed(op, fail(op->res, VFIO_BIND_FAILED, "clearing driver_override failed: %s",
					      strerror(-r)));
	if (s->driver) {
		snprintf(p, sizeof(p), "/sys/bus/pci/drivers/%s/unbind", s->driver);
		if ((r = run_step(op, s->name, "unbind", p, s->name)) < 0)
			return finish_failed(op, fail(op->res, VFIO_BIND_FAILED, "unbinding from %s failed: %s",
						      s->driver, strerror(-r)));
	}
	/* Originally unbound: leave it so. Otherwise the kernel's match first, the bind file if needed. */
	if (orig || !have_record) {
		if ((r = run_step(op, s->name, "probe", "/sys/bus/pci/drivers_probe", s->name)) < 0)
			return finish_failed(op, fail(op->res, VFIO_BIND_FAILED, "drivers_probe failed: %s",
						      strerror(-r)));
	}
	if (orig && !op->o->dry_run && wait_driver(s->name, orig, op->timeout_ms, &now) < 0) {
		if (now) {
			snprintf(p, sizeof(p), "/sys/bus/pci/drivers/%s/unbind", now);
			if ((r = run_step(op, s->name, "unbind", p, s->name)) < 0)
				return finish_failed(op, fail(op->res, VFIO_BIND_FAILED,
							      "the kernel matched %s, and unbinding it failed: %s",
							      now, strerror(-r)));
		}
		snprintf(p, sizeof(p), "/sys/bus/pci/drivers/%s/bind", orig);
		if ((r = run_step(op, s->name, "bind", p, s->name)) < 0)
			return finish_failed(op, fail(op->res, VFIO_BIND_FAILED, "binding to %s failed: %s", orig,
						      strerror(-r)));
	}
	free(now);
	now = NULL;
	if ((r = add_step(op->res, s->name, "verify", NULL,
			  orig ? orig : (have_record ? "(no driver)" : "(kernel default)"), NULL)) < 0)
		return r;
	if (op->o->dry_run)
		goto forget;
	if (orig || have_record) {
		r = wait_driver(s->name, orig, op->timeout_ms, &now);
		if (r < 0)
			return finish_failed(op, fail(op->res, VFIO_BIND_FAILED, "%s did not take it back (now %s)",
						      orig ? orig : "leaving it unbound", now ? now : "no driver"));
	} else {
		/* No record: whatever the kernel picks (maybe nothing); give an asynchronous probe a moment. */
		for (int waited = 0; !now; waited += 10) {
			if ((r = current_driver(s->name, &now)) < 0)
				return finish_failed(op, fail(op->res, VFIO_BIND_FAILED, "cannot read its driver: %s",
							      strerror(-r)));
			if (now || waited >= 500 || waited >= op->timeout_ms)
				break;
			sleep_ms(10);
		}
	}
	op->res->steps[op->res->n_steps - 1].done = true;
	if ((r = add_change(op->res, s->name, s->driver, orig || have_record ? orig : now)) < 0)
		return r;
forget:
	if (!have_record)
		return 0;
	if ((r = state_path(p, sizeof(p), RECORD_KIND, s->name)) < 0 ||
	    (r = add_step(op->res, s->name, "forget", p, NULL, NULL)) < 0)
		return r;
	if (op->o->dry_run)
		return 0;
	/* The device is where it belongs; a record left behind would only be stale. */
	r = state_remove(RECORD_KIND, s->name);
	if (r < 0)
		log_debug("%s: removing the record failed: %s", s->name, strerror(-r));
	else
		op->res->steps[op->res->n_steps - 1].done = true;
	return 0;
}

int vfio_release(const struct pci_addr *addr, const struct vfio_bind_opts *o, struct vfio_bind_result *res)
{
	struct op op = { .o = o, .res = res, .timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS };
	struct vfio_pci_dev *d = NULL;
	int lock, r;

	if ((r = check_device(&op, addr, &d)) < 0)
		return r;
	lock = take_lock(&op);
	if (lock < -1) {
		vfio_pci_dev_free(d);
		return lock;
	}
	r = release_locked(&op, d);
	snapshots_free(&op);
	vfio_pci_dev_free(d);
	if (lock >= 0)
		close(lock);
	return r;
}
