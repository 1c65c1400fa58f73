/* numvfs.c: changing a PF's VF count: in-use checks, the trip through 0, waiting for the VFs (uevents
 * plus sysfs re-reads) and putting the previous count and autoprobe setting back on failure. */
#include <limits.h>
#include <poll.h>
#include <time.h>
#include <libudev.h>

#include "sriov.h"
#include "util/log.h"
#include "util/root.h"

#define DEV "/sys/bus/pci/devices/"
#define DEFAULT_TIMEOUT_MS 60000
#define REREAD_MS 100

void sriov_change_error_done(struct sriov_change_error *e)
{
	if (!e)
		return;
	free(e->reason);
	e->reason = NULL;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct change {
	const struct sriov_change_opts *o;
	char dir[64]; /* DEV + an address */
	bool changed; /* a write took */
};

static int put(struct change *c, const char *file, unsigned value)
{
	char p[PATH_MAX], v[16];

	if (snprintf(p, sizeof(p), "%s/%s", c->dir, file) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	snprintf(v, sizeof(v), "%u", value);
	if (c->o->step)
		c->o->step(p, v, c->o->userdata);
	if (c->o->dry_run)
		return 0;
	int r = root_write(p, v);
	c->changed |= r >= 0;
	return r;
}

/* VFs 0..want-1 that exist with (when need_group) their IOMMU group. */
static unsigned count_ready(const char *dir, unsigned want, bool need_group)
{
	unsigned n = 0;
	for (unsigned i = 0; i < want; i++) {
		char p[PATH_MAX];
		if (snprintf(p, sizeof(p), "%s/virtfn%u%s", dir, i, need_group ? "/iommu_group" : "") >=
		    (int)sizeof(p))
			return 0;
		/* root_exists follows the links: the VF's directory (and group) must really be there. */
		n += root_exists(p);
	}
	return n;
}

static unsigned count_links(const char *dir)
{
	_cleanup_strv_free_ char **names = NULL;
	unsigned n = 0;
	if (root_list(dir, &names) < 0)
		return 0;
	for (size_t i = 0; names[i]; i++)
		n += startswith(names[i], "virtfn");
	return n;
}

/* Kernel uevents for PCI devices wake us early; the root's own tree (tests) has none, and uevents
 * can be dropped when the socket buffer fills, so the loop re-reads sysfs regardless. The kernel
 * source (not udevd's) is used because the wait is for sysfs state, and hosts without udevd (the
 * test host) still get it. */
static struct udev_monitor *monitor_open(struct udev **udev)
{
	struct udev_monitor *m;

	*udev = NULL;
	if (*root_get())
		return NULL;
	*udev = udev_new();
	if (!*udev)
		return NULL;
	m = udev_monitor_new_from_netlink(*udev, "kernel");
	if (m && udev_monitor_filter_add_match_subsystem_devtype(m, "pci", NULL) >= 0 &&
	    udev_monitor_enable_receiving(m) >= 0)
		return m;
	log_debug("no uevent monitor, re-reading sysfs only");
	udev_monitor_unref(m);
	*udev = udev_unref(*udev);
	return NULL;
}

static void monitor_close(struct udev *udev, struct udev_monitor *m)
{
	udev_monitor_unref(m);
	udev_unref(udev);
}

/* Waits until want VFs are ready (want > 0) or none are left (want == 0). */
static int wait_vfs(struct change *c, struct udev_monitor *mon, unsigned want, bool need_group, unsigned *present)
{
	int timeout = c->o->timeout_ms > 0 ? c->o->timeout_ms : DEFAULT_TIMEOUT_MS;
	int64_t start = now_ms();
	unsigned events = 0, last = UINT_MAX, n;
	struct pollfd pfd = { .fd = mon ? udev_monitor_get_fd(mon) : -1, .events = POLLIN };

	for (;;) {
		int64_t el = now_ms() - start;

		n = want ? count_ready(c->dir, want, need_group) : count_links(c->dir);
		*present = n;
		if (want ? n == want : n == 0) {
			/* Count what the monitor got meanwhile: shows in debug output that events arrive. */
			struct udev_device *d;
			while (mon && (d = udev_monitor_receive_device(mon))) {
				events += streq(udev_device_get_action(d), "add");
				udev_device_unref(d);
			}
			log_debug("%s: %u VFs ready after %lld ms (%u add uevents)", c->dir, want, (long long)el, events);
			return 0;
		}
		if (el > 1000 && want && n != last && c->o->progress) {
			c->o->progress(n, want, c->o->userdata);
			last = n;
		}
		if (el >= timeout) {
			log_debug("%s: %u/%u VFs after %lld ms (%u add uevents), giving up", c->dir, n, want,
				  (long long)el, events);
			return -ETIMEDOUT;
		}
		int wait = (int)(timeout - el < REREAD_MS ? timeout - el : REREAD_MS);
		if (poll(&pfd, 1, wait) > 0 && (pfd.revents & POLLIN)) {
			struct udev_device *d;
			while ((d = udev_monitor_receive_device(mon))) {
				events += streq(udev_device_get_action(d), "add");
				udev_device_unref(d);
			}
		}
	}
}

/* Puts back the count and autoprobe setting found at the start, writing only what differs now
 * (a failed trip through 0 left the VFs as they were); returns the first failure. */
static int rollback(struct change *c, const struct sriov_pf *old, bool autoprobe_changed)
{
	char p[PATH_MAX];
	uint64_t cur = UINT64_MAX; /* unknown: treat as different */
	int r = 0, k;

	snprintf(p, sizeof(p), "%s/sriov_numvfs", c->dir);
	(void)root_read_u64(p, 10, &cur);
	log_debug("%s: rolling back from %lld to %u VFs, autoprobe %d", c->dir, (long long)cur, old->num_vfs,
		  old->autoprobe);
	if (cur != old->num_vfs && cur != 0 && (k = put(c, "sriov_numvfs", 0)) < 0)
		r = k;
	if (autoprobe_changed && (k = put(c, "sriov_drivers_autoprobe", old->autoprobe)) < 0 && !r)
		r = k;
	if (cur != old->num_vfs && old->num_vfs && (k = put(c, "sriov_numvfs", old->num_vfs)) < 0 && !r)
		r = k;
	return r;
}

static int check_in_use(const struct sriov_pf *pf, struct sriov_change_error *err)
{
	for (size_t i = 0; i < pf->n_vfs; i++) {
		char *reason = NULL;
		int r = sriov_vf_in_use(&pf->vfs[i], &reason);
		if (r < 0)
			return r;
		if (r > 0) {
			memcpy(err->vf, pf->vfs[i].address, sizeof(err->vf));
			err->reason = reason;
			return -EBUSY;
		}
	}
	return 0;
}

int sriov_pf_set_num_vfs(const char *address, unsigned count, const struct sriov_change_opts *opts,
			 struct sriov_change_error *err)
{
	_cleanup_sriov_pf_ struct sriov_pf *pf = NULL;
	struct change c = { .o = opts };
	struct udev *udev = NULL;
	struct udev_monitor *mon = NULL;
	bool ap_changed = false;
	unsigned present = 0;
	int r;

	*err = (struct sriov_change_error){ 0 };
	r = sriov_pf_load(address, &pf);
	if (r < 0)
		return r;
	if (count > pf->total_vfs)
		return -ERANGE;
	snprintf(c.dir, sizeof(c.dir), DEV "%s", pf->address);

	/* Same count: the VFs stay as they are; autoprobe still applies to later probes. */
	if (count == pf->num_vfs) {
		if (count && pf->autoprobe != opts->autoprobe) {
			r = put(&c, "sriov_drivers_autoprobe", opts->autoprobe);
			return r < 0 ? r : 0;
		}
		return 1;
	}
	if (pf->num_vfs && !opts->force) {
		r = check_in_use(pf, err);
		if (r < 0)
			return r;
	}
	if (!pf->driver)
		return -ENOENT; /* the kernel would say the same: no driver, no sriov_configure */

	/* Before the first write, so no uevent is missed. */
	if (count && !opts->dry_run)
		mon = monitor_open(&udev);
	if (count && pf->autoprobe != opts->autoprobe) {
		r = put(&c, "sriov_drivers_autoprobe", opts->autoprobe);
		if (r < 0)
			goto out; /* nothing changed yet */
		ap_changed = true;
	}
	if (pf->num_vfs) {
		r = put(&c, "sriov_numvfs", 0);
		if (r < 0)
			goto fail;
	}
	if (count) {
		r = put(&c, "sriov_numvfs", count);
		if (r < 0)
			goto fail;
	}
	if (opts->dry_run)
		goto out;
	r = wait_vfs(&c, mon, count, pf->iommu_group >= 0, &present);
	if (r < 0) {
		err->present = present;
		if ((count ? asprintf(&err->reason, "%u of %u VFs appeared%s", present, count,
				      pf->iommu_group >= 0 ? " with an IOMMU group" : "")
			   : asprintf(&err->reason, "%u VFs still present", present)) < 0)
			err->reason = NULL;
		goto fail;
	}
	r = 0;
	goto out;
fail:
	err->changed = c.changed;
	if (!opts->dry_run && c.changed)
		err->rollback = rollback(&c, pf, ap_changed);
out:
	monitor_close(udev, mon);
	return r;
}

int sriov_pf_set_autoprobe(const char *address, bool on)
{
	_cleanup_sriov_pf_ struct sriov_pf *pf = NULL;
	struct sriov_change_opts o = { 0 };
	struct change c = { .o = &o };
	int r = sriov_pf_load(address, &pf);

	if (r < 0)
		return r;
	if (pf->autoprobe == on)
		return 1;
	snprintf(c.dir, sizeof(c.dir), DEV "%s", pf->address);
	r = put(&c, "sriov_drivers_autoprobe", on);
	return r < 0 ? r : 0;
}
