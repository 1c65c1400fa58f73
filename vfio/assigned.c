/* assigned.c: devices that one of ptctl's running VMs holds (util/assigned.h records) are not
 * moved by anyone else; this is the check bind and release run, for a device and a PF's VFs. */
#include <limits.h>

#include "bind-internal.h"
#include "util/assigned.h"
#include "util/root.h"
#include "util/state.h"

/* The device itself, then (for a PF) every VF. 1 with ret_dev and *ret when a running VM holds one. */
int vfio_pci_assigned_running(const char *dev, char ret_dev[PCI_ADDR_STRLEN], struct assignment *ret)
{
	_cleanup_strv_free_ char **names = NULL;
	char p[PATH_MAX];
	struct assignment a;
	int r = assigned_read(dev, &a);

	if (r < 0)
		return r;
	if (r > 0 && a.running) {
		snprintf(ret_dev, PCI_ADDR_STRLEN, "%s", dev);
		*ret = a;
		return 1;
	}
	if (pci_sysfs_path(p, sizeof(p), dev, "") < 0 || root_list(p, &names) < 0)
		return 0; /* no such directory: no VFs either */
	for (char **n = names; *n; n++) {
		_cleanup_free_ char *vf = NULL;
		if (!startswith(*n, "virtfn") || pci_read_link_opt(dev, *n, &vf) < 0 || !vf ||
		    strlen(vf) >= PCI_ADDR_STRLEN)
			continue;
		r = assigned_read(vf, &a);
		if (r < 0)
			return r;
		if (r > 0 && a.running) {
			snprintf(ret_dev, PCI_ADDR_STRLEN, "%s", vf);
			*ret = a;
			return 1;
		}
	}
	return 0;
}

int bind_refuse_assigned(struct op *op, const char *dev)
{
	char holder[PCI_ADDR_STRLEN];
	struct assignment a;
	int r = vfio_pci_assigned_running(dev, holder, &a);

	if (r < 0)
		return bind_fail(op->res, VFIO_BIND_FAILED, "cannot read " STATE_DIR "/" ASSIGNED_KIND "/: %s",
				 strerror(-r));
	if (r == 0)
		return 0;
	snprintf(op->res->object, sizeof(op->res->object), "%s", dev);
	if (streq(holder, dev))
		return bind_fail(op->res, VFIO_BIND_REFUSED,
				 "assigned to VM %s (pid %ld), which is running: stop it first ('ptctl vm stop %s')",
				 a.vm, a.pid, a.vm);
	return bind_fail(op->res, VFIO_BIND_REFUSED,
			 "its VF %s is assigned to VM %s (pid %ld), which is running: stop it first ('ptctl vm stop %s')",
			 holder, a.vm, a.pid, a.vm);
}
