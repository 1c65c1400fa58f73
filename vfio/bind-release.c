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

/* The record describes no change any more (a release killed after the device was back, or a bind
 * killed before its first write): only the record goes. */
static bool already_back(const struct snapshot *s, const struct origin *o)
{
	return o->recorded && streq(s->driver ? s->driver : "", o->driver ? o->driver : "") &&
	       streq(s->override ? s->override : "", o->override ? o->override : "");
}

/* One device back to its origin, verified; the record stays until every device is back. */
static int release_move(struct op *op, struct snapshot *s, const struct origin *o)
{
	_cleanup_free_ char *now = NULL;
	int r;

	snprintf(op->res->object, sizeof(op->res->object), "%s", s->name);
	if (already_back(s, o))
		return bind_add_change(op->res, s->name, s->driver, s->driver);
	if ((r = detach(op, s, o)) < 0 || (r = bind_original(op, s, o)) < 0)
		return r;
	r = bind_add_step(op->res, s->name, "verify", NULL,
			  o->driver	? o->driver
			  : o->recorded ? "(no driver)"
					: "(kernel default)",
			  NULL);
	if (r < 0 || op->o->dry_run)
		return r;
	if ((r = verify_back(op, s, o, &now)) < 0)
		return r;
	op->res->steps[op->res->n_steps - 1].done = true;
	return bind_add_change(op->res, s->name, s->driver, now);
}

/* What release moves: the device, and with .group the other members of its group that ptctl bound
 * (they have a record). */
static int release_targets(struct op *op, const struct vfio_pci_dev *d, char ***ret)
{
	_cleanup_strv_free_ char **v = NULL;
	struct vfio_group_info *g = NULL;
	size_t n = 0;
	int r;

	if ((r = strv_pushf(&v, &n, "%s", d->name)) < 0)
		return r;
	if (op->o->group && d->iommu_group >= 0) {
		r = vfio_group_read(d->iommu_group, &g);
		if (r < 0 && r != -ENOENT)
			return bind_fail(op->res, VFIO_BIND_FAILED, "cannot read its IOMMU group %d: %s",
					 d->iommu_group, strerror(-r));
		for (size_t i = 0; g && i < g->n_members && r >= 0; i++) {
			char *rec = NULL;
			if (pci_addr_cmp(&g->members[i].addr, &d->addr) == 0 ||
			    state_read(RECORD_KIND, g->members[i].name, &rec) < 0)
				continue;
			free(rec);
			r = strv_pushf(&v, &n, "%s", g->members[i].name);
		}
		vfio_group_info_free(g);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(v);
	return 0;
}

/* Every origin read and driver loaded first, then the moves; a failure puts every device moved so
 * far back on the driver it was on (all or nothing), and only full success forgets the records. */
static int release_locked(struct op *op, char **targets, struct origin *origins)
{
	size_t n = strv_length(targets);
	int r;

	for (size_t i = 0; i < n; i++) {
		struct vfio_pci_dev *m = NULL;
		struct pci_addr a;
		if (pci_addr_parse(targets[i], &a) < 0 || (r = bind_check_device(op, &a, &m)) < 0)
			return r < 0 ? r : -EINVAL;
		r = bind_refuse_assigned(op, m->name);
		if (r >= 0)
			r = read_origin(op, m, &origins[i]);
		vfio_pci_dev_free(m);
		if (r < 0)
			return r;
		if (origins[i].driver && (r = bind_ensure_driver(op, origins[i].driver)) < 0) {
			op->res->failure = VFIO_BIND_FAILED; /* the record names it: not the caller's input */
			return r;
		}
	}
	bind_hold_signals(op);
	for (size_t i = 0; i < n; i++) {
		struct snapshot *s;
		if ((r = bind_snapshot_take(op, targets[i], &s)) < 0)
			return bind_fail(op->res, VFIO_BIND_FAILED, "cannot read the state of %s: %s",
					 targets[i], strerror(-r));
	}
	for (size_t i = 0; i < n; i++)
		if ((r = release_move(op, &op->snaps[i], &origins[i])) < 0)
			return r == -ENOMEM ? r : bind_finish_failed(op, r);
	for (size_t i = 0; i < n; i++) {
		if (origins[i].recorded && (r = forget(op, &op->snaps[i])) < 0)
			return r;
		/* A VM that died holding it (SIGKILL) left its record: the device is back, so is the record gone. */
		if (!op->o->dry_run)
			(void)assigned_remove(op->snaps[i].name);
	}
	return 0;
}

int vfio_release(const struct pci_addr *addr, const struct vfio_bind_opts *o, struct vfio_bind_result *res)
{
	struct op op = { .o = o,
			 .res = res,
			 .timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS };
	_cleanup_strv_free_ char **targets = NULL;
	struct origin *origins = NULL;
	struct vfio_pci_dev *d = NULL;
	size_t n = 0;
	int lock = -1, r;

	/* Bad input is reported before waiting for the lock. */
	if ((r = bind_check_device(&op, addr, &d)) < 0)
		return r;
	if ((r = bind_take_lock(&op, &lock)) < 0 || (r = release_targets(&op, d, &targets)) < 0)
		goto out;
	n = strv_length(targets);
	if (!(origins = calloc(n, sizeof(*origins)))) {
		r = -ENOMEM;
		goto out;
	}
	r = release_locked(&op, targets, origins);
	if (r >= 0)
		snprintf(res->object, sizeof(res->object), "%s", d->name);
out:
	for (size_t i = 0; origins && i < n; i++)
		origin_clear(&origins[i]);
	free(origins);
	bind_snapshots_free(&op);
	vfio_pci_dev_free(d);
	if (lock >= 0)
		close(lock);
	bind_allow_signals(&op);
	return r;
}
