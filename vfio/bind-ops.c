/* bind-ops.c: the machinery every driver change uses: steps listed and run through the root,
 * snapshots of each device's starting state and the rollback to them, verification by polling
 * the driver link, module loading, the global lock. */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>

#include "bind-internal.h"
#include "util/log.h"
#include "util/root.h"
#include "util/state.h"

_printf_(3, 4) int bind_fail(struct vfio_bind_result *res, enum vfio_bind_failure f, const char *fmt, ...)
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

int bind_add_step(struct vfio_bind_result *res, const char *dev, const char *action, const char *file,
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

int bind_add_change(struct vfio_bind_result *res, const char *dev, const char *from, const char *to)
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

static bool bind_driver_exists(const char *driver)
{
	char p[PATH_MAX];
	return snprintf(p, sizeof(p), "/sys/bus/pci/drivers/%s", driver) < (int)sizeof(p) && root_exists(p);
}

void bind_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* The kernel may probe asynchronously: poll the link until it names want (NULL: unbound). */
int bind_wait_driver(const char *dev, const char *want, int timeout_ms, char **ret_now)
{
	for (int waited = 0;; waited += 10) {
		_cleanup_free_ char *now = NULL;
		int r = pci_read_link_opt(dev, "driver", &now);
		if (r < 0)
			return r;
		if ((!want && !now) || (want && streq(now, want)))
			return 0;
		if (waited >= timeout_ms) {
			*ret_now = TAKE_PTR(now);
			return -ETIMEDOUT;
		}
		bind_sleep_ms(10);
	}
}

/* Runs one step now (or only lists it under dry_run). */
int bind_run_step(struct op *op, const char *dev, const char *action, const char *file, const char *value)
{
	struct vfio_bind_step *s;
	int r = bind_add_step(op->res, dev, action, file, value, &s);
	if (r < 0 || op->o->dry_run)
		return r;
	r = root_write(file, value);
	log_debug("%s: %s: %s <- %s: %s", dev, action, file, value, r < 0 ? strerror(-r) : "ok");
	if (r < 0)
		return r;
	s->done = true;
	/* Only a write that took makes something to undo (a refused first write leaves nothing). */
	for (size_t i = 0; i < op->n_snaps; i++)
		if (streq(op->snaps[i].name, dev))
			op->snaps[i].touched = true;
	return r;
}

int bind_unbind_current(struct op *op, const struct snapshot *s)
{
	char p[PATH_MAX];
	int r;

	if (!s->driver)
		return 0;
	snprintf(p, sizeof(p), "/sys/bus/pci/drivers/%s/unbind", s->driver);
	if ((r = bind_run_step(op, s->name, "unbind", p, s->name)) < 0)
		return bind_fail(op->res, VFIO_BIND_FAILED, "unbinding from %s failed: %s", s->driver,
				 strerror(-r));
	return 0;
}

bool bind_driver_name_ok(const char *driver)
{
	size_t n = driver ? strlen(driver) : 0;

	if (n == 0 || n >= 64 || streq(driver, ".") || streq(driver, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (driver[i] == '/' || driver[i] <= ' ' || driver[i] >= 0x7f)
			return false;
	return true;
}

/* modprobe (check_only: modprobe -D, which resolves the module without loading it) through a
 * small exec; PTCTL_MODPROBE names another program (tests). The child gets an empty signal mask:
 * whatever the caller holds back, a hung modprobe must die on Ctrl-C. */
static int load_module(const char *driver, bool check_only, int *ret_status)
{
	const char *prog = getenv("PTCTL_MODPROBE");
	char module[128];
	sigset_t none;
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
	sigemptyset(&none);
	pid = fork();
	if (pid < 0)
		return negative_errno();
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (check_only) {
			int null = open("/dev/null", O_WRONLY);
			if (null >= 0)
				dup2(null, STDOUT_FILENO);
			execlp(prog, prog, "-D", module, (char *)NULL);
		} else
			execlp(prog, prog, module, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return negative_errno();
	*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
	return 0;
}

int bind_ensure_driver(struct op *op, const char *driver)
{
	int status = 0, r;

	if (!bind_driver_name_ok(driver))
		return bind_fail(op->res, VFIO_BIND_BAD_INPUT,
				 "'%s' is not a driver name (a name as in /sys/bus/pci/drivers, not a path)",
				 driver);
	if (bind_driver_exists(driver))
		return 0;
	r = load_module(driver, op->o->dry_run, &status);
	if (r == -ENOEXEC)
		return bind_fail(
			op->res, VFIO_BIND_BAD_INPUT,
			"unknown driver '%s': not registered (under PTCTL_ROOT modprobe runs only as "
			"PTCTL_MODPROBE)",
			driver);
	if (r < 0)
		return bind_fail(op->res, VFIO_BIND_BAD_INPUT,
				 "unknown driver '%s': not registered, and modprobe could not run (%s)",
				 driver, strerror(-r));
	if (status != 0)
		return bind_fail(op->res, VFIO_BIND_BAD_INPUT,
				 "unknown driver '%s': not registered, and modprobe %s (exit status %d)",
				 driver, op->o->dry_run ? "does not know its module" : "failed", status);
	if (!op->o->dry_run && !bind_driver_exists(driver))
		return bind_fail(
			op->res, VFIO_BIND_BAD_INPUT,
			"unknown driver '%s': modprobe loaded a module, but no PCI driver of that name "
			"registered (see /sys/bus/pci/drivers)",
			driver);
	return bind_add_step(op->res, "-", "modprobe", NULL, driver, NULL);
}

int bind_snapshot_take(struct op *op, const char *dev, struct snapshot **ret)
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
	if ((r = pci_read_link_opt(s->name, "driver", &s->driver)) < 0)
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

void bind_snapshots_free(struct op *op)
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
	if ((r = pci_read_link_opt(s->name, "driver", &now)) < 0)
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
	return bind_wait_driver(s->name, s->driver, op->timeout_ms, &left);
}

/* Undo everything, last device first. Returns 0 when every device is back where it started. */
static int bind_rollback(struct op *op, char **ret_stranded)
{
	int result = 0;

	for (size_t i = op->n_snaps; i-- > 0;) {
		struct snapshot *s = &op->snaps[i];
		int r = s->touched ? restore(op, s) : 0;
		if (r < 0) {
			log_debug("%s: rollback failed: %s", s->name, strerror(-r));
			if (result == 0 &&
			    asprintf(ret_stranded, "%s could not be returned to %s (%s)", s->name,
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

/* Decisions rest on these: a device whose sysfs does not say them cannot be moved safely. */
int bind_refuse_unreadable(struct op *op, const struct vfio_pci_dev *d)
{
	static const char *const needed[] = { "vendor_id", "device_id",	     "class",	      "driver",
					      "driver_override", "iommu_group", "sriov_total_vfs", "sriov_num_vfs",
					      "physfn",	   "netdevs" };

	for (size_t i = 0; i < ARRAY_SIZE(needed); i++) {
		const struct vfio_pci_problem *p = vfio_pci_dev_problem(d, needed[i]);
		if (p) {
			snprintf(op->res->object, sizeof(op->res->object), "%s", d->name);
			return bind_fail(op->res, VFIO_BIND_FAILED, "cannot read %s: %s; nothing changed", p->file,
					 p->reason);
		}
	}
	return 0;
}

int bind_check_device(struct op *op, const struct pci_addr *addr, struct vfio_pci_dev **ret)
{
	int r = vfio_pci_dev_read(addr, ret);

	pci_addr_format(addr, op->res->object);
	if (r == -ENODEV)
		return bind_fail(op->res, VFIO_BIND_BAD_INPUT, "no such PCI device (see ptctl list)");
	if (r < 0)
		return bind_fail(op->res, VFIO_BIND_FAILED, "cannot read the device: %s", strerror(-r));
	if ((r = bind_refuse_unreadable(op, *ret)) < 0) {
		vfio_pci_dev_free(*ret);
		*ret = NULL;
		return r;
	}
	return 0;
}

int bind_take_lock(struct op *op, int *ret_fd)
{
	int fd;

	if (op->o->locked || op->o->dry_run) {
		*ret_fd = -1;
		return 0;
	}
	fd = state_lock(op->o->lock_timeout_ms > 0 ? op->o->lock_timeout_ms : LOCK_TIMEOUT_MS);
	if (fd == -ETIMEDOUT)
		return bind_fail(op->res, VFIO_BIND_FAILED,
				 "another ptctl is changing devices (" STATE_DIR
				 "/lock is held); try again when it is done");
	if (fd < 0)
		return bind_fail(op->res, VFIO_BIND_FAILED, "cannot take " STATE_DIR "/lock: %s",
				 strerror(-fd));
	*ret_fd = fd;
	return 0;
}

/* Failure after changes: roll back, and say whether that worked. */
int bind_finish_failed(struct op *op, int r)
{
	_cleanup_free_ char *stranded = NULL;
	char *reason;

	if (op->o->dry_run || bind_rollback(op, &stranded) >= 0) {
		bool changed = false;
		for (size_t i = 0; i < op->n_snaps; i++)
			changed |= op->snaps[i].touched;
		if (changed && !op->o->dry_run &&
		    asprintf(&reason, "%s; rolled back, nothing changed",
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

void bind_hold_signals(struct op *op)
{
	sigset_t set;

	if (op->o->dry_run)
		return;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	op->signals_held = sigprocmask(SIG_BLOCK, &set, &op->saved_mask) == 0;
}

void bind_allow_signals(struct op *op)
{
	if (op->signals_held)
		sigprocmask(SIG_SETMASK, &op->saved_mask, NULL);
	op->signals_held = false;
}
