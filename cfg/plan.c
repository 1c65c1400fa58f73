/* plan.c: the difference between the configuration and the host as vfio/ and sriov/ read it, as
 * ordered steps (VF counts, then VF settings, then driver bindings) and a state per object. */
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>

#include "internal.h"
#include "util/log.h"
#include "util/root.h"
#include "util/state.h"
#include "vfio/vfio.h"

const char *cfg_state_to_string(enum cfg_state s)
{
	static const char *const names[] = { "converged", "drifted", "absent", "invalid", "failed" };
	return s <= CFG_FAILED ? names[s] : "?";
}

/* One PF as the plan sees it: the host's state and what the configuration makes of its VF count. */
struct pfinfo {
	char addr[PCI_ADDR_STRLEN];
	struct sriov_pf *pf;
	unsigned target;   /* VF count after the plan */
	bool recreate;     /* the count changes: every VF comes back fresh */
};

struct planner {
	const struct cfg *c;
	const struct cfg_host_ops *ops;
	struct cfg_plan *p;
	size_t n_pfs;
	struct pfinfo *pfs;
	/* steps by phase, concatenated at the end */
	size_t n[3];
	struct cfg_step *v[3];
};

static const struct sriov_nl_ops *nl_ops(const struct cfg_host_ops *ops)
{
	return ops && ops->nl ? ops->nl : &sriov_nl_kernel;
}

static void step_done(struct cfg_step *s)
{
	free(s->driver);
	free(s->from_driver);
	free(s->text);
}

void cfg_plan_free(struct cfg_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_steps; i++)
		step_done(&p->steps[i]);
	free(p->steps);
	for (size_t i = 0; i < p->n_states; i++) {
		strv_free(p->states[i].drift);
		strv_free(p->states[i].devices);
		free(p->states[i].why);
	}
	free(p->states);
	free(p);
}

static int add_step(struct planner *pl, int phase, const struct cfg_step *s)
{
	struct cfg_step *v = realloc(pl->v[phase], (pl->n[phase] + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	pl->v[phase] = v;
	v[pl->n[phase]++] = *s;
	return 0;
}

static struct cfg_object_state *add_state(struct planner *pl, const struct cfg_object *o)
{
	struct cfg_object_state *v = realloc(pl->p->states, (pl->p->n_states + 1) * sizeof(*v));
	if (!v)
		return NULL;
	pl->p->states = v;
	v[pl->p->n_states] = (struct cfg_object_state){ .obj = o, .state = CFG_CONVERGED };
	if (!(v[pl->p->n_states].drift = calloc(1, sizeof(char *))) ||
	    !(v[pl->p->n_states].devices = calloc(1, sizeof(char *))))
		return NULL;
	return &v[pl->p->n_states++];
}

static int drift(struct cfg_object_state *st, const char *fmt, ...) _printf_(2, 3);
static int drift(struct cfg_object_state *st, const char *fmt, ...)
{
	va_list ap;
	int r;
	va_start(ap, fmt);
	r = strv_vpushf(&st->drift, NULL, fmt, ap);
	va_end(ap);
	if (st->state == CFG_CONVERGED)
		st->state = CFG_DRIFTED;
	return r;
}

static int set_why(struct cfg_object_state *st, enum cfg_state s, const char *fmt, ...) _printf_(3, 4);
static int set_why(struct cfg_object_state *st, enum cfg_state s, const char *fmt, ...)
{
	va_list ap;
	int r;
	free(st->why);
	st->why = NULL;
	va_start(ap, fmt);
	r = vasprintf(&st->why, fmt, ap);
	va_end(ap);
	st->state = s;
	return r < 0 ? -ENOMEM : 0;
}

static int add_device(struct cfg_object_state *st, const char *addr)
{
	return strv_pushf(&st->devices, NULL, "%s", addr);
}

/* The PF behind a reference, loaded once per plan. *ret NULL with st set to ABSENT/INVALID when it
 * cannot be used. */
static int get_pf(struct planner *pl, const struct cfg_pf_ref *ref, struct cfg_object_state *st, struct pfinfo **ret)
{
	char addr[PCI_ADDR_STRLEN];
	struct sriov_pf *pf = NULL;
	struct pfinfo *v;
	int r;

	*ret = NULL;
	r = cfg_pf_resolve(ref, addr);
	if (r == -ENODEV)
		return set_why(st, CFG_ABSENT, "no network interface %s (yet): applied when it appears", ref->text);
	if (r < 0)
		return set_why(st, CFG_INVALID, "%s: cannot resolve it: %s", ref->text, strerror(-r));
	for (size_t i = 0; i < pl->n_pfs; i++)
		if (streq(pl->pfs[i].addr, addr))
			return *ret = &pl->pfs[i], 0;
	r = sriov_pf_load(addr, &pf);
	if (r == -ENODEV)
		return set_why(st, CFG_ABSENT, "%s: no such PCI device (yet): applied when it appears", addr);
	if (r == -EOPNOTSUPP)
		return set_why(st, CFG_INVALID, "%s: not an SR-IOV physical function", addr);
	if (r < 0)
		return set_why(st, CFG_INVALID, "%s: cannot read its SR-IOV state: %s", addr, strerror(-r));
	v = realloc(pl->pfs, (pl->n_pfs + 1) * sizeof(*v));
	if (!v) {
		sriov_pf_free(pf);
		return -ENOMEM;
	}
	pl->pfs = v;
	v[pl->n_pfs] = (struct pfinfo){ .pf = pf, .target = pf->num_vfs };
	memcpy(v[pl->n_pfs].addr, addr, sizeof(addr));
	*ret = &v[pl->n_pfs++];
	return 0;
}

/* ---- [SR-IOV] ---- */

static int plan_sriov(struct planner *pl, const struct cfg_object *o)
{
	struct cfg_object_state *st = add_state(pl, o);
	struct pfinfo *pi;
	struct cfg_step s;
	bool ap;
	int r;

	if (!st)
		return -ENOMEM;
	if ((r = get_pf(pl, &o->sriov.pf, st, &pi)) < 0 || !pi)
		return r;
	if ((r = add_device(st, pi->addr)) < 0)
		return r;
	if (o->sriov.num_vfs >= 0 && (unsigned)o->sriov.num_vfs > pi->pf->total_vfs)
		return set_why(st, CFG_INVALID, "VirtualFunctions=%d: %s supports at most %u", o->sriov.num_vfs,
			       pi->addr, pi->pf->total_vfs);
	if (!pi->pf->driver)
		return set_why(st, CFG_ABSENT, "%s has no driver (yet): applied when one binds", pi->addr);
	ap = o->sriov.autoprobe >= 0 ? o->sriov.autoprobe : false;
	if (o->sriov.num_vfs >= 0 && (unsigned)o->sriov.num_vfs != pi->pf->num_vfs) {
		pi->target = (unsigned)o->sriov.num_vfs;
		pi->recreate = true;
		s = (struct cfg_step){ .action = CFG_STEP_NUMVFS, .obj = o, .from_vfs = pi->pf->num_vfs,
				       .to_vfs = pi->target, .from_autoprobe = pi->pf->autoprobe, .to_autoprobe = ap };
		memcpy(s.pf, pi->addr, sizeof(s.pf));
		memcpy(s.target, pi->addr, sizeof(s.target));
		if (asprintf(&s.text, "%s: VFs %u -> %u (drivers autoprobe %s)", pi->addr, s.from_vfs, s.to_vfs,
			     ap ? "on" : "off") < 0)
			return -ENOMEM;
		if ((r = drift(st, "VFs %u, configured %u", s.from_vfs, s.to_vfs)) < 0)
			return r;
		return add_step(pl, 0, &s);
	}
	/* Same count: only a configured autoprobe that differs (it matters while VFs exist). */
	if (o->sriov.autoprobe >= 0 && pi->pf->num_vfs && pi->pf->autoprobe != ap) {
		s = (struct cfg_step){ .action = CFG_STEP_AUTOPROBE, .obj = o, .from_vfs = pi->pf->num_vfs,
				       .to_vfs = pi->pf->num_vfs, .from_autoprobe = pi->pf->autoprobe, .to_autoprobe = ap };
		memcpy(s.pf, pi->addr, sizeof(s.pf));
		memcpy(s.target, pi->addr, sizeof(s.target));
		if (asprintf(&s.text, "%s: drivers autoprobe %s -> %s", pi->addr, ap ? "off" : "on", ap ? "on" : "off") < 0)
			return -ENOMEM;
		if ((r = drift(st, "drivers autoprobe %s, configured %s", ap ? "off" : "on", ap ? "on" : "off")) < 0)
			return r;
		return add_step(pl, 0, &s);
	}
	return 0;
}

/* ---- [VirtualFunction] ---- */

/* "mac 02:00:00:00:00:01", "vlan 100 qos 3", ... for one SRIOV_SET_* bit. */
static void describe(const struct sriov_vf_settings *s, unsigned bit, char *buf, size_t len)
{
	char mac[18];
	if (!(s->mask & bit)) {
		snprintf(buf, len, "%s (not reported)", sriov_setting_name(bit));
		return;
	}
	switch (bit) {
	case SRIOV_SET_MAC:
		sriov_mac_format(s->mac, mac);
		snprintf(buf, len, "mac %s", mac);
		break;
	case SRIOV_SET_VLAN:
		snprintf(buf, len, "vlan %u qos %u", s->vlan, s->qos);
		break;
	case SRIOV_SET_SPOOFCHK:
		snprintf(buf, len, "spoofchk %s", s->spoofchk ? "on" : "off");
		break;
	case SRIOV_SET_TRUST:
		snprintf(buf, len, "trust %s", s->trust ? "on" : "off");
		break;
	case SRIOV_SET_STATE:
		snprintf(buf, len, "link state %s", sriov_link_state_to_string(s->state));
		break;
	default:
		snprintf(buf, len, "rate %u:%u", s->min_rate, s->max_rate);
	}
}

static bool same(const struct sriov_vf_settings *a, const struct sriov_vf_settings *b, unsigned bit)
{
	if (!(b->mask & bit))
		return false;
	switch (bit) {
	case SRIOV_SET_MAC: return !memcmp(a->mac, b->mac, 6);
	case SRIOV_SET_VLAN: return a->vlan == b->vlan && a->qos == b->qos;
	case SRIOV_SET_SPOOFCHK: return a->spoofchk == b->spoofchk;
	case SRIOV_SET_TRUST: return a->trust == b->trust;
	case SRIOV_SET_STATE: return a->state == b->state;
	default: return a->min_rate == b->min_rate && a->max_rate == b->max_rate;
	}
}

static int settings_text(const struct sriov_vf_settings *s, char *buf, size_t len)
{
	size_t used = 0;
	char one[64];
	buf[0] = '\0';
	for (unsigned bit = 1; bit & SRIOV_SET_ALL; bit <<= 1)
		if (s->mask & bit) {
			describe(s, bit, one, sizeof(one));
			used += (size_t)snprintf(buf + used, len > used ? len - used : 0, "%s%s", used ? ", " : "", one);
		}
	return 0;
}

static bool is_vfio(const char *driver)
{
	return driver && vfio_pci_is_vfio_driver(driver);
}

/* A driver step for one device (VF or [Device]) when its driver differs from the configured one. */
static int plan_driver(struct planner *pl, const struct cfg_object *o, struct cfg_object_state *st, const char *want,
		       const char *addr, const char *cur, bool group, const char *pf, unsigned vf)
{
	struct cfg_step s = { .obj = o, .group = group, .vf = vf };
	char where[64];
	int r;

	if (addr)
		snprintf(where, sizeof(where), "%s", addr);
	else
		snprintf(where, sizeof(where), "%s VF %u", pf, vf);
	if (addr)
		memcpy(s.target, addr, strlen(addr) + 1);
	if (pf)
		memcpy(s.pf, pf, strlen(pf) + 1);
	if (streq(want, CFG_DRIVER_HOST)) {
		if (!is_vfio(cur))
			return 0;
		s.action = CFG_STEP_RELEASE;
		if (!(s.from_driver = strdup(cur)) || asprintf(&s.text, "%s: release from %s to its host driver", where, cur) < 0)
			return step_done(&s), -ENOMEM;
		if ((r = drift(st, "%s on %s, configured the host driver", where, cur)) < 0)
			return step_done(&s), r;
		return add_step(pl, 2, &s);
	}
	if (streq(cur, want))
		return 0;
	s.action = CFG_STEP_BIND;
	if (!(s.driver = strdup(want)) || (cur && !(s.from_driver = strdup(cur))) ||
	    asprintf(&s.text, "%s: bind %s -> %s%s", where, cur ? cur : addr ? "(no driver)" : "(new VF)", want,
		     group ? " (with its IOMMU group)" : "") < 0)
		return step_done(&s), -ENOMEM;
	if ((r = cur ? drift(st, "%s on %s, configured %s", where, cur, want)
		     : drift(st, "%s has no driver, configured %s", where, want)) < 0)
		return step_done(&s), r;
	return add_step(pl, 2, &s);
}

static int plan_vf(struct planner *pl, const struct cfg_object *o)
{
	struct cfg_object_state *st = add_state(pl, o);
	const struct sriov_vf *hv = NULL;
	struct sriov_vf_settings have = { 0 }, want = o->vf.set;
	struct pfinfo *pi;
	char buf[256], one[64], two[64];
	int r;

	if (!st)
		return -ENOMEM;
	if ((r = get_pf(pl, &o->vf.pf, st, &pi)) < 0 || !pi)
		return r;
	if (o->vf.index >= pi->target)
		return set_why(st, CFG_INVALID, "%s has %u VFs%s: VF %u does not exist (configure [SR-IOV] "
						"VirtualFunctions=)",
			       pi->addr, pi->target, pi->recreate ? " as configured" : "", o->vf.index);
	if (!pi->recreate && o->vf.index < pi->pf->n_vfs)
		hv = &pi->pf->vfs[o->vf.index];
	if (hv && hv->address[0] && (r = add_device(st, hv->address)) < 0)
		return r;
	if (pi->recreate && (r = drift(st, "VF %u is (re)created by the VF count change", o->vf.index)) < 0)
		return r;
	if (want.mask) {
		if (!pi->pf->netdev || pi->pf->ifindex <= 0)
			return set_why(st, CFG_INVALID, "%s has no network interface: MAC, VLAN and the other VF "
							"settings are set through it", pi->addr);
		if (!pl->ops->nl && *root_get())
			return set_why(st, CFG_INVALID, "%s VF %u: its settings live in the running kernel and are not read "
							"under PTCTL_ROOT", pi->addr, o->vf.index);
		if (!pi->recreate) {
			r = sriov_vf_get(nl_ops(pl->ops), pi->pf->ifindex, o->vf.index, &have);
			if (r < 0)
				return set_why(st, CFG_INVALID, "%s VF %u: cannot read its settings over rtnetlink: %s",
					       pi->addr, o->vf.index, strerror(-r));
			want.mask = 0;
			for (unsigned bit = 1; bit & SRIOV_SET_ALL; bit <<= 1)
				if ((o->vf.set.mask & bit) && !same(&o->vf.set, &have, bit)) {
					want.mask |= bit;
					describe(&have, bit, one, sizeof(one));
					describe(&o->vf.set, bit, two, sizeof(two));
					if ((r = drift(st, "VF %u %s, configured %s", o->vf.index, one, two)) < 0)
						return r;
				}
		}
		if (want.mask) {
			struct cfg_step s = { .action = CFG_STEP_VF_SET, .obj = o, .vf = o->vf.index, .want = want,
					      .have = have };
			memcpy(s.pf, pi->addr, sizeof(s.pf));
			if (hv)
				memcpy(s.target, hv->address, sizeof(s.target));
			settings_text(&want, buf, sizeof(buf));
			if (asprintf(&s.text, "%s VF %u (%s): set %s", pi->addr, o->vf.index, pi->pf->netdev, buf) < 0)
				return -ENOMEM;
			if ((r = add_step(pl, 1, &s)) < 0)
				return r;
		}
	}
	if (o->vf.driver)
		return plan_driver(pl, o, st, o->vf.driver, hv ? hv->address : NULL, hv ? hv->driver : NULL, false,
				   pi->addr, o->vf.index);
	return 0;
}

/* ---- [Device] ---- */

static bool dev_matches(const struct cfg_object *o, const struct vfio_pci_dev *d)
{
	if (o->dev.has_addr)
		return !pci_addr_cmp(&o->dev.addr, &d->addr);
	return d->vendor_id == o->dev.vendor && d->device_id == o->dev.device &&
	       (!o->dev.has_subsys ||
		(d->subsystem_vendor_id == o->dev.subsys_vendor && d->subsystem_device_id == o->dev.subsys_device));
}

static int plan_device(struct planner *pl, const struct cfg_object *o)
{
	struct cfg_object_state *st = add_state(pl, o);
	struct vfio_pci_dev **all = NULL;
	size_t found = 0;
	int r;

	if (!st)
		return -ENOMEM;
	r = vfio_pci_list(&all);
	if (r < 0)
		return set_why(st, CFG_INVALID, "cannot list PCI devices: %s", strerror(-r));
	for (struct vfio_pci_dev **d = all; *d && r >= 0; d++) {
		if (!dev_matches(o, *d))
			continue;
		found++;
		r = add_device(st, (*d)->name);
		if (r >= 0 && (*d)->is_bridge)
			r = set_why(st, CFG_INVALID, "%s is a PCI bridge: bridges are never rebound", (*d)->name);
		else if (r >= 0)
			r = plan_driver(pl, o, st, o->dev.driver, (*d)->name, (*d)->driver, o->dev.group, NULL, 0);
	}
	vfio_pci_list_free(all);
	if (r >= 0 && !found)
		r = o->dev.has_addr
			? set_why(st, CFG_ABSENT, "no such PCI device (yet): applied when it appears")
			: set_why(st, CFG_ABSENT, "no PCI device matches %04x:%04x (yet): applied when one appears",
				  o->dev.vendor, o->dev.device);
	return r;
}

/* ---- [VM] ---- */

static bool vm_running(const char *name)
{
	char p[PATH_MAX];
	_cleanup_close_ int fd = -1;

	if (root_path(p, sizeof(p), STATE_DIR "/vm/%s/lock", name) < 0)
		return false;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	return flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

/* Will the device be on vfio-pci once the plan ran: it is, or a step or an object of this plan puts it there. */
static bool will_be_vfio(const struct planner *pl, const char *addr, const char *pf, unsigned vf, const char *cur)
{
	for (int ph = 0; ph < 3; ph++)
		for (size_t i = 0; i < pl->n[ph]; i++) {
			const struct cfg_step *s = &pl->v[ph][i];
			if (s->action == CFG_STEP_BIND && streq(s->driver, VFIO_PCI_DRIVER) &&
			    ((addr && streq(s->target, addr)) || (pf && streq(s->pf, pf) && s->vf == vf && !s->target[0])))
				return true;
			if (s->action == CFG_STEP_RELEASE && addr && streq(s->target, addr))
				return false;
		}
	return is_vfio(cur);
}

static int plan_vm(struct planner *pl, const struct cfg_object *o)
{
	struct cfg_object_state *st = add_state(pl, o);
	int r = 0;

	if (!st)
		return -ENOMEM;
	for (size_t i = 0; i < o->vm.n_assign && r >= 0; i++) {
		const struct cfg_assign *a = &o->vm.assign[i];
		char addr[PCI_ADDR_STRLEN] = "";
		const char *cur = NULL, *pfaddr = NULL;
		_cleanup_free_ char *drv = NULL;
		struct pfinfo *pi = NULL;

		if (a->is_vf) {
			struct cfg_object_state tmp = { 0 };
			r = get_pf(pl, &a->pf, &tmp, &pi);
			if (r >= 0 && !pi) {
				r = set_why(st, tmp.state, "Assign=%s: %s", a->text, tmp.why);
				free(tmp.why);
				break;
			}
			free(tmp.why);
			if (r < 0)
				break;
			if (a->vf >= pi->target) {
				r = set_why(st, CFG_INVALID, "Assign=%s: %s has %u VFs", a->text, pi->addr, pi->target);
				break;
			}
			pfaddr = pi->addr;
			if (!pi->recreate && a->vf < pi->pf->n_vfs) {
				snprintf(addr, sizeof(addr), "%s", pi->pf->vfs[a->vf].address);
				cur = pi->pf->vfs[a->vf].driver;
			}
		} else {
			pci_addr_format(&a->addr, addr);
			r = vfio_device_bound_driver(&a->addr, &drv);
			if (r == -ENOENT || r == -ENODEV) {
				r = set_why(st, CFG_ABSENT, "Assign=%s: no such PCI device (yet)", a->text);
				break;
			}
			if (r < 0)
				break;
			cur = drv;
		}
		if (addr[0] && (r = add_device(st, addr)) < 0)
			break;
		if (!will_be_vfio(pl, addr[0] ? addr : NULL, pfaddr, a->vf, cur)) {
			r = set_why(st, CFG_INVALID, "Assign=%s: %s is on %s and nothing configured gives it Driver=vfio-pci "
						     "(add a [Device] or [VirtualFunction] section that does)",
				    a->text, addr[0] ? addr : a->text, cur ? cur : "no driver");
			break;
		}
	}
	if (r >= 0 && st->state == CFG_CONVERGED && o->vm.autostart && !vm_running(o->vm.name))
		r = drift(st, "not running (Autostart=yes: ptctl-vm@%s.service starts it)", o->vm.name);
	return r;
}

/* ---- the plan ---- */

int cfg_object_matches(const struct cfg_object *o, const char *filter)
{
	struct pci_addr fa, a;
	char addr[PCI_ADDR_STRLEN], buf[PCI_ADDR_STRLEN];
	bool is_addr = pci_addr_parse(filter, &fa) >= 0;
	const struct cfg_pf_ref *pf = o->kind == CFG_SRIOV ? &o->sriov.pf : o->kind == CFG_VF ? &o->vf.pf : NULL;

	if (is_addr)
		pci_addr_format(&fa, buf);
	switch (o->kind) {
	case CFG_VM:
		return streq(o->vm.name, filter);
	case CFG_DEVICE:
		return is_addr && o->dev.has_addr && !pci_addr_cmp(&o->dev.addr, &fa);
	case CFG_SRIOV:
	case CFG_VF:
		if (streq(pf->text, filter))
			return 1;
		if (!is_addr || cfg_pf_resolve(pf, addr) < 0)
			return 0;
		if (streq(addr, buf))
			return 1;
		/* A VF's own address names its [VirtualFunction]. */
		if (o->kind == CFG_VF) {
			_cleanup_free_ char *phys = NULL;
			char p[PATH_MAX], link[32];
			snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/physfn", buf);
			snprintf(link, sizeof(link), "virtfn%u", o->vf.index);
			if (root_readlink_base(p, &phys) >= 0 && pci_addr_parse(phys, &a) >= 0 &&
			    streq(pci_addr_format(&a, p), addr)) {
				_cleanup_free_ char *vf = NULL;
				snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/%s", addr, link);
				return root_readlink_base(p, &vf) >= 0 && streq(vf, buf);
			}
		}
		return 0;
	default:
		return 0;
	}
}

/* A [Device] with Match= covers whatever address matches. */
static int device_match_filter(const struct cfg_object *o, const char *filter)
{
	struct pci_addr a;
	struct vfio_pci_dev *d = NULL;
	int r;
	if (o->kind != CFG_DEVICE || !o->dev.has_match || pci_addr_parse(filter, &a) < 0)
		return 0;
	if (vfio_pci_dev_read(&a, &d) < 0)
		return 0;
	r = dev_matches(o, d);
	vfio_pci_dev_free(d);
	return r;
}

int cfg_plan_new(const struct cfg *c, const char *filter, const struct cfg_host_ops *ops, struct cfg_plan **ret)
{
	static const struct cfg_host_ops none = { 0 };
	struct planner pl = { .c = c, .ops = ops ? ops : &none };
	int r = 0;

	pl.p = calloc(1, sizeof(*pl.p));
	if (!pl.p)
		return -ENOMEM;
	/* Kinds in dependency order: VF counts first so VF and VM objects see the planned count. */
	static const enum cfg_kind order[] = { CFG_SRIOV, CFG_VF, CFG_DEVICE, CFG_VM };
	for (size_t k = 0; k < ARRAY_SIZE(order) && r >= 0; k++)
		for (size_t i = 0; i < c->n_objects && r >= 0; i++) {
			const struct cfg_object *o = &c->objects[i];
			if (o->kind != order[k])
				continue;
			if (filter && !cfg_object_matches(o, filter) && !device_match_filter(o, filter))
				continue;
			switch (o->kind) {
			case CFG_SRIOV: r = plan_sriov(&pl, o); break;
			case CFG_VF: r = plan_vf(&pl, o); break;
			case CFG_DEVICE: r = plan_device(&pl, o); break;
			default: r = plan_vm(&pl, o); break;
			}
		}
	if (r >= 0) {
		size_t total = pl.n[0] + pl.n[1] + pl.n[2], at = 0;
		pl.p->steps = calloc(total ? total : 1, sizeof(*pl.p->steps));
		if (!pl.p->steps)
			r = -ENOMEM;
		for (int ph = 0; ph < 3 && r >= 0; ph++)
			for (size_t i = 0; i < pl.n[ph]; i++)
				pl.p->steps[at++] = pl.v[ph][i];
		if (r >= 0) {
			pl.p->n_steps = total;
			for (int ph = 0; ph < 3; ph++)
				pl.n[ph] = 0;
		}
	}
	for (int ph = 0; ph < 3; ph++) {
		for (size_t i = 0; i < pl.n[ph]; i++)
			step_done(&pl.v[ph][i]);
		free(pl.v[ph]);
	}
	for (size_t i = 0; i < pl.n_pfs; i++)
		sriov_pf_free(pl.pfs[i].pf);
	free(pl.pfs);
	if (r < 0) {
		cfg_plan_free(pl.p);
		return r;
	}
	/* Objects the last apply failed on, and that still differ, show as failed. */
	_cleanup_free_ char *failed = NULL;
	if (state_read("cfg", "failed", &failed) >= 0)
		for (size_t i = 0; i < pl.p->n_states; i++) {
			struct cfg_object_state *st = &pl.p->states[i];
			_cleanup_free_ char *why = NULL;
			if (st->state == CFG_DRIFTED && state_get_value(failed, st->obj->id, &why) >= 0) {
				free(st->why);
				st->why = TAKE_PTR(why);
				st->state = CFG_FAILED;
			}
		}
	for (size_t i = 0; i < pl.p->n_states; i++)
		pl.p->n_invalid += pl.p->states[i].state == CFG_INVALID;
	*ret = pl.p;
	return 0;
}

int cfg_assign_resolve(const struct cfg_assign *a, char addr[PCI_ADDR_STRLEN])
{
	_cleanup_free_ char *vf = NULL;
	char pf[PCI_ADDR_STRLEN], p[PATH_MAX];
	struct pci_addr pa;
	int r;

	if (!a->is_vf) {
		pci_addr_format(&a->addr, addr);
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s", addr);
		return root_exists(p) ? 0 : -ENODEV;
	}
	if ((r = cfg_pf_resolve(&a->pf, pf)) < 0)
		return r;
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/virtfn%u", pf, a->vf);
	r = root_readlink_base(p, &vf);
	if (r == -ENOENT)
		return -ENODEV;
	if (r < 0)
		return r;
	if (pci_addr_parse(vf, &pa) < 0)
		return -ENODEV;
	pci_addr_format(&pa, addr);
	return 0;
}
