/* bind-release.c: handing a device back: to the driver recorded when ptctl bound it (the kernel's
 * match first, the driver's bind file when the kernel picks another), or without a record to the
 * kernel's default match; on failure back onto vfio-pci, never left unbound. */
#include <limits.h>

#include "bind-internal.h"
#include "util/assigned.h"
#include "util/log.h"
#include "util/root.h"
#include "util/state.h"

/* Where the device came from, as /run/ptctl/devices/<addr> remembers it. */
struct origin {
	bool recorded;
	char *driver;	/* NULL: it was unbound (or no record) */
	char *override; /* NULL: none */
};

static void origin_clear(struct origin *o)
{
	free(o->driver);
	free(o->override);
}

static char *empty_to_null(char *s)
{
	if (s && !*s) {
		free(s);
		return NULL;
	}
	return s;
}

static int read_origin(struct op *op, const struct vfio_pci_dev *d, struct origin *ret)
{
	_cleanup_free_ char *rec = NULL;
	int r = state_read(RECORD_KIND, d->name, &rec);

	if (r == -ENOENT) {
		/* Not ours; still fine to hand a device on a VFIO driver back to the kernel. */
		if (!vfio_pci_is_vfio_driver(d->driver) && !d->driver_override)
			return bind_fail(op->res, VFIO_BIND_REFUSED,
					 "not bound by ptctl (driver %s); nothing to release",
					 d->driver ? d->driver : "none");
		return 0;
	}
	if (r < 0)
		return bind_fail(op->res, VFIO_BIND_FAILED,
				 "cannot read " STATE_DIR "/" RECORD_KIND "/%s: %s", d->name, strerror(-r));
	ret->recorded = true;
	if (state_get_value(rec, "original_driver", &ret->driver) < 0 ||
	    state_get_value(rec, "original_override", &ret->override) < 0)
		return bind_fail(op->res, VFIO_BIND_FAILED,
				 "the record " STATE_DIR "/" RECORD_KIND "/%s is damaged", d->name);
	ret->driver = empty_to_null(ret->driver);
	ret->override = empty_to_null(ret->override);
	return 0;
}

/* driver_override restored, off the VFIO driver, and (unless it was unbound) probed again. */
static int detach(struct op *op, struct snapshot *s, const struct origin *o)
{
	char p[PATH_MAX];
	int r;

	if ((r = pci_sysfs_path(p, sizeof(p), s->name, "driver_override")) < 0 ||
	    (r = bind_run_step(op, s->name, "override", p, o->override ? o->override : "\n")) < 0)
		return bind_fail(op->res, VFIO_BIND_FAILED, "restoring driver_override failed: %s",
				 strerror(-r));
	if ((r = bind_unbind_current(op, s)) < 0)
		return r;
	if (o->recorded && !o->driver)
		return 0; /* it was unbound: leave it so */
	if ((r = bind_run_step(op, s->name, "probe", "/sys/bus/pci/drivers_probe", s->name)) < 0)
		return bind_fail(op->res, VFIO_BIND_FAILED, "drivers_probe failed: %s", strerror(-r));
	return 0;
}

/* The kernel's match may differ from the original (a manual bind, new_id): use the bind file. */
static int bind_original(struct op *op, struct snapshot *s, const struct origin *o)
{
	_cleanup_free_ char *now = NULL;
	char p[PATH_MAX];
	int r;

	if (!o->driver || op->o->dry_run || bind_wait_driver(s->name, o->driver, op->timeout_ms, &now) >= 0)
		return 0;
	if (now) {
		snprintf(p, sizeof(p), "/sys/bus/pci/drivers/%s/unbind", now);
		if ((r = bind_run_step(op, s->name, "unbind", p, s->name)) < 0)
			return bind_fail(op->res, VFIO_BIND_FAILED,
					 "the kernel matched %s, and unbinding it failed: %s", now,
					 strerror(-r));
	}
	snprintf(p, sizeof(p), "/sys/bus/pci/drivers/%s/bind", o->driver);
	if ((r = bind_run_step(op, s->name, "bind", p, s->name)) < 0)
		return bind_fail(op->res, VFIO_BIND_FAILED, "binding to %s failed: %s", o->driver,
				 strerror(-r));
	return 0;
}

/* Reads back where the device ended up; *ret_now is that driver (NULL: none). */
static int verify_back(struct op *op, struct snapshot *s, const struct origin *o, char **ret_now)
{
	_cleanup_free_ char *now = NULL;
	int r;

	if (o->recorded) {
		r = bind_wait_driver(s->name, o->driver, op->timeout_ms, &now);
		if (r < 0)
			return bind_fail(op->res, VFIO_BIND_FAILED, "%s did not take it back (now %s)",
					 o->driver ? o->driver : "leaving it unbound",
					 now ? now : "no driver");
		*ret_now = o->driver ? strdup(o->driver) : NULL;
		return o->driver && !*ret_now ? -ENOMEM : 0;
	}
	/* No record: whatever the kernel picks, maybe nothing; give an asynchronous probe a moment. */
	for (int waited = 0;; waited += 10) {
		if ((r = pci_read_link_opt(s->name, "driver", &now)) < 0)
			return bind_fail(op->res, VFIO_BIND_FAILED, "cannot read its driver: %s",
					 strerror(-r));
		if (now || waited >= 500 || waited >= op->timeout_ms)
			break;
		bind_sleep_ms(10);
	}
	*ret_now = TAKE_PTR(now);
	return 0;
}

static int forget(struct op *op, struct snapshot *s)
{
	char p[PATH_MAX];
	int r;

	if ((r = state_path(p, sizeof(p), RECORD_KIND, s->name)) < 0 ||
	    (r = bind_add_step(op->res, s->name, "forget", p, NULL, NULL)) < 0 || op->o->dry_run)
		return r;
	/* The device is where it belongs; a record left behind would only be stale. */
	r = state_remove(RECORD_KIND, s->name);
	if (r < 0)
		log_debug("%s: removing the record failed: %s", s->name, strerror(-r));
	else
		op->res->steps[op->res->n_steps - 1].done = true;
	return 0;
}

static int release_locked(struct op *op, const struct vfio_pci_dev *d, struct origin *o)
{
	_cleanup_free_ char *now = NULL;
	struct snapshot *s;
	int r;

	if ((r = bind_refuse_assigned(op, d->name)) < 0 || (r = read_origin(op, d, o)) < 0)
		return r;
	if (o->driver && (r = bind_ensure_driver(op, o->driver)) < 0) {
		op->res->failure = VFIO_BIND_FAILED; /* the record names it: not the caller's input */
		return r;
	}
	if ((r = bind_snapshot_take(op, d->name, &s)) < 0)
		return bind_fail(op->res, VFIO_BIND_FAILED, "cannot read its state: %s", strerror(-r));
	s->touched = true;
	if ((r = detach(op, s, o)) < 0 || (r = bind_original(op, s, o)) < 0)
		return bind_finish_failed(op, r);
	r = bind_add_step(op->res, s->name, "verify", NULL,
			  o->driver	? o->driver
			  : o->recorded ? "(no driver)"
					: "(kernel default)",
			  NULL);
	if (r < 0)
		return r;
	if (!op->o->dry_run) {
		if ((r = verify_back(op, s, o, &now)) < 0)
			return r == -ENOMEM ? r : bind_finish_failed(op, r);
		op->res->steps[op->res->n_steps - 1].done = true;
		if ((r = bind_add_change(op->res, s->name, s->driver, now)) < 0)
			return r;
	}
	return o->recorded ? forget(op, s) : 0;
}

static int release_one(struct op *op, const struct pci_addr *addr)
{
	struct origin origin = { 0 };
	struct vfio_pci_dev *d = NULL;
	int r = bind_check_device(op, addr, &d);

	if (r < 0)
		return r;
	r = release_locked(op, d, &origin);
	origin_clear(&origin);
	/* A VM that died holding it (SIGKILL) left its record: the device is back, so is the record gone. */
	if (r >= 0 && !op->o->dry_run)
		(void)assigned_remove(d->name);
	/* Each device is its own transaction: a later failure must not undo an earlier release. */
	bind_snapshots_free(op);
	vfio_pci_dev_free(d);
	return r;
}

/* With .group: the other members of the group that ptctl bound (they have a record). */
static int release_group_rest(struct op *op, const struct pci_addr *addr)
{
	struct vfio_group_info *g = NULL;
	struct vfio_pci_dev *d = NULL;
	int r = vfio_pci_dev_read(addr, &d);

	if (r < 0)
		return r;
	r = vfio_group_read(d->iommu_group, &g);
	vfio_pci_dev_free(d);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return bind_fail(op->res, VFIO_BIND_FAILED, "cannot read its IOMMU group: %s", strerror(-r));
	for (size_t i = 0; i < g->n_members && r >= 0; i++) {
		char *rec = NULL;
		if (pci_addr_cmp(&g->members[i].addr, addr) == 0 ||
		    state_read(RECORD_KIND, g->members[i].name, &rec) < 0)
			continue;
		free(rec);
		r = release_one(op, &g->members[i].addr);
	}
	vfio_group_info_free(g);
	return r;
}

int vfio_release(const struct pci_addr *addr, const struct vfio_bind_opts *o, struct vfio_bind_result *res)
{
	struct op op = { .o = o,
			 .res = res,
			 .timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS };
	struct vfio_pci_dev *d = NULL;
	int lock, r;

	/* Bad input is reported before waiting for the lock. */
	if ((r = bind_check_device(&op, addr, &d)) < 0)
		return r;
	vfio_pci_dev_free(d);
	lock = bind_take_lock(&op);
	if (lock < -1)
		return lock;
	bind_hold_signals(&op);
	r = release_one(&op, addr);
	if (r >= 0 && o->group)
		r = release_group_rest(&op, addr);
	if (lock >= 0)
		close(lock);
	bind_allow_signals(&op);
	return r;
}
