/* assign.c: the host side of giving a device to a VM: `ptctl bind`'s checks and steps, then the
 * assignment record; and the way back. The device model (vm/devices/vfio-pci.c) does the rest. */
#include "util/assigned.h"
#include "util/log.h"
#include "util/state.h"
#include "vfio/vfio.h"
#include "vm.h"

static int bind_message(const char *address, int r, const struct vfio_bind_result *res, char **ret_why)
{
	if (asprintf(ret_why, "%s: %s", *res->object ? res->object : address,
		     res->reason ? res->reason : strerror(-r)) < 0)
		*ret_why = NULL;
	if (res->failure == VFIO_BIND_BAD_INPUT)
		return -EINVAL;
	return res->failure == VFIO_BIND_REFUSED ? -EPERM : r;
}

int vm_assign_prepare(const char *address, const char *vm, long pid, bool *ret_moved, char **ret_why)
{
	struct vfio_bind_opts o = { .locked = true };
	struct vfio_bind_result res = { 0 };
	struct assignment a;
	struct pci_addr pa;
	char name[PCI_ADDR_STRLEN];
	bool moved = false;
	_cleanup_close_ int lock = -1;
	int r;

	*ret_why = NULL;
	if (pci_addr_parse(address, &pa) < 0) {
		if (asprintf(ret_why, "%s: not a PCI address (expected DDDD:BB:DD.F, e.g. 0000:03:00.0)", address) < 0)
			*ret_why = NULL;
		return -EINVAL;
	}
	pci_addr_format(&pa, name);
	lock = state_lock(10000);
	if (lock < 0) {
		if (asprintf(ret_why, "%s: cannot take " STATE_DIR "/lock: %s", name,
			     lock == -ETIMEDOUT ? "another ptctl holds it (try again)" : strerror(-lock)) < 0)
			*ret_why = NULL;
		return lock;
	}
	r = assigned_read(name, &a);
	if (r > 0 && a.running) {
		if (asprintf(ret_why, "%s: assigned to VM %s (pid %ld), which is running: stop it first ('ptctl vm stop %s')",
			     name, a.vm, a.pid, a.vm) < 0)
			*ret_why = NULL;
		return -EPERM;
	}
	r = vfio_bind(&pa, &o, &res);
	if (r < 0) {
		r = bind_message(name, r, &res, ret_why);
		vfio_bind_result_clear(&res);
		return r;
	}
	for (size_t i = 0; i < res.n_changes; i++)
		if (streq(res.changes[i].dev, name) && !streq(res.changes[i].from, res.changes[i].to))
			moved = true;
	vfio_bind_result_clear(&res);
	r = assigned_write(name, vm, pid);
	if (r < 0) {
		if (asprintf(ret_why, "%s: cannot record the assignment under " STATE_DIR "/" ASSIGNED_KIND ": %s", name,
			     strerror(-r)) < 0)
			*ret_why = NULL;
		if (moved) {
			/* Undo the bind: the device was not ours to keep. */
			res = (struct vfio_bind_result){ 0 };
			if (vfio_release(&pa, &o, &res) < 0)
				log_debug("%s: release after a failed record: %s", name, res.reason ? res.reason : "failed");
			vfio_bind_result_clear(&res);
		}
		return r;
	}
	*ret_moved = moved;
	return 0;
}

int vm_assign_finish(const char *address, bool release, char **ret_why)
{
	struct vfio_bind_opts o = { 0 };
	struct vfio_bind_result res = { 0 };
	struct pci_addr pa;
	char name[PCI_ADDR_STRLEN];
	int r;

	*ret_why = NULL;
	if (pci_addr_parse(address, &pa) < 0)
		return -EINVAL;
	pci_addr_format(&pa, name);
	r = assigned_remove(name);
	if (r < 0)
		log_debug("%s: removing the assignment record: %s", name, strerror(-r));
	if (!release)
		return 0;
	r = vfio_release(&pa, &o, &res);
	if (r < 0)
		r = bind_message(name, r, &res, ret_why);
	vfio_bind_result_clear(&res);
	return r;
}
