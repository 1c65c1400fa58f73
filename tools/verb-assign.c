/* verb-assign.c: `ptctl assign ADDRESS VM` and `ptctl unassign ADDRESS VM`: a device into and out of a
 * running VM of ptctl's (ACPI PCI hot-plug), the host side done as `ptctl bind` / `ptctl release` do it. */
#include <getopt.h>
#include <time.h>

#include "util/assigned.h"
#include "util/log.h"
#include "util/output.h"
#include "util/root.h"
#include "verb.h"
#include "vm/vm.h"

#define PLUG_TIMEOUT_MS 120000 /* building the model includes mapping all guest RAM for DMA */

struct assign_opts {
	char address[PCI_ADDR_STRLEN];
	const char *vm;
	int timeout_s;
	bool force;
	char sock[4096];
	long pid;
};

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* "key=value" out of a control reply, as a number; -1 when absent. */
static long reply_num(const char *reply, const char *key)
{
	size_t k = strlen(key);
	for (const char *p = reply; (p = strstr(p, key)); p += k)
		if ((p == reply || p[-1] == ' ') && p[k] == '=')
			return strtol(p + k + 1, NULL, 10);
	return -1;
}

static bool reply_state(const char *reply, const char *state)
{
	const char *p = strstr(reply, "state=");
	return p && strncmp(p + 6, state, strlen(state)) == 0 && (p[6 + strlen(state)] == '\0' || p[6 + strlen(state)] == ' ');
}

static int parse(int argc, char **argv, const struct verb_ctx *ctx, const char *verb, bool unassign,
		 struct assign_opts *o)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' }, { "force", no_argument, NULL, 'f' }, { NULL, 0, NULL, 0 },
	};
	struct pci_addr pa;
	int c, n;

	*o = (struct assign_opts){ .timeout_s = 30 };
	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (c) {
		case 't':
			if (parse_int(optarg, &n) < 0 || n < 1 || n > 3600)
				return verb_usage_error(ctx, verb, "--timeout '%s': give seconds, 1 to 3600", optarg);
			o->timeout_s = n;
			break;
		case 'f':
			if (!unassign)
				return verb_usage_error(ctx, verb, "--force goes with unassign");
			o->force = true;
			break;
		default:
			return verb_usage_error(ctx, verb, "unknown option");
		}
	}
	if (argc - optind != 2)
		return verb_usage_error(ctx, verb, "give a PCI address and a VM name");
	if (pci_addr_parse(argv[optind], &pa) < 0)
		return verb_usage_error(ctx, verb, "'%s': not a PCI address (expected DDDD:BB:DD.F, e.g. 0000:03:00.0)",
					argv[optind]);
	pci_addr_format(&pa, o->address);
	o->vm = argv[optind + 1];
	if (!vm_name_valid(o->vm))
		return verb_usage_error(ctx, verb, "'%s': not a VM name (1-32 of A-Z a-z 0-9 . _ -)", o->vm);
	return -1;
}

/* The VM must be running: its lock held and its control socket answering. */
static int find_vm(struct assign_opts *o)
{
	_cleanup_free_ char *reply = NULL;
	int r;

	if (!assigned_vm_lock_held(o->vm)) {
		log_error("%s: VM %s is not running (start it first; to give a device to a VM from its start, use "
			  "'ptctl vm run --assign' or [VM] Assign= in the configuration)", o->address, o->vm);
		return -ESRCH;
	}
	r = root_path(o->sock, sizeof(o->sock), VM_STATE_DIR "/%s/control", o->vm);
	if (r >= 0)
		r = vm_control_request(o->sock, "status", &reply);
	if (r < 0 || (o->pid = reply_num(reply, "pid")) <= 0) {
		log_error("%s: VM %s does not answer on its control socket: %s", o->address, o->vm,
			  r < 0 ? strerror(-r) : reply);
		return r < 0 ? r : -EIO;
	}
	return 0;
}

static int control(const struct assign_opts *o, const char *cmd, int timeout_ms, char **reply)
{
	char line[128];
	snprintf(line, sizeof(line), "%s %s", cmd, o->address);
	return vm_control_request_timeout(o->sock, line, timeout_ms, reply);
}

/* Polls the slot until it reaches state or the deadline passes; progress on stderr. */
static bool wait_state(const struct assign_opts *o, const char *state, double deadline)
{
	double next_note = now_s() + 5;
	for (;;) {
		_cleanup_free_ char *reply = NULL;
		if (control(o, "slot", 5000, &reply) >= 0 && reply_state(reply, state))
			return true;
		if (now_s() >= deadline)
			return false;
		if (now_s() >= next_note && !out_is_json()) {
			log_info("%s: waiting for VM %s (%.0f s left)", o->address, o->vm, deadline - now_s());
			next_note += 5;
		}
		usleep(100 * 1000);
	}
}

static int print_result(const struct assign_opts *o, const char *action, long slot, double setup_s, double wait_s)
{
	_cleanup_json_ json_object *obj = json_object_new_object();
	int r;

	if (!obj)
		return -ENOMEM;
	if ((r = json_add_str(obj, "address", o->address)) < 0 || (r = json_add_str(obj, "vm", o->vm)) < 0 ||
	    (r = json_add_str(obj, "action", action)) < 0 || (r = json_add_int(obj, "slot", slot)) < 0 ||
	    (setup_s >= 0 && (r = json_add(obj, "setup_seconds", json_object_new_double(setup_s))) < 0) ||
	    (r = json_add(obj, "guest_seconds", json_object_new_double(wait_s))) < 0)
		return r;
	return out_record(stdout, obj);
}

/* Undoes a plug that the guest did not accept: off the bus (forced), the device back where it was. */
static void unplug_back(const struct assign_opts *o, bool moved)
{
	_cleanup_free_ char *reply = NULL, *why = NULL;
	if (control(o, "remove", 10000, &reply) < 0 || strncmp(reply, "ok", 2) != 0) {
		free(reply);
		reply = NULL;
		char line[128];
		snprintf(line, sizeof(line), "remove %s force", o->address);
		if (vm_control_request_timeout(o->sock, line, 10000, &reply) < 0 || strncmp(reply, "ok", 2) != 0)
			log_error("%s: could not take it back from VM %s: %s", o->address, o->vm, reply ? reply : "no answer");
	}
	if (vm_assign_finish(o->address, moved, &why) < 0)
		log_error("%s", why ? why : "cannot return the device");
}

static int assign_run(int argc, char **argv, const struct verb_ctx *ctx)
{
	struct assign_opts o;
	struct assignment a;
	_cleanup_free_ char *why = NULL, *reply = NULL;
	bool moved = false;
	double t0, t1;
	long slot;
	int r = parse(argc, argv, ctx, "assign", false, &o);

	if (r != -1)
		return r;
	if (find_vm(&o) < 0)
		return EXIT_FAIL;
	if (assigned_read(o.address, &a) > 0 && a.running) {
		log_error("%s: already assigned to VM %s (pid %ld)%s", o.address, a.vm, a.pid,
			  streq(a.vm, o.vm) ? "" : ": unassign it there first");
		return EXIT_FAIL;
	}
	if (ctx->dry_run) {
		_cleanup_json_ json_object *obj = json_object_new_object();
		if (!obj || json_add_str(obj, "address", o.address) < 0 || json_add_str(obj, "vm", o.vm) < 0 ||
		    json_add_str(obj, "plan", "bind to vfio-pci with the checks of 'ptctl bind' (original driver "
						"recorded), record the assignment, plug into a free slot, wait for the guest") < 0)
			return EXIT_FAIL;
		return out_record(stdout, obj) < 0 ? EXIT_FAIL : EXIT_OK;
	}
	r = vm_assign_prepare(o.address, o.vm, o.pid, &moved, &why);
	if (r < 0) {
		log_error("%s", why ? why : strerror(-r));
		return r == -EINVAL ? EXIT_USAGE : EXIT_FAIL;
	}
	t0 = now_s();
	{
		char line[128];
		snprintf(line, sizeof(line), "plug %s%s", o.address, moved ? " moved" : "");
		r = vm_control_request_timeout(o.sock, line, PLUG_TIMEOUT_MS, &reply);
	}
	if (r < 0 || strncmp(reply, "ok", 2) != 0) {
		log_error("%s: VM %s could not take it: %s", o.address, o.vm,
			  r < 0 ? strerror(-r) : (strncmp(reply, "error ", 6) == 0 ? reply + 6 : reply));
		_cleanup_free_ char *w2 = NULL;
		if (vm_assign_finish(o.address, moved, &w2) < 0)
			log_error("%s", w2 ? w2 : "cannot return the device");
		return EXIT_FAIL;
	}
	slot = reply_num(reply, "slot");
	t1 = now_s();
	if (!wait_state(&o, "accepted", t1 + o.timeout_s)) {
		log_error("%s: VM %s's guest did not take the device within %d s (does it have ACPI PCI hot-plug, "
			  "acpiphp?); unplugged and returned", o.address, o.vm, o.timeout_s);
		unplug_back(&o, moved);
		return EXIT_FAIL;
	}
	r = print_result(&o, "assigned", slot, t1 - t0, now_s() - t1);
	return r < 0 ? EXIT_FAIL : EXIT_OK;
}

static int unassign_run(int argc, char **argv, const struct verb_ctx *ctx)
{
	struct assign_opts o;
	struct assignment a;
	_cleanup_free_ char *reply = NULL, *why = NULL;
	bool ejected, moved;
	double t0;
	long slot;
	int r = parse(argc, argv, ctx, "unassign", true, &o);

	if (r != -1)
		return r;
	if (find_vm(&o) < 0)
		return EXIT_FAIL;
	if (assigned_read(o.address, &a) <= 0 || !streq(a.vm, o.vm)) {
		log_error("%s: not assigned to VM %s", o.address, o.vm);
		return EXIT_FAIL;
	}
	r = control(&o, "slot", 5000, &reply);
	if (r < 0 || strncmp(reply, "ok", 2) != 0) {
		log_error("%s: VM %s does not have it as a hot-plugged device (%s); devices given at start leave with "
			  "the VM", o.address, o.vm, r < 0 ? strerror(-r) : reply);
		return EXIT_FAIL;
	}
	slot = reply_num(reply, "slot");
	if (ctx->dry_run) {
		_cleanup_json_ json_object *obj = json_object_new_object();
		if (!obj || json_add_str(obj, "address", o.address) < 0 || json_add_str(obj, "vm", o.vm) < 0 ||
		    json_add_int(obj, "slot", slot) < 0 ||
		    json_add_str(obj, "plan", o.force ? "ask the guest to eject, remove it anyway after the timeout, "
							  "reset, return to the original driver"
						      : "ask the guest to eject, wait, remove, reset, return to the "
							"original driver") < 0)
			return EXIT_FAIL;
		return out_record(stdout, obj) < 0 ? EXIT_FAIL : EXIT_OK;
	}
	free(reply);
	reply = NULL;
	t0 = now_s();
	r = control(&o, "unplug", 5000, &reply);
	if (r < 0 || strncmp(reply, "ok", 2) != 0) {
		log_error("%s: VM %s refused the eject request: %s", o.address, o.vm, r < 0 ? strerror(-r) : reply);
		return EXIT_FAIL;
	}
	ejected = wait_state(&o, "ejected", t0 + o.timeout_s);
	if (!ejected && !o.force) {
		log_error("%s: VM %s's guest did not release it within %d s (it keeps the device); --force removes it "
			  "anyway", o.address, o.vm, o.timeout_s);
		return EXIT_FAIL;
	}
	if (!ejected)
		log_warning("%s: the guest did not release it; removing it anyway (--force)", o.address);
	free(reply);
	reply = NULL;
	{
		char line[128];
		snprintf(line, sizeof(line), "remove %s%s", o.address, ejected ? "" : " force");
		r = vm_control_request_timeout(o.sock, line, 30000, &reply);
	}
	if (r < 0 || strncmp(reply, "ok", 2) != 0) {
		log_error("%s: VM %s could not remove it: %s", o.address, o.vm, r < 0 ? strerror(-r) : reply);
		return EXIT_FAIL;
	}
	moved = reply_num(reply, "moved") == 1;
	r = vm_assign_finish(o.address, moved, &why);
	if (r < 0) {
		log_error("%s (it stays on vfio-pci; 'ptctl release %s' returns it)", why ? why : strerror(-r), o.address);
		return EXIT_FAIL;
	}
	r = print_result(&o, ejected ? "unassigned" : "removed (forced)", slot, -1, now_s() - t0);
	return r < 0 ? EXIT_FAIL : EXIT_OK;
}

PTCTL_VERB(assign, .name = "assign", .synopsis = "ADDRESS VM [--timeout S]",
	   .summary = "give a PCI device to a running VM (hot-plug)", .flags = VERB_JSON | VERB_DRY_RUN,
	   .run = assign_run,
	   .help = "DESCRIPTION\n"
		   "    Gives the PCI device at ADDRESS to VM, one of ptctl's VMs that is running, the way a device\n"
		   "    appears in a machine's hot-plug slot. The host side is exactly `ptctl bind`'s: the IOMMU group\n"
		   "    must be viable, a device in use on the host is refused, the original driver is recorded; then the\n"
		   "    assignment is recorded in /run/ptctl/assigned/ADDRESS. The VM builds its pass-through model (its\n"
		   "    VFIO container is created and all guest RAM mapped for DMA on the first device), plugs it into a\n"
		   "    free slot and tells the guest (ACPI PCI hot-plug: a GPE, then a device check on the slot).\n"
		   "    ptctl returns when the guest's OS has enumerated the device; if it does not within the timeout,\n"
		   "    the device is unplugged and returned to its original driver.\n"
		   "OPTIONS\n"
		   "    --timeout S  how long the guest may take to enumerate the device (default 30)\n"
		   "    --dry-run    print the plan (address, vm, plan), change nothing\n"
		   "    --json       the result as JSON: address, vm, action, slot, setup_seconds (bind + model + DMA\n"
		   "                 mapping), guest_seconds (until the guest enumerated it)\n"
		   "EXIT STATUS\n"
		   "    0 assigned   1 refused or failed (nothing left changed; the VM not running, the device\n"
		   "    assigned elsewhere, the guest never took it)   2 bad usage or input\n"
		   "EXAMPLES\n"
		   "    ptctl assign 0000:01:10.0 vm1\n");

PTCTL_VERB(unassign, .name = "unassign", .synopsis = "ADDRESS VM [--timeout S] [--force]",
	   .summary = "take a hot-plugged PCI device back from a running VM", .flags = VERB_JSON | VERB_DRY_RUN,
	   .run = unassign_run,
	   .help = "DESCRIPTION\n"
		   "    Asks VM's guest to eject the device at ADDRESS (an ACPI eject request on its slot, as an\n"
		   "    attention button does), waits for the guest to release it (its _EJ0), takes it off the bus,\n"
		   "    resets it and returns it to its original host driver (when `ptctl assign` moved it to vfio-pci).\n"
		   "    A guest that does not answer within the timeout keeps the device and ptctl exits 1; with --force\n"
		   "    the device is removed anyway (surprise removal) and the host still gets it back.\n"
		   "OPTIONS\n"
		   "    --timeout S  how long the guest may take to release it (default 30)\n"
		   "    --force      remove it even if the guest does not release it\n"
		   "    --dry-run    print the plan (address, vm, slot, plan), change nothing\n"
		   "    --json       the result as JSON: address, vm, action, slot, guest_seconds\n"
		   "EXIT STATUS\n"
		   "    0 returned to the host   1 the guest kept it (no --force) or it failed   2 bad usage or input\n"
		   "EXAMPLES\n"
		   "    ptctl unassign 0000:01:10.0 vm1\n"
		   "    ptctl unassign 0000:01:10.0 vm1 --timeout 5 --force\n");
