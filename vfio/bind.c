/* bind.c: moving devices to a driver (vfio-pci by default) without stranding them: the original
 * driver is recorded under /run/ptctl/devices/<addr> before anything changes, checks come before
 * the first change, every bind is verified by reading the driver link back (drivers_probe reports
 * success when nothing binds), and a failure part-way returns every touched device (bind-ops.c). */
#include <limits.h>

#include "bind-internal.h"
#include "util/log.h"
#include "util/root.h"
#include "util/state.h"

/* A record whose original is exactly the state the device is in now describes no change (a ptctl
 * killed between writing it and the first write left it): this operation adopts it. */
static bool record_is_stale(const char *rec, const struct snapshot *s)
{
	_cleanup_free_ char *drv = NULL, *ovr = NULL;

	if (state_get_value(rec, "original_driver", &drv) < 0 ||
	    state_get_value(rec, "original_override", &ovr) < 0)
		return false;
	return streq(drv, s->driver ? s->driver : "") && streq(ovr, s->override ? s->override : "");
}

static int write_record(struct op *op, struct snapshot *s, const char *to)
{
	_cleanup_free_ char *old = NULL, *content = NULL;
	char path[PATH_MAX];
	int r = state_read(RECORD_KIND, s->name, &old);

	/* A record from an earlier bind still knows the true original: keep it. */
	if (r >= 0 && !record_is_stale(old, s))
		return 0;
	if (r < 0 && r != -ENOENT)
		return r;
	if (asprintf(&content, "original_driver=%s\noriginal_override=%s\ndriver=%s\n",
		     s->driver ? s->driver : "", s->override ? s->override : "", to) < 0)
		return -ENOMEM;
	if ((r = state_path(path, sizeof(path), RECORD_KIND, s->name)) < 0 ||
	    (r = bind_add_step(op->res, s->name, "record", path, s->driver ? s->driver : "(no driver)",
			       NULL)) < 0)
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

static const char *bind_step_error(int r)
{
	return r == -ETIMEDOUT ? "the driver did not take it" : strerror(-r);
}

/* driver_override -> unbind -> drivers_probe -> verify, for one device (its record is written). */
static int move_one(struct op *op, struct snapshot *s)
{
	_cleanup_free_ char *now = NULL;
	char p[PATH_MAX];
	int r;

	if ((r = pci_sysfs_path(p, sizeof(p), s->name, "driver_override")) < 0 ||
	    (r = bind_run_step(op, s->name, "override", p, op->target)) < 0)
		return bind_fail(op->res, VFIO_BIND_FAILED, "writing driver_override failed: %s",
				 strerror(-r));
	if ((r = bind_unbind_current(op, s)) < 0)
		return r;
	if ((r = bind_run_step(op, s->name, "probe", "/sys/bus/pci/drivers_probe", s->name)) < 0)
		return bind_fail(op->res, VFIO_BIND_FAILED, "drivers_probe failed: %s", strerror(-r));
	if ((r = bind_add_step(op->res, s->name, "verify", NULL, op->target, NULL)) < 0 || op->o->dry_run)
		return r;
	r = bind_wait_driver(s->name, op->target, op->timeout_ms, &now);
	if (r < 0)
		return bind_fail(op->res, VFIO_BIND_FAILED,
				 "%s did not bind it (%s; now %s): see the kernel log (dmesg)", op->target,
				 bind_step_error(r), now ? now : "no driver");
	op->res->steps[op->res->n_steps - 1].done = true;
	return bind_add_change(op->res, s->name, s->driver, op->target);
}

static int refuse_in_use(struct op *op, const struct vfio_pci_dev *d)
{
	_cleanup_free_ char *why = NULL;
	int r;

	if (op->o->force)
		return 0;
	r = vfio_pci_in_use(d, &why);
	if (r < 0)
		return bind_fail(op->res, VFIO_BIND_FAILED, "cannot tell whether the host uses it: %s",
				 strerror(-r));
	if (r > 0) {
		snprintf(op->res->object, sizeof(op->res->object), "%s", d->name);
		return bind_fail(op->res, VFIO_BIND_REFUSED, "in use: %s (stop using it first, or --force)",
				 why);
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
	return bind_fail(
		op->res, VFIO_BIND_REFUSED,
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
		return bind_fail(op->res, VFIO_BIND_REFUSED,
				 "no IOMMU group: enable VT-d in the firmware and boot with "
				 "intel_iommu=on (AMD: amd_iommu=on)");
	if ((r = vfio_group_read(d->iommu_group, &g)) < 0)
		return bind_fail(op->res, VFIO_BIND_FAILED, "cannot read IOMMU group %d: %s", d->iommu_group,
				 strerror(-r));
	r = vfio_group_blockers(g, &d->addr, &blockers);
	if (r >= 0 && *blockers && !op->o->group) {
		bool many = strchr(blockers, ',') != NULL;
		r = bind_fail(op->res, VFIO_BIND_REFUSED,
			      "IOMMU group %d is not viable: %s (bind %s too with --group, or "
			      "release %s)",
			      g->group, blockers, many ? "them" : "it", many ? "them" : "it");
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

/* Every member's check, snapshot and record come before the first write: a failure up to there
 * leaves the host as it was (records made are removed), and a failure after it has every
 * starting state at hand for the rollback. */
static int bind_locked(struct op *op, char **targets)
{
	int r;

	for (char **t = targets; *t; t++) {
		struct pci_addr a;
		struct vfio_pci_dev *m = NULL;
		if (pci_addr_parse(*t, &a) < 0 || (r = vfio_pci_dev_read(&a, &m)) < 0)
			return bind_fail(op->res, VFIO_BIND_FAILED, "cannot read %s: %s", *t,
					 strerror(r < 0 ? -r : EINVAL));
		r = bind_refuse_unreadable(op, m);
		if (r >= 0)
			r = bind_refuse_assigned(op, m->name);
		if (r >= 0)
			r = refuse_in_use(op, m);
		if (r >= 0)
			r = refuse_enabled_vfs(op, m);
		vfio_pci_dev_free(m);
		if (r < 0)
			return r;
	}
	for (char **t = targets; *t; t++) {
		struct snapshot *s;
		if ((r = bind_snapshot_take(op, *t, &s)) < 0)
			return bind_fail(op->res, VFIO_BIND_FAILED, "cannot read the state of %s: %s", *t,
					 strerror(-r));
	}
	for (size_t i = 0; i < op->n_snaps; i++) {
		struct snapshot *s = &op->snaps[i];
		if (streq(s->driver, op->target))
			continue;
		if ((r = write_record(op, s, op->target)) < 0) {
			snprintf(op->res->object, sizeof(op->res->object), "%s", s->name);
			r = bind_fail(op->res, VFIO_BIND_FAILED,
				      "cannot record the original driver under " STATE_DIR ": %s", strerror(-r));
			return bind_finish_failed(op, r);
		}
	}
	for (size_t i = 0; i < op->n_snaps; i++) {
		struct snapshot *s = &op->snaps[i];
		if (streq(s->driver, op->target)) {
			if ((r = bind_add_change(op->res, s->name, s->driver, s->driver)) < 0)
				return bind_finish_failed(op, r);
			continue; /* already there */
		}
		snprintf(op->res->object, sizeof(op->res->object), "%s", s->name);
		if ((r = move_one(op, s)) < 0)
			return bind_finish_failed(op, r);
	}
	return 0;
}

int vfio_bind(const struct pci_addr *addr, const struct vfio_bind_opts *o, struct vfio_bind_result *res)
{
	struct op op = { .o = o,
			 .res = res,
			 .target = o->driver ? o->driver : VFIO_PCI_DRIVER,
			 .timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS };
	_cleanup_strv_free_ char **targets = NULL;
	struct vfio_pci_dev *d = NULL;
	int lock = -1, r;

	if (!bind_driver_name_ok(op.target))
		return bind_fail(res, VFIO_BIND_BAD_INPUT,
				 "'%s' is not a driver name (a name as in /sys/bus/pci/drivers, not a path)",
				 op.target);
	if ((r = bind_check_device(&op, addr, &d)) < 0)
		return r;
	if (d->is_bridge) {
		r = bind_fail(res, VFIO_BIND_REFUSED, "a PCI bridge; bridges stay with the host");
		goto out;
	}
	if ((r = bind_take_lock(&op, &lock)) < 0)
		goto out;
	/* Loading a module changes no device: it runs while Ctrl-C still works. */
	if ((r = bind_ensure_driver(&op, op.target)) < 0 || (r = bind_targets(&op, d, &targets)) < 0)
		goto out;
	bind_hold_signals(&op);
	r = bind_locked(&op, targets);
	if (r >= 0)
		snprintf(res->object, sizeof(res->object), "%s", d->name);
out:
	bind_snapshots_free(&op);
	vfio_pci_dev_free(d);
	if (lock >= 0)
		close(lock);
	bind_allow_signals(&op);
	return r;
}
