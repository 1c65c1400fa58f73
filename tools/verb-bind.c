/* verb-bind.c: `ptctl bind` and `ptctl release`: move a device (or its IOMMU group) to vfio-pci
 * and back, verified, rolled back on failure; --dry-run prints the plan instead. */
#include <getopt.h>

#include "util/log.h"
#include "util/output.h"
#include "verb.h"
#include "vfio/vfio.h"

static const struct out_column change_columns[] = {
	{ "address", "DEVICE" }, { "from", "FROM" }, { "to", "TO" }
};
static const struct out_column step_columns[] = {
	{ "device", "DEVICE" }, { "action", "ACTION" }, { "file", "FILE" }, { "value", "VALUE" }
};

static int print_result(const struct vfio_bind_result *res, bool dry_run)
{
	_cleanup_json_ json_object *rows = json_object_new_array();
	int r = 0;

	if (!rows)
		return -ENOMEM;
	for (size_t i = 0; dry_run && i < res->n_steps && r >= 0; i++) {
		const struct vfio_bind_step *s = &res->steps[i];
		json_object *o = json_object_new_object();
		char value[256];
		/* A newline clears driver_override; show it as the kernel's "(null)" would read. */
		snprintf(value, sizeof(value), "%s", s->value && streq(s->value, "\n") ? "(clear)" : s->value ? s->value : "");
		if (!o || json_object_array_add(rows, o) < 0) {
			json_object_put(o);
			return -ENOMEM;
		}
		if ((r = json_add_str(o, "device", s->dev)) < 0 || (r = json_add_str(o, "action", s->action)) < 0 ||
		    (r = json_add_str(o, "file", s->file)) < 0)
			break;
		r = json_add_str(o, "value", s->value ? value : NULL);
	}
	for (size_t i = 0; !dry_run && i < res->n_changes && r >= 0; i++) {
		const struct vfio_bind_change *c = &res->changes[i];
		json_object *o = json_object_new_object();
		if (!o || json_object_array_add(rows, o) < 0) {
			json_object_put(o);
			return -ENOMEM;
		}
		if ((r = json_add_str(o, "address", c->dev)) < 0 || (r = json_add_str(o, "from", c->from)) < 0)
			break;
		r = json_add_str(o, "to", c->to);
	}
	if (r < 0)
		return r;
	return dry_run ? out_table(stdout, rows, step_columns, ARRAY_SIZE(step_columns))
		       : out_table(stdout, rows, change_columns, ARRAY_SIZE(change_columns));
}

static int report(const char *arg, int r, struct vfio_bind_result *res, bool dry_run)
{
	int status;

	if (r >= 0) {
		r = print_result(res, dry_run);
		vfio_bind_result_clear(res);
		if (r < 0) {
			log_error("%s: cannot print the result: %s", arg, strerror(-r));
			return EXIT_FAIL;
		}
		return EXIT_OK;
	}
	if (res->reason)
		log_error("%s: %s", *res->object ? res->object : arg, res->reason);
	else
		log_error("%s: %s", *res->object ? res->object : arg, strerror(-r));
	status = res->failure == VFIO_BIND_BAD_INPUT ? EXIT_USAGE : EXIT_FAIL;
	vfio_bind_result_clear(res);
	return status;
}

static int parse_address(const char *s, struct pci_addr *a)
{
	if (pci_addr_parse(s, a) < 0) {
		log_error("%s: not a PCI address (expected DDDD:BB:DD.F, e.g. 0000:03:00.0)", s);
		return -EINVAL;
	}
	return 0;
}

static int bind_run(int argc, char **argv, const struct verb_ctx *ctx)
{
	enum { OPT_DRIVER = 0x100, OPT_GROUP, OPT_FORCE };
	static const struct option opts[] = {
		{ "driver", required_argument, NULL, OPT_DRIVER },
		{ "group", no_argument, NULL, OPT_GROUP },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ NULL, 0, NULL, 0 },
	};
	struct vfio_bind_opts o = { .dry_run = ctx->dry_run };
	struct vfio_bind_result res = { 0 };
	struct pci_addr a;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (c) {
		case OPT_DRIVER:
			o.driver = optarg;
			break;
		case OPT_GROUP:
			o.group = true;
			break;
		case OPT_FORCE:
			o.force = true;
			break;
		default:
			return verb_usage_error(ctx, "bind", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return verb_usage_error(ctx, "bind", "expected one device ADDRESS");
	if (parse_address(argv[optind], &a) < 0)
		return EXIT_USAGE;
	r = vfio_bind(&a, &o, &res);
	return report(argv[optind], r, &res, ctx->dry_run);
}

static int release_run(int argc, char **argv, const struct verb_ctx *ctx)
{
	enum { OPT_GROUP = 0x100 };
	static const struct option opts[] = { { "group", no_argument, NULL, OPT_GROUP }, { NULL, 0, NULL, 0 } };
	struct vfio_bind_opts o = { .dry_run = ctx->dry_run };
	struct vfio_bind_result res = { 0 };
	struct pci_addr a;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c != OPT_GROUP)
			return verb_usage_error(ctx, "release", "unknown option");
		o.group = true;
	}
	if (optind + 1 != argc)
		return verb_usage_error(ctx, "release", "expected one device ADDRESS");
	if (parse_address(argv[optind], &a) < 0)
		return EXIT_USAGE;
	r = vfio_release(&a, &o, &res);
	return report(argv[optind], r, &res, ctx->dry_run);
}

PTCTL_VERB(bind, .name = "bind", .synopsis = "ADDRESS [--driver DRIVER] [--group] [--force]",
	   .summary = "move a device (or its IOMMU group) to vfio-pci, verified", .flags = VERB_JSON | VERB_DRY_RUN,
	   .run = bind_run,
	   .help = "DESCRIPTION\n"
		   "    Moves the device at ADDRESS to DRIVER (vfio-pci unless --driver says otherwise) the way\n"
		   "    the kernel documents: write driver_override, unbind from the current driver, ask\n"
		   "    drivers_probe to bind it, then read the driver link back until it names DRIVER\n"
		   "    (drivers_probe reports success even when nothing binds). The original driver is\n"
		   "    recorded in /run/ptctl/devices/ADDRESS first, so `ptctl release` can restore it. A\n"
		   "    global lock (/run/ptctl/lock) keeps two ptctl runs from interleaving.\n"
		   "    If DRIVER is not registered, its module is loaded with modprobe.\n\n"
		   "    Refused, with nothing changed: a PCI bridge; for a VFIO driver, a device without an\n"
		   "    IOMMU group or whose group has other endpoints on host drivers (named; see --group); a\n"
		   "    device the host is using: a network interface that is up with addresses or routes\n"
		   "    (or is a port of a bridge or bond that is), a block device that is mounted, swap, or\n"
		   "    held by device-mapper/md (see --force); for vfio-pci, a physical function with VFs\n"
		   "    enabled (vfio-pci refuses those; see --force). Always refused: a device that a running VM\n"
		   "    of ptctl's holds (`ptctl vm run --assign`), or a PF one of whose VFs it holds.\n"
		   "    Every device's state is read and every record written before the first change. If any\n"
		   "    step fails part-way, every device touched is returned to its original driver and\n"
		   "    driver_override, and the records are removed. DRIVER is a name as listed in\n"
		   "    /sys/bus/pci/drivers, never a path (exit 2, nothing touched; --dry-run likewise, and\n"
		   "    asks modprobe -D whether a missing driver's module exists).\n\n"
		   "RECOVERY\n"
		   "    If ptctl itself is killed part-way (SIGKILL, OOM), every device it was moving has a\n"
		   "    record: `ptctl release ADDRESS` for each name in /run/ptctl/devices returns it (a device\n"
		   "    that never moved only loses its record).\n\n"
		   "OPTIONS\n"
		   "    --driver DRIVER  the driver to bind to (default vfio-pci)\n"
		   "    --group          also move every other endpoint of the IOMMU group that is on a host\n"
		   "                     driver (bridges are left alone), all or nothing\n"
		   "    --force          bind even when the host is using the device\n\n"
		   "OUTPUT\n"
		   "    A table DEVICE FROM TO of the devices moved (FROM equal to TO: already there). With\n"
		   "    --json an array of {address, from, to}; from/to are driver names or null.\n"
		   "    With --dry-run, the plan: DEVICE ACTION FILE VALUE, one row per step (actions:\n"
		   "    modprobe, record, override, unbind, probe, verify); --json gives an array of\n"
		   "    {device, action, file, value}.\n\n"
		   "FILES\n"
		   "    /run/ptctl/devices/ADDRESS  original_driver=, original_override=, driver= lines,\n"
		   "                                written atomically before the first change\n"
		   "    /run/ptctl/lock             held while devices move\n\n"
		   "ENVIRONMENT\n"
		   "    PTCTL_MODPROBE   program run instead of modprobe to load a missing driver (under\n"
		   "                     PTCTL_ROOT nothing else is run)\n\n"
		   "EXAMPLES\n"
		   "    ptctl bind 0000:03:00.0\n"
		   "    ptctl bind 00:1f.3 --group --dry-run\n"
		   "    ptctl bind 0000:03:00.0 --driver pci-stub\n");

PTCTL_VERB(release, .name = "release", .synopsis = "ADDRESS [--group]", .summary = "return a device from vfio-pci to its original driver",
	   .flags = VERB_JSON | VERB_DRY_RUN, .run = release_run,
	   .help = "DESCRIPTION\n"
		   "    Returns the device at ADDRESS to the driver recorded by `ptctl bind`: restores\n"
		   "    driver_override, unbinds it from vfio-pci, lets drivers_probe bind it (or binds it\n"
		   "    through the original driver's bind file when the kernel picks another), verifies the\n"
		   "    driver link, and removes the record. A device that was unbound before stays unbound.\n"
		   "    Without a record (bound by something else), a device on a VFIO driver is handed to\n"
		   "    the kernel's default match. On failure it is put back on vfio-pci, not left unbound.\n"
		   "    A record whose device is already back where it started (left by a ptctl that was\n"
		   "    killed) is only removed. With --group it is all or nothing: if one member cannot go\n"
		   "    back, the members released before it are put back on vfio-pci and every record stays.\n"
		   "    Refused while a running VM of ptctl's holds the device (the VM is named). A VM that was\n"
		   "    killed (SIGKILL) leaves the device on vfio-pci with /run/ptctl/assigned/ADDRESS naming a\n"
		   "    dead process: release returns the device and removes that record.\n\n"
		   "OPTIONS\n"
		   "    --group          also release every other member of the device's IOMMU group that\n"
		   "                     ptctl bound (the undo of `ptctl bind --group`)\n\n"
		   "OUTPUT\n"
		   "    As for `ptctl bind`: DEVICE FROM TO, or the plan with --dry-run; --json likewise.\n\n"
		   "EXAMPLES\n"
		   "    ptctl release 0000:03:00.0\n"
		   "    ptctl release 03:00.0 --dry-run\n"
		   "    ptctl release 00:1f.3 --group\n");
