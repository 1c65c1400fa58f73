/* apply.c: carrying a plan out through sriov/ and vfio/ under the host lock. Each step's undo is
 * known once it has run; a failure undoes the completed steps in reverse, so the host ends as it was. */
#include <limits.h>

#include "internal.h"
#include "util/log.h"
#include "util/state.h"
#include "vfio/vfio.h"

#define LOCK_TIMEOUT_MS 10000

void cfg_apply_result_clear(struct cfg_apply_result *r)
{
	free(r->reason);
	free(r->reason_rollback);
	*r = (struct cfg_apply_result){ .failed_step = -1 };
}

/* What undoing a completed step needs (learnt while doing it). */
struct undo {
	bool needed;
	char addr[PCI_ADDR_STRLEN]; /* BIND/RELEASE: the device moved */
	int ifindex;                /* VF_SET */
	struct sriov_vf_settings before;
};

static const struct sriov_nl_ops *nl_ops(const struct cfg_host_ops *ops)
{
	return ops && ops->nl ? ops->nl : &sriov_nl_kernel;
}

static int fail(char **reason, const char *fmt, ...) _printf_(2, 3);
static int fail(char **reason, const char *fmt, ...)
{
	va_list ap;
	free(*reason);
	va_start(ap, fmt);
	if (vasprintf(reason, fmt, ap) < 0)
		*reason = NULL;
	va_end(ap);
	return 0;
}

/* A VF's address once it exists (the plan may have created it). */
static int vf_address(const char *pf, unsigned vf, char addr[PCI_ADDR_STRLEN], int *ifindex)
{
	_cleanup_sriov_pf_ struct sriov_pf *p = NULL;
	int r = sriov_pf_load(pf, &p);
	if (r < 0)
		return r;
	if (ifindex)
		*ifindex = p->ifindex;
	if (!addr)
		return 0;
	if (vf >= p->n_vfs || !p->vfs[vf].address[0])
		return -ENODEV;
	memcpy(addr, p->vfs[vf].address, PCI_ADDR_STRLEN);
	return 0;
}

static int do_numvfs(const struct cfg_step *s, const struct cfg_host_ops *ops, unsigned count, bool autoprobe,
		     char **reason)
{
	struct sriov_change_opts o = { .autoprobe = autoprobe, .timeout_ms = ops ? ops->vf_timeout_ms : 0 };
	struct sriov_change_error e;
	int r = sriov_pf_set_num_vfs(s->pf, count, &o, &e);

	if (r == -EBUSY)
		fail(reason, "%s: cannot change the VF count: VF %s is in use: %s (release it first)", s->pf, e.vf,
		     e.reason ? e.reason : "?");
	else if (r == -ETIMEDOUT)
		fail(reason, "%s: the PF driver did not deliver the VFs: %s", s->pf, e.reason ? e.reason : "");
	else if (r < 0)
		fail(reason, "%s: setting %u VFs failed: %s", s->pf, count, strerror(-r));
	if (r < 0 && e.rollback < 0)
		fail(reason, "%s: setting %u VFs failed (%s) and restoring the old count failed too (%s): check "
			     "sriov_numvfs by hand", s->pf, count, strerror(-r), strerror(-e.rollback));
	sriov_change_error_done(&e);
	return r < 0 ? r : 0;
}

static int do_vf_set(const struct cfg_step *s, const struct cfg_host_ops *ops, struct undo *u, char **reason)
{
	struct sriov_set_error e = { 0 };
	int r = vf_address(s->pf, s->vf, NULL, &u->ifindex);

	if (r < 0)
		return fail(reason, "%s: cannot read the PF: %s", s->pf, strerror(-r)), r;
	if (u->ifindex <= 0)
		return fail(reason, "%s: has no network interface for VF settings", s->pf), -ENODEV;
	/* A VF this run created needs no undo of its settings: undoing the count removes it. */
	if (s->target[0] && sriov_vf_get(nl_ops(ops), u->ifindex, s->vf, &u->before) >= 0)
		u->needed = true;
	r = sriov_vf_set(nl_ops(ops), u->ifindex, s->vf, &s->want, &e);
	if (r < 0) {
		u->needed = false; /* sriov_vf_set put back what it had applied */
		fail(reason, "%s VF %u: %s: %s%s%s", s->pf, s->vf, e.setting ? sriov_setting_name(e.setting) : "settings",
		     r == -EIO ? "the kernel accepted it but reports another value" : sriov_set_strerror(r),
		     e.kernel_msg[0] ? ": " : "", e.kernel_msg);
	}
	return r;
}

static int do_bind(const struct cfg_step *s, const struct cfg_host_ops *ops, struct undo *u, char **reason)
{
	struct vfio_bind_opts o = { .driver = s->driver, .group = s->group, .locked = true,
				    .timeout_ms = ops ? ops->bind_timeout_ms : 0 };
	struct vfio_bind_result res = { 0 };
	struct pci_addr a;
	int r = 0;

	if (s->target[0])
		memcpy(u->addr, s->target, sizeof(u->addr));
	else if ((r = vf_address(s->pf, s->vf, u->addr, NULL)) < 0)
		return fail(reason, "%s VF %u: not there after the VF count change: %s", s->pf, s->vf, strerror(-r)), r;
	if (pci_addr_parse(u->addr, &a) < 0)
		return fail(reason, "%s: not a PCI address", u->addr), -EINVAL;
	if (s->action == CFG_STEP_BIND)
		r = vfio_bind(&a, &o, &res);
	else
		r = vfio_release(&a, &o, &res);
	if (r < 0)
		fail(reason, "%s: %s", res.object[0] ? res.object : u->addr, res.reason ? res.reason : strerror(-r));
	u->needed = r >= 0 && res.n_changes > 0;
	vfio_bind_result_clear(&res);
	return r;
}

static int run_step(const struct cfg_step *s, const struct cfg_host_ops *ops, struct undo *u, char **reason)
{
	int r;

	switch (s->action) {
	case CFG_STEP_NUMVFS:
	case CFG_STEP_AUTOPROBE:
		r = do_numvfs(s, ops, s->to_vfs, s->to_autoprobe, reason);
		u->needed = r >= 0;
		return r;
	case CFG_STEP_VF_SET:
		return do_vf_set(s, ops, u, reason);
	default:
		return do_bind(s, ops, u, reason);
	}
}

static int undo_step(const struct cfg_step *s, const struct cfg_host_ops *ops, const struct undo *u, char **reason)
{
	struct vfio_bind_opts o = { .locked = true, .group = s->group, .timeout_ms = ops ? ops->bind_timeout_ms : 0 };
	struct vfio_bind_result res = { 0 };
	struct sriov_set_error e = { 0 };
	struct sriov_vf_settings back;
	struct pci_addr a;
	int r;

	if (!u->needed)
		return 0;
	switch (s->action) {
	case CFG_STEP_NUMVFS:
	case CFG_STEP_AUTOPROBE:
		r = do_numvfs(s, ops, s->from_vfs, s->from_autoprobe, reason);
		if (r >= 0 && (r = sriov_pf_set_autoprobe(s->pf, s->from_autoprobe)) < 0)
			fail(reason, "%s: restoring drivers autoprobe failed: %s", s->pf, strerror(-r));
		return r < 0 ? r : 0;
	case CFG_STEP_VF_SET:
		back = u->before;
		back.mask &= s->want.mask;
		if (!back.mask)
			return 0;
		r = sriov_vf_set(nl_ops(ops), u->ifindex, s->vf, &back, &e);
		if (r < 0)
			fail(reason, "%s VF %u: putting the settings back failed: %s", s->pf, s->vf, strerror(-r));
		return r;
	default:
		if (pci_addr_parse(u->addr, &a) < 0)
			return -EINVAL;
		if (s->action == CFG_STEP_BIND) {
			r = vfio_release(&a, &o, &res);
		} else {
			o.driver = s->from_driver;
			r = vfio_bind(&a, &o, &res);
		}
		if (r < 0)
			fail(reason, "%s: moving it back failed: %s", u->addr, res.reason ? res.reason : strerror(-r));
		vfio_bind_result_clear(&res);
		return r;
	}
}

/* The "failed" record: one id=reason line per object the last apply failed on. Objects of this plan
 * lose their line; the failing one gets a new one. */
static void record_outcome(const struct cfg_plan *p, const struct cfg_object *failed, const char *reason)
{
	_cleanup_free_ char *old = NULL, *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return;
	if (state_read("cfg", "failed", &old) >= 0)
		for (char *l = old, *nl; l && *l; l = nl) {
			bool mine = false;
			nl = strchr(l, '\n');
			if (nl)
				*nl++ = '\0';
			for (size_t i = 0; i < p->n_states && !mine; i++) {
				size_t n = strlen(p->states[i].obj->id);
				mine = !strncmp(l, p->states[i].obj->id, n) && l[n] == '=';
			}
			if (!mine && *l)
				fprintf(f, "%s\n", l);
		}
	if (failed) {
		fprintf(f, "%s=", failed->id);
		for (const char *c = reason ? reason : "failed"; *c; c++)
			fputc(*c == '\n' ? ' ' : *c, f);
		fputc('\n', f);
	}
	fclose(f);
	if (out && *out)
		(void)state_write("cfg", "failed", out);
	else
		(void)state_remove("cfg", "failed");
}

int cfg_apply(const struct cfg_plan *p, const struct cfg_host_ops *ops,
	      void (*progress)(const struct cfg_step *s, void *userdata), void *userdata, struct cfg_apply_result *res)
{
	_cleanup_close_ int lock = -1;
	_cleanup_free_ struct undo *undo = NULL;
	int r = 0;

	*res = (struct cfg_apply_result){ .failed_step = -1 };
	if (!p->n_steps) {
		record_outcome(p, NULL, NULL);
		return 0;
	}
	undo = calloc(p->n_steps, sizeof(*undo));
	if (!undo)
		return -ENOMEM;
	lock = state_lock(LOCK_TIMEOUT_MS);
	if (lock < 0) {
		if (lock == -ETIMEDOUT)
			fail(&res->reason, "another ptctl is changing the host (" STATE_DIR "/lock is held); try again");
		else
			fail(&res->reason, "cannot take " STATE_DIR "/lock: %s", strerror(-lock));
		return lock;
	}
	for (size_t i = 0; i < p->n_steps; i++) {
		if (progress)
			progress(&p->steps[i], userdata);
		log_debug("cfg: step %zu: %s", i, p->steps[i].text);
		r = run_step(&p->steps[i], ops, &undo[i], &res->reason);
		if (r < 0) {
			res->failed_step = (int)i;
			res->error = r;
			break;
		}
		res->n_done = i + 1;
	}
	if (r < 0) {
		for (size_t i = res->n_done; i-- > 0;) {
			int k = undo_step(&p->steps[i], ops, &undo[i], &res->reason_rollback);
			if (k < 0 && !res->rollback)
				res->rollback = k;
		}
		record_outcome(p, p->steps[res->failed_step].obj, res->reason);
		return r;
	}
	record_outcome(p, NULL, NULL);
	return 0;
}
