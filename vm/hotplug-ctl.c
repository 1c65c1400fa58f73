/* hotplug-ctl.c: the running VM's side of `ptctl assign` / `ptctl unassign`: control commands that plug an
 * assigned device (already bound and recorded by the caller) into a free slot, report the slot's state,
 * ask the guest to eject it, and take it off the bus. The protocol, one line each:
 *   plug ADDRESS [moved]  -> "ok slot=N setup_ms=T"         (vfio-pci model built, RAM mapped, guest told)
 *   slot ADDRESS          -> "ok slot=N state=STATE"       (STATE: vm_slot_state_to_string)
 *   unplug ADDRESS        -> "ok slot=N state=STATE"       (eject request sent to the guest)
 *   remove ADDRESS [force]-> "ok moved=0|1"                (off the bus, device reset and closed)
 *   hotplug               -> "ok ADDRESS=SLOT:STATE ..."   (every hot-plugged device) */
#include <inttypes.h>
#include <time.h>

#include "internal.h"
#include "vm/devices/devices.h"
#include "util/log.h"
#include "util/pciaddr.h"

static int find(struct vm *vm, const char *addr)
{
	for (unsigned s = 1; s < 32; s++)
		if (vm->hotplug.addr[s][0] && streq(vm->hotplug.addr[s], addr))
			return (int)s;
	return -ENOENT;
}

/* The first word of args as a canonical PCI address; *rest points after it. */
static int parse_addr(const char *args, char out[PCI_ADDR_STRLEN], const char **rest)
{
	char word[64];
	size_t n = strcspn(args, " ");
	struct pci_addr a;

	if (n == 0 || n >= sizeof(word))
		return -EINVAL;
	memcpy(word, args, n);
	word[n] = '\0';
	if (pci_addr_parse(word, &a) < 0)
		return -EINVAL;
	pci_addr_format(&a, out);
	*rest = args + n + (args[n] == ' ');
	return 0;
}

static int reply_error(char **reply, const char *fmt, const char *a, const char *b)
{
	return asprintf(reply, fmt, a, b) < 0 ? -ENOMEM : 0;
}

/* The device the command names, plugged into this VM: its slot (>= 1), or 0 with *reply set to the error
 * (the return value of reply_error, negative only without memory, then). */
static int plugged_slot(struct vm *vm, const char *args, char addr[PCI_ADDR_STRLEN], const char **rest,
			char **reply, int *ret_r)
{
	int slot;

	*ret_r = 0;
	if (parse_addr(args, addr, rest) < 0) {
		*ret_r = reply_error(reply, "error %s%s: not a PCI address", args, "");
		return 0;
	}
	slot = find(vm, addr);
	if (slot < 0) {
		*ret_r = reply_error(reply, "error %s: not plugged into this VM%s", addr, "");
		return 0;
	}
	return slot;
}

static int cmd_plug(struct vm *vm, const char *args, char **reply, void *opaque)
{
	char addr[PCI_ADDR_STRLEN];
	const char *rest, *why = NULL;
	struct timespec t0, t1;
	int slot;

	(void)opaque;
	if (parse_addr(args, addr, &rest) < 0)
		return reply_error(reply, "error %s%s: not a PCI address", args, "");
	if (find(vm, addr) >= 0)
		return reply_error(reply, "error %s: already plugged into this VM%s", addr, "");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	slot = vm_vfio_pci_add(vm, addr, &why);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (slot < 0)
		return reply_error(reply, "error %s: %s", addr, why ? why : strerror(-slot));
	snprintf(vm->hotplug.addr[slot], sizeof(vm->hotplug.addr[slot]), "%s", addr);
	vm->hotplug.moved[slot] = streq(rest, "moved");
	vm_hotplug_announce(vm, (unsigned)slot);
	return asprintf(reply, "ok slot=%d setup_ms=%.0f", slot,
			(double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6) < 0
		       ? -ENOMEM
		       : 0;
}

static int cmd_slot(struct vm *vm, const char *args, char **reply, void *opaque)
{
	char addr[PCI_ADDR_STRLEN];
	const char *rest;
	int slot, r;

	(void)opaque;
	if (!(slot = plugged_slot(vm, args, addr, &rest, reply, &r)))
		return r;
	return asprintf(reply, "ok slot=%d state=%s", slot,
			vm_slot_state_to_string(vm_hotplug_state(vm, (unsigned)slot))) < 0
		       ? -ENOMEM
		       : 0;
}

static int cmd_unplug(struct vm *vm, const char *args, char **reply, void *opaque)
{
	char addr[PCI_ADDR_STRLEN];
	const char *rest;
	int slot, r;

	(void)opaque;
	if (!(slot = plugged_slot(vm, args, addr, &rest, reply, &r)))
		return r;
	r = vm_hotplug_request_eject(vm, (unsigned)slot);
	if (r < 0)
		return reply_error(reply, "error %s: %s", addr, strerror(-r));
	return cmd_slot(vm, args, reply, opaque);
}

static int cmd_remove(struct vm *vm, const char *args, char **reply, void *opaque)
{
	char addr[PCI_ADDR_STRLEN];
	const char *rest;
	struct vm_pci_device *dev = NULL;
	bool moved;
	int slot, r;

	(void)opaque;
	if (!(slot = plugged_slot(vm, args, addr, &rest, reply, &r)))
		return r;
	r = vm_hotplug_remove(vm, (unsigned)slot, streq(rest, "force"), &dev);
	if (r == -EBUSY)
		return reply_error(reply, "error %s: the guest has not released it (remove it with force)%s", addr, "");
	if (r < 0)
		return reply_error(reply, "error %s: %s", addr, strerror(-r));
	moved = vm->hotplug.moved[slot];
	vm->hotplug.addr[slot][0] = '\0';
	/* The model's free resets the device and closes it (and the VM's container once it is the last). */
	if (dev->ops && dev->ops->free)
		dev->ops->free(dev);
	return asprintf(reply, "ok moved=%d", moved) < 0 ? -ENOMEM : 0;
}

static int cmd_list(struct vm *vm, const char *args, char **reply, void *opaque)
{
	char *out = strdup("ok");

	(void)args;
	(void)opaque;
	for (unsigned s = 1; s < 32 && out; s++) {
		char *n = NULL;
		if (!vm->hotplug.addr[s][0])
			continue;
		if (asprintf(&n, "%s %s=%u:%s", out, vm->hotplug.addr[s], s,
			     vm_slot_state_to_string(vm_hotplug_state(vm, s))) < 0)
			n = NULL;
		free(out);
		out = n;
	}
	*reply = out;
	return out ? 0 : -ENOMEM;
}

int vm_hotplug_control_init(struct vm *vm)
{
	int r;
	if ((r = vm_control_register(vm, "plug", cmd_plug, NULL)) < 0 ||
	    (r = vm_control_register(vm, "slot", cmd_slot, NULL)) < 0 ||
	    (r = vm_control_register(vm, "unplug", cmd_unplug, NULL)) < 0 ||
	    (r = vm_control_register(vm, "remove", cmd_remove, NULL)) < 0 ||
	    (r = vm_control_register(vm, "hotplug", cmd_list, NULL)) < 0)
		return r;
	return 0;
}

size_t vm_hotplug_assigned(const struct vm *vm, char (*addrs)[PCI_ADDR_STRLEN], bool *moved, size_t max)
{
	size_t n = 0;
	for (unsigned s = 1; s < 32 && n < max; s++)
		if (vm->hotplug.addr[s][0]) {
			snprintf(addrs[n], PCI_ADDR_STRLEN, "%s", vm->hotplug.addr[s]);
			moved[n++] = vm->hotplug.moved[s];
		}
	return n;
}
