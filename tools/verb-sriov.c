/* verb-sriov.c: `ptctl sriov show|create|destroy|set`: the SR-IOV verbs, their help pages, and the one
 * error line for each way a change can fail. The work is in sriov/; this file parses and reports. */
#include <getopt.h>
#include <time.h>

#include "sriov/sriov.h"
#include "util/log.h"
#include "util/output.h"
#include "util/root.h"
#include "util/state.h"
#include "verb.h"

#define LOCK_TIMEOUT_MS 10000

static const char *errname(int err)
{
	const char *n = strerrorname_np(err < 0 ? -err : err);
	return n ? n : "?";
}

/* The PF argument: a bad address, a missing device or a non-SR-IOV device is bad input (exit 2). */
static int load_pf(const struct verb_ctx *ctx, const char *verb, const char *arg, struct sriov_pf **ret)
{
	struct pci_addr a;
	int r;

	if (pci_addr_parse(arg, &a) < 0)
		return verb_usage_error(ctx, verb, "%s: not a PCI address (expected DDDD:BB:DD.F, e.g. 0000:03:00.0)",
					arg);
	_cleanup_free_ char *why = NULL;
	r = sriov_pf_load_why(arg, ret, &why);
	if (r == -ENODEV) {
		log_error("%s: no such PCI device (see ptctl list)", arg);
		return EXIT_USAGE;
	}
	if (r == -EOPNOTSUPP) {
		log_error("%s: not an SR-IOV physical function (no sriov_totalvfs, or it is a VF itself)", arg);
		return EXIT_USAGE;
	}
	if (r < 0) {
		log_error("%s: cannot read its SR-IOV state: %s", arg, why ? why : strerror(-r));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static int take_lock(const char *object)
{
	int fd = state_lock(LOCK_TIMEOUT_MS);
	if (fd == -ETIMEDOUT)
		log_error("%s: another ptctl is changing the host (" STATE_DIR "/lock is held); try again", object);
	else if (fd < 0)
		log_error("%s: cannot take " STATE_DIR "/lock: %s%s", object, strerror(-fd),
			  fd == -EACCES || fd == -EPERM ? " (run as root)" : "");
	return fd;
}

/* ---- show ---- */

static int add_settings(json_object *o, const struct sriov_vf_settings *s)
{
	char mac[18];
	int r = 0;

	sriov_mac_format(s->mac, mac);
	r |= (s->mask & SRIOV_SET_MAC) ? json_add_str(o, "mac", mac) : json_add_null(o, "mac");
	r |= json_add_int(o, "vlan", s->vlan);
	r |= json_add_int(o, "qos", s->qos);
	r |= (s->mask & SRIOV_SET_SPOOFCHK) ? json_add_bool(o, "spoofchk", s->spoofchk) : json_add_null(o, "spoofchk");
	r |= (s->mask & SRIOV_SET_TRUST) ? json_add_bool(o, "trust", s->trust) : json_add_null(o, "trust");
	r |= (s->mask & SRIOV_SET_STATE) ? json_add_str(o, "link_state", sriov_link_state_to_string(s->state))
					 : json_add_null(o, "link_state");
	r |= json_add_int(o, "min_tx_rate", s->min_rate);
	r |= json_add_int(o, "max_tx_rate", s->max_rate);
	return r ? -ENOMEM : 0;
}

static int add_null_settings(json_object *o)
{
	static const char *const keys[] = { "mac", "vlan", "qos", "spoofchk", "trust", "link_state",
					    "min_tx_rate", "max_tx_rate" };
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (json_add_null(o, keys[i]) < 0)
			return -ENOMEM;
	return 0;
}

/* Why the VF settings columns are empty, or NULL when they come from the kernel. */
static const char *netlink_unavailable(const struct sriov_pf *pf)
{
	if (!pf->netdev)
		return "the PF has no network interface";
	if (*root_get())
		return "not read under PTCTL_ROOT (the settings live in the running kernel)";
	if (pf->ifindex <= 0)
		return "the PF's interface index is unknown";
	return NULL;
}

static int pf_to_json(const struct sriov_pf *pf, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object(), *vfs = json_object_new_array();
	const char *why = netlink_unavailable(pf);
	char reason[256];
	int r = 0;

	if (!o || !vfs)
		return -ENOMEM;
	r |= json_add_str(o, "address", pf->address);
	r |= json_add_str(o, "driver", pf->driver);
	r |= json_add_str(o, "netdev", pf->netdev);
	r |= pf->iommu_group >= 0 ? json_add_int(o, "iommu_group", pf->iommu_group) : json_add_null(o, "iommu_group");
	r |= json_add_int(o, "total_vfs", pf->total_vfs);
	r |= json_add_int(o, "num_vfs", pf->num_vfs);
	r |= json_add_bool(o, "drivers_autoprobe", pf->autoprobe);
	if (r)
		return -ENOMEM;
	for (size_t i = 0; i < pf->n_vfs; i++) {
		const struct sriov_vf *vf = &pf->vfs[i];
		json_object *v = json_object_new_object();
		_cleanup_free_ char *use = NULL;
		struct sriov_vf_settings s;

		if (!v || json_object_array_add(vfs, v) < 0) {
			json_object_put(v);
			return -ENOMEM;
		}
		r |= json_add_int(v, "vf", vf->index);
		r |= json_add_str(v, "address", vf->address[0] ? vf->address : NULL);
		r |= vf->iommu_group >= 0 ? json_add_int(v, "iommu_group", vf->iommu_group)
					  : json_add_null(v, "iommu_group");
		r |= json_add_str(v, "driver", vf->driver);
		r |= json_add_str(v, "netdev", vf->netdev);
		if (sriov_vf_in_use(vf, &use) < 0)
			use = NULL;
		r |= json_add_str(v, "in_use", use);
		if (!why) {
			int k = sriov_vf_get(&sriov_nl_kernel, pf->ifindex, vf->index, &s);
			if (k < 0) {
				snprintf(reason, sizeof(reason), "reading VF settings over rtnetlink failed: %s",
					 strerror(-k));
				why = reason;
			}
		}
		r |= why ? add_null_settings(v) : add_settings(v, &s);
		if (r)
			return -ENOMEM;
	}
	r |= json_add_str(o, "vf_settings_unavailable", why);
	r |= json_add(o, "vfs", TAKE_PTR(vfs));
	if (r)
		return -ENOMEM;
	*ret = TAKE_PTR(o);
	return 0;
}

static int show_run(int argc, char **argv, const struct verb_ctx *ctx)
{
	static const struct option opts[] = { { NULL, 0, NULL, 0 } };
	_cleanup_sriov_pf_ struct sriov_pf *pf = NULL;
	_cleanup_json_ json_object *o = NULL;
	int r;

	if (getopt_long(argc, argv, "", opts, NULL) >= 0)
		return verb_usage_error(ctx, "sriov show", "unknown option");
	if (optind + 1 != argc)
		return verb_usage_error(ctx, "sriov show", "expected one PF address");
	r = load_pf(ctx, "sriov show", argv[optind], &pf);
	if (r != EXIT_OK)
		return r;
	r = pf_to_json(pf, &o);
	if (r >= 0)
		r = out_record(stdout, o);
	if (r < 0) {
		log_error("%s: %s", pf->address, strerror(-r));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

PTCTL_VERB(sriov_show, .name = "sriov show", .synopsis = "PF",
	   .summary = "show a physical function's VFs and their settings", .flags = VERB_JSON, .run = show_run,
	   .help = "DESCRIPTION\n"
		   "    Shows the SR-IOV state of the physical function PF (DDDD:BB:DD.F, or BB:DD.F in\n"
		   "    domain 0): how many VFs it supports and has, whether host VF drivers probe new VFs\n"
		   "    (sriov_drivers_autoprobe), and for each VF its PCI address, IOMMU group, driver and\n"
		   "    whether it is in use. For a PF with a network interface, each VF's MAC address,\n"
		   "    VLAN and QoS, spoof checking, trust, link state and transmit rate limits are read\n"
		   "    from the PF driver over rtnetlink (as `ip link show` shows them). PFs without one\n"
		   "    (NVMe) show the sysfs part only.\n\n"
		   "OPTIONS\n"
		   "    none besides the common ones.\n\n"
		   "JSON\n"
		   "    One object:\n"
		   "    address            the PF's PCI address\n"
		   "    driver             the PF's driver, null when unbound\n"
		   "    netdev             the PF's network interface, null when it has none\n"
		   "    iommu_group        the PF's IOMMU group number, null without an IOMMU\n"
		   "    total_vfs          sriov_totalvfs: the most VFs the PF supports\n"
		   "    num_vfs            sriov_numvfs: VFs enabled now\n"
		   "    drivers_autoprobe  sriov_drivers_autoprobe: host drivers probe new VFs\n"
		   "    vf_settings_unavailable  why the VF settings below are null, or null\n"
		   "    vfs                array of objects, one per VF, ordered by vf:\n"
		   "      vf               VF index (the N of virtfnN; what `ptctl sriov set` takes)\n"
		   "      address          PCI address, iommu_group number (null: none yet), driver,\n"
		   "      iommu_group,     netdev (the VF's own interface when a host driver has it)\n"
		   "      driver, netdev\n"
		   "      in_use           why the VF is in use (open through /dev/vfio, or recorded as\n"
		   "                       assigned), null when it is not\n"
		   "      mac              \"52:54:00:12:34:56\"; vlan 0-4095 (0: untagged); qos 0-7\n"
		   "      spoofchk, trust  booleans, null when the PF driver does not report them\n"
		   "      link_state       \"auto\", \"enable\" or \"disable\"\n"
		   "      min_tx_rate, max_tx_rate   Mbit/s, 0 = no limit\n\n"
		   "EXAMPLES\n"
		   "    ptctl sriov show 0000:01:00.0\n"
		   "    ptctl sriov show 01:00.0 --json | jq '.vfs[] | {address, mac}'\n");

/* ---- create, destroy ---- */

struct reporter {
	bool dry_run;
	bool tty;
	bool progressed;
	json_object *steps; /* with --json, a dry run's writes: [{file, value}] */
};

static void on_step(const char *path, const char *value, void *userdata)
{
	struct reporter *rep = userdata;
	json_object *o;

	if (!rep->dry_run)
		return;
	if (!rep->steps) {
		printf("would write %s to %s\n", value, path);
		return;
	}
	o = json_object_new_object();
	if (!o || json_add_str(o, "file", path) < 0 || json_add_str(o, "value", value) < 0 ||
	    json_object_array_add(rep->steps, o) < 0)
		json_object_put(o); /* the plan comes out short; out of memory here is beyond repair */
}

/* The result of create/destroy as JSON: {address, num_vfs, was, drivers_autoprobe, vfs, ms}. */
static int print_change_json(const struct sriov_pf *pf, const struct sriov_pf *after, unsigned count, int64_t ms)
{
	_cleanup_json_ json_object *o = json_object_new_object();
	json_object *vfs = json_object_new_array();
	int r = 0;

	if (!o || json_add(o, "vfs", vfs) < 0)
		return -ENOMEM;
	r |= json_add_str(o, "address", pf->address);
	r |= json_add_int(o, "num_vfs", after ? after->num_vfs : count);
	r |= json_add_int(o, "was", pf->num_vfs);
	r |= json_add_bool(o, "drivers_autoprobe", after ? after->autoprobe : pf->autoprobe);
	r |= json_add_int(o, "ms", ms);
	for (size_t i = 0; after && i < after->n_vfs && !r; i++) {
		json_object *a = json_object_new_string(after->vfs[i].address);
		if (!a || json_object_array_add(vfs, a) < 0) {
			json_object_put(a);
			r = -ENOMEM;
		}
	}
	return r ? -ENOMEM : out_record(stdout, o);
}

static void on_progress(unsigned present, unsigned wanted, void *userdata)
{
	struct reporter *rep = userdata;
	fprintf(stderr, "%swaiting for VFs: %u/%u%s", rep->tty ? "\r" : "", present, wanted, rep->tty ? "" : "\n");
	rep->progressed = true;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void report_change_error(const struct sriov_pf *pf, unsigned count, int r, const struct sriov_change_opts *o,
				const struct sriov_change_error *e)
{
	char rb[160] = "";

	if (e->rollback < 0)
		snprintf(rb, sizeof(rb), "; putting back %u VFs failed too (%s): check sriov_numvfs by hand",
			 pf->num_vfs, strerror(-e->rollback));
	else if (r != -EBUSY && r != -ERANGE && !e->changed)
		snprintf(rb, sizeof(rb), "; nothing was changed");
	else if (r != -EBUSY && r != -ERANGE)
		snprintf(rb, sizeof(rb), "; %u VFs and autoprobe %s restored", pf->num_vfs, pf->autoprobe ? "on" : "off");
	switch (r) {
	case -EBUSY:
		/* A VF a running VM holds goes back when that VM ends: that is the thing to do, not release. */
		log_error("%s: cannot change %u -> %u VFs: VF %s is in use: %s (%s)", pf->address, pf->num_vfs, count,
			  e->vf, e->reason ? e->reason : "?",
			  e->reason && startswith(e->reason, "assigned to VM") ? "stop that VM first, or use --force"
									: "release it first, or use --force");
		break;
	case -ETIMEDOUT:
		log_error("%s: the PF driver did not deliver the VFs within %d s: %s%s (see the kernel log; raise "
			  "--timeout for slow devices)",
			  pf->address, (o->timeout_ms > 0 ? o->timeout_ms : 60000) / 1000, e->reason ? e->reason : "",
			  rb);
		break;
	case -ENOENT:
		log_error("%s: %s cannot configure SR-IOV through sysfs (no driver bound, or the driver lacks "
			  "sriov_configure)%s",
			  pf->address, pf->driver ? pf->driver : "no driver", rb);
		break;
	case -ENOMEM:
		log_error("%s: the kernel could not enable %u VFs: out of memory or PCI resources (bus numbers, "
			  "MMIO for VF BARs; see the kernel log)%s",
			  pf->address, count, rb);
		break;
	case -EACCES:
	case -EPERM:
		log_error("%s: permission denied writing sriov_numvfs (run as root)%s", pf->address, rb);
		break;
	default:
		log_error("%s: changing %u -> %u VFs failed: %s (%s)%s", pf->address, pf->num_vfs, count,
			  strerror(-r), errname(r), rb);
	}
}

static int change(const struct verb_ctx *ctx, const char *verb, const char *arg, int count, struct sriov_change_opts *o)
{
	_cleanup_sriov_pf_ struct sriov_pf *pf = NULL;
	_cleanup_sriov_pf_ struct sriov_pf *after = NULL;
	_cleanup_close_ int lock = -1;
	struct sriov_change_error e;
	_cleanup_json_ json_object *steps = ctx->json && ctx->dry_run ? json_object_new_array() : NULL;
	struct reporter rep = { .dry_run = ctx->dry_run, .tty = isatty(STDERR_FILENO), .steps = steps };
	int64_t t0;
	int r;

	r = load_pf(ctx, verb, arg, &pf);
	if (r != EXIT_OK)
		return r;
	if ((unsigned)count > pf->total_vfs) {
		log_error("%s: %d VFs requested, the device supports at most %u", pf->address, count, pf->total_vfs);
		return EXIT_USAGE;
	}
	if (!ctx->dry_run && (lock = take_lock(pf->address)) < 0)
		return EXIT_FAIL;
	o->dry_run = ctx->dry_run;
	o->step = on_step;
	o->progress = on_progress;
	o->userdata = &rep;
	t0 = now_ms();
	r = sriov_pf_set_num_vfs(pf->address, (unsigned)count, o, &e);
	if (rep.progressed && rep.tty)
		fputc('\n', stderr);
	if (r < 0) {
		report_change_error(pf, (unsigned)count, r, o, &e);
		sriov_change_error_done(&e);
		return r == -ERANGE ? EXIT_USAGE : EXIT_FAIL;
	}
	if (ctx->dry_run && ctx->json) {
		static const struct out_column cols[] = { { "file", "FILE" }, { "value", "VALUE" } };
		if (!steps)
			return EXIT_FAIL;
		return out_table(stdout, steps, cols, ARRAY_SIZE(cols)) < 0 ? EXIT_FAIL : EXIT_OK;
	}
	if (ctx->dry_run) {
		if (r == 1)
			printf("%s: already has %u VFs; nothing to change\n", pf->address, pf->num_vfs);
		return EXIT_OK;
	}
	if (ctx->json) {
		if (r != 1 && count)
			(void)sriov_pf_load(pf->address, &after);
		return print_change_json(pf, r == 1 ? pf : after, r == 1 ? pf->num_vfs : (unsigned)count,
					 now_ms() - t0) < 0 ? EXIT_FAIL : EXIT_OK;
	}
	if (r == 1) {
		printf("%s: already has %u VFs; nothing to change\n", pf->address, pf->num_vfs);
		return EXIT_OK;
	}
	if (sriov_pf_load(pf->address, &after) < 0 || !count) {
		printf("%s: %d VFs (was %u) in %lld ms\n", pf->address, count, pf->num_vfs, (long long)(now_ms() - t0));
		return EXIT_OK;
	}
	printf("%s: %u VFs (was %u), drivers autoprobe %s, in %lld ms:", after->address, after->num_vfs, pf->num_vfs,
	       after->autoprobe ? "on" : "off", (long long)(now_ms() - t0));
	for (size_t i = 0; i < after->n_vfs; i++)
		printf(" %s", after->vfs[i].address);
	putchar('\n');
	return EXIT_OK;
}

static int parse_timeout(const char *s, int *ms)
{
	int v;
	if (parse_int(s, &v) < 0 || v <= 0 || v > 3600)
		return -EINVAL;
	*ms = v * 1000;
	return 0;
}

static int create_run(int argc, char **argv, const struct verb_ctx *ctx)
{
	static const struct option opts[] = { { "autoprobe", no_argument, NULL, 'a' },
					      { "force", no_argument, NULL, 'f' },
					      { "timeout", required_argument, NULL, 't' },
					      { NULL, 0, NULL, 0 } };
	struct sriov_change_opts o = { 0 };
	int c, count;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (c) {
		case 'a':
			o.autoprobe = true;
			break;
		case 'f':
			o.force = true;
			break;
		case 't':
			if (parse_timeout(optarg, &o.timeout_ms) < 0)
				return verb_usage_error(ctx, "sriov create", "--timeout wants seconds (1-3600), not '%s'",
							optarg);
			break;
		default:
			return verb_usage_error(ctx, "sriov create", "unknown option");
		}
	}
	if (optind + 2 != argc)
		return verb_usage_error(ctx, "sriov create", "expected PF and COUNT");
	if (parse_int(argv[optind + 1], &count) < 0 || count < 0)
		return verb_usage_error(ctx, "sriov create", "COUNT must be a number, not '%s'", argv[optind + 1]);
	if (count == 0)
		return verb_usage_error(ctx, "sriov create", "COUNT must be at least 1 (ptctl sriov destroy PF removes VFs)");
	return change(ctx, "sriov create", argv[optind], count, &o);
}

PTCTL_VERB(sriov_create, .name = "sriov create", .synopsis = "PF COUNT [--autoprobe] [--force] [--timeout S]",
	   .summary = "create COUNT virtual functions on a physical function", .flags = VERB_JSON | VERB_DRY_RUN,
	   .run = create_run,
	   .help = "DESCRIPTION\n"
		   "    Enables COUNT VFs on the physical function PF and waits until every VF exists in\n"
		   "    sysfs with its IOMMU group (when the PF has one). By default host VF drivers are kept\n"
		   "    off the new VFs (sriov_drivers_autoprobe=0), because VFs meant for pass-through must\n"
		   "    not be grabbed by igbvf, iavf and the like.\n\n"
		   "    The kernel only changes a non-zero count through 0, so changing it destroys the\n"
		   "    existing VFs first: that is refused while any of them is in use (bound to vfio-pci\n"
		   "    with its /dev/vfio group open by a process, or recorded as assigned under\n"
		   "    " STATE_DIR "/assigned), unless --force. If the PF already has COUNT VFs they are\n"
		   "    kept and only the autoprobe setting is applied.\n\n"
		   "    If a write fails or the VFs do not all appear in time, the previous count and\n"
		   "    autoprobe setting are restored. While waiting longer than a second, progress is\n"
		   "    shown on stderr (\"waiting for VFs: 3/8\"). On success one line names the new VFs\n"
		   "    and how long it took. Changes run under ptctl's host lock (" STATE_DIR "/lock).\n\n"
		   "OPTIONS\n"
		   "    --autoprobe   let host VF drivers probe the new VFs (sriov_drivers_autoprobe=1)\n"
		   "    --force       change the count even if a VF is in use (its user loses it)\n"
		   "    --timeout S   seconds to wait for the VFs (default 60; real NICs with dozens of\n"
		   "                  VFs can take close to a minute)\n\n"
		   "EXIT STATUS DETAILS\n"
		   "    2 also when COUNT exceeds sriov_totalvfs or PF is not an SR-IOV PF.\n\n"
		   "EXAMPLES\n"
		   "    ptctl sriov create 0000:01:00.0 4\n"
		   "    ptctl sriov create 01:00.0 2 --autoprobe --timeout 120\n"
		   "    ptctl --dry-run sriov create 01:00.0 4\n");

static int destroy_run(int argc, char **argv, const struct verb_ctx *ctx)
{
	static const struct option opts[] = { { "force", no_argument, NULL, 'f' },
					      { "timeout", required_argument, NULL, 't' },
					      { NULL, 0, NULL, 0 } };
	struct sriov_change_opts o = { 0 };
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (c) {
		case 'f':
			o.force = true;
			break;
		case 't':
			if (parse_timeout(optarg, &o.timeout_ms) < 0)
				return verb_usage_error(ctx, "sriov destroy", "--timeout wants seconds (1-3600), not '%s'",
							optarg);
			break;
		default:
			return verb_usage_error(ctx, "sriov destroy", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return verb_usage_error(ctx, "sriov destroy", "expected one PF address");
	return change(ctx, "sriov destroy", argv[optind], 0, &o);
}

PTCTL_VERB(sriov_destroy, .name = "sriov destroy", .synopsis = "PF [--force]",
	   .summary = "remove all virtual functions of a physical function", .flags = VERB_JSON | VERB_DRY_RUN,
	   .run = destroy_run,
	   .help = "DESCRIPTION\n"
		   "    Sets the VF count of PF to 0, after the same in-use check as `ptctl sriov create`\n"
		   "    (a VF bound to vfio-pci whose group is open, or recorded as assigned, blocks it),\n"
		   "    and waits until the VFs are gone. The autoprobe setting is left as it is. A PF\n"
		   "    without VFs is not an error.\n\n"
		   "OPTIONS\n"
		   "    --force       destroy even if a VF is in use (its user loses the device)\n"
		   "    --timeout S   seconds to wait for the VFs to go (default 60)\n\n"
		   "EXAMPLES\n"
		   "    ptctl sriov destroy 0000:01:00.0\n"
		   "    ptctl --dry-run sriov destroy 01:00.0\n");

/* ---- set ---- */

static int parse_onoff(const char *s, bool *ret)
{
	if (streq(s, "on"))
		*ret = true;
	else if (streq(s, "off"))
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

static int parse_u32_arg(const char *s, uint32_t max, uint32_t *ret)
{
	uint64_t v;
	if (parse_u64(s, 10, &v) < 0 || v > max)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

/* KEYWORD VALUE pairs into settings; a message names the offending word. */
static int parse_settings(const struct verb_ctx *ctx, int argc, char **argv, struct sriov_vf_settings *s)
{
	const char *V = "sriov set";
	uint32_t u;

	*s = (struct sriov_vf_settings){ 0 };
	for (int i = 0; i < argc; i += 2) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		unsigned bit = streq(k, "mac") ? SRIOV_SET_MAC : streq(k, "vlan") ? SRIOV_SET_VLAN :
			       streq(k, "qos") ? SRIOV_SET_VLAN : streq(k, "spoofchk") ? SRIOV_SET_SPOOFCHK :
			       streq(k, "trust") ? SRIOV_SET_TRUST : streq(k, "state") ? SRIOV_SET_STATE :
			       streq(k, "rate") ? SRIOV_SET_RATE : 0;
		if (!bit)
			return verb_usage_error(ctx, V, "unknown setting '%s' (mac, vlan, qos, spoofchk, trust, "
						"state, rate)", k);
		if (!v)
			return verb_usage_error(ctx, V, "'%s' needs a value", k);
		if (streq(k, "qos")) {
			if (!(s->mask & SRIOV_SET_VLAN) || !streq(argv[i - 2], "vlan"))
				return verb_usage_error(ctx, V, "qos goes right after vlan V");
			if (parse_u32_arg(v, 7, &u) < 0)
				return verb_usage_error(ctx, V, "qos %s: must be 0-7", v);
			s->qos = (uint8_t)u;
			continue;
		}
		if (s->mask & bit)
			return verb_usage_error(ctx, V, "'%s' given twice", k);
		s->mask |= bit;
		switch (bit) {
		case SRIOV_SET_MAC:
			if (sriov_mac_parse(v, s->mac) < 0)
				return verb_usage_error(ctx, V, "mac %s: not a MAC address (like 52:54:00:12:34:56)", v);
			break;
		case SRIOV_SET_VLAN:
			if (parse_u32_arg(v, 4095, &u) < 0)
				return verb_usage_error(ctx, V, "vlan %s: must be 0-4095 (0: untagged)", v);
			s->vlan = (uint16_t)u;
			break;
		case SRIOV_SET_SPOOFCHK:
		case SRIOV_SET_TRUST: {
			bool b;
			if (parse_onoff(v, &b) < 0)
				return verb_usage_error(ctx, V, "%s %s: must be on or off", k, v);
			*(bit == SRIOV_SET_TRUST ? &s->trust : &s->spoofchk) = b;
			break;
		}
		case SRIOV_SET_STATE: {
			int st = sriov_link_state_from_string(v);
			if (st < 0)
				return verb_usage_error(ctx, V, "state %s: must be auto, enable or disable", v);
			s->state = (enum sriov_link_state)st;
			break;
		}
		case SRIOV_SET_RATE: {
			_cleanup_free_ char *min = strdup(v);
			char *max = min ? strchr(min, ':') : NULL;
			if (!max)
				return verb_usage_error(ctx, V, "rate %s: must be MIN:MAX in Mbit/s (0: no limit)", v);
			*max++ = '\0';
			if (parse_u32_arg(min, UINT32_MAX, &s->min_rate) < 0 ||
			    parse_u32_arg(max, UINT32_MAX, &s->max_rate) < 0)
				return verb_usage_error(ctx, V, "rate %s: must be MIN:MAX in Mbit/s (0: no limit)", v);
			break;
		}
		}
	}
	if (!s->mask)
		return verb_usage_error(ctx, V, "nothing to set");
	return EXIT_OK;
}

static void describe(const struct sriov_vf_settings *s, unsigned bit, char *buf, size_t len)
{
	char mac[18];
	switch (bit) {
	case SRIOV_SET_MAC:
		sriov_mac_format(s->mac, mac);
		snprintf(buf, len, "mac %s", (s->mask & bit) ? mac : "(unknown)");
		break;
	case SRIOV_SET_VLAN:
		snprintf(buf, len, "vlan %u qos %u", s->vlan, s->qos);
		break;
	case SRIOV_SET_SPOOFCHK:
		snprintf(buf, len, "spoofchk %s", !(s->mask & bit) ? "(not reported)" : s->spoofchk ? "on" : "off");
		break;
	case SRIOV_SET_TRUST:
		snprintf(buf, len, "trust %s", !(s->mask & bit) ? "(not reported)" : s->trust ? "on" : "off");
		break;
	case SRIOV_SET_STATE:
		snprintf(buf, len, "state %s", !(s->mask & bit) ? "(not reported)" : sriov_link_state_to_string(s->state));
		break;
	case SRIOV_SET_RATE:
		snprintf(buf, len, "rate %u:%u", s->min_rate, s->max_rate);
		break;
	default:
		snprintf(buf, len, "?");
	}
}

static int set_run(int argc, char **argv, const struct verb_ctx *ctx)
{
	static const struct option opts[] = { { NULL, 0, NULL, 0 } };
	_cleanup_sriov_pf_ struct sriov_pf *pf = NULL;
	_cleanup_json_ json_object *o = NULL;
	_cleanup_close_ int lock = -1;
	struct sriov_vf_settings s, got;
	struct sriov_set_error e;
	const char *what = NULL;
	char want[64], have[64];
	int vf, r;

	/* "+": settings are words, and stopping at the first one keeps getopt from reordering them. */
	if (getopt_long(argc, argv, "+", opts, NULL) >= 0)
		return verb_usage_error(ctx, "sriov set", "unknown option");
	if (argc - optind < 3)
		return verb_usage_error(ctx, "sriov set", "expected PF, VF and at least one setting");
	if (parse_int(argv[optind + 1], &vf) < 0 || vf < 0)
		return verb_usage_error(ctx, "sriov set", "VF must be a VF index (0, 1, ...), not '%s'", argv[optind + 1]);
	r = parse_settings(ctx, argc - optind - 2, argv + optind + 2, &s);
	if (r != EXIT_OK)
		return r;
	if (sriov_vf_settings_validate(&s, &what) < 0) {
		if (streq(what, "mac"))
			log_error("%s VF %d: mac: a VF needs a unicast, non-zero MAC address; nothing changed",
				  argv[optind], vf);
		else if (streq(what, "vlan"))
			log_error("%s VF %d: qos needs a VLAN other than 0; nothing changed", argv[optind], vf);
		else
			log_error("%s VF %d: rate: MIN must not exceed MAX; nothing changed", argv[optind], vf);
		return EXIT_USAGE;
	}
	r = load_pf(ctx, "sriov set", argv[optind], &pf);
	if (r != EXIT_OK)
		return r;
	if (!pf->netdev) {
		log_error("%s: VF settings are set through the PF's network interface, and this PF (driver %s) has "
			  "none: MAC, VLAN, spoofchk, trust, state and rate exist for network PFs only; nothing changed",
			  pf->address, pf->driver ? pf->driver : "none");
		return EXIT_USAGE;
	}
	if ((unsigned)vf >= pf->num_vfs) {
		if (pf->num_vfs)
			log_error("%s: has no VF %d: it has %u VFs (0-%u); nothing changed", pf->address, vf,
				  pf->num_vfs, pf->num_vfs - 1);
		else
			log_error("%s: has no VFs (create them with ptctl sriov create); nothing changed", pf->address);
		return EXIT_USAGE;
	}
	if (ctx->dry_run && ctx->json) {
		/* The plan: what would be sent (settings not given are null), nothing read back. */
		o = json_object_new_object();
		if (!o || json_add_str(o, "pf", pf->address) < 0 || json_add_int(o, "vf", vf) < 0 ||
		    json_add_str(o, "netdev", pf->netdev) < 0 || json_add_int(o, "ifindex", pf->ifindex) < 0 ||
		    add_settings(o, &s) < 0)
			return EXIT_FAIL;
		if (!(s.mask & SRIOV_SET_VLAN) && (json_add_null(o, "vlan") < 0 || json_add_null(o, "qos") < 0))
			return EXIT_FAIL;
		if (!(s.mask & SRIOV_SET_RATE) &&
		    (json_add_null(o, "min_tx_rate") < 0 || json_add_null(o, "max_tx_rate") < 0))
			return EXIT_FAIL;
		return out_record(stdout, o) < 0 ? EXIT_FAIL : EXIT_OK;
	}
	if (ctx->dry_run) {
		printf("would set on %s (PF %s, ifindex %d) VF %d:", pf->netdev, pf->address, pf->ifindex, vf);
		for (unsigned bit = 1; bit & SRIOV_SET_ALL; bit <<= 1)
			if (s.mask & bit) {
				describe(&s, bit, want, sizeof(want));
				printf(" %s", want);
			}
		putchar('\n');
		return EXIT_OK;
	}
	if (netlink_unavailable(pf)) {
		log_error("%s: cannot set VF settings: %s", pf->address, netlink_unavailable(pf));
		return EXIT_FAIL;
	}
	if ((lock = take_lock(pf->address)) < 0)
		return EXIT_FAIL;
	r = sriov_vf_set(&sriov_nl_kernel, pf->ifindex, (unsigned)vf, &s, &e);
	if (r < 0) {
		char rb[128] = "; the settings already applied were put back";
		if (e.rollback < 0)
			snprintf(rb, sizeof(rb), "; putting back the settings already applied failed (%s)",
				 strerror(-e.rollback));
		if (!e.setting) {
			log_error("%s VF %d: cannot read VF settings from %s over rtnetlink: %s (%s)", pf->address, vf,
				  pf->netdev, strerror(-r), errname(r));
		} else if (r == -EIO) {
			describe(&s, e.setting, want, sizeof(want));
			describe(&e.got, e.setting, have, sizeof(have));
			log_error("%s VF %d: the kernel accepted %s but reports %s%s", pf->address, vf, want, have, rb);
		} else {
			describe(&s, e.setting, want, sizeof(want));
			log_error("%s VF %d: %s: %s (the kernel said %s%s%s)%s", pf->address, vf, want, sriov_set_strerror(r),
				  errname(r), e.kernel_msg[0] ? ": " : "", e.kernel_msg, rb);
		}
		return EXIT_FAIL;
	}
	if (sriov_vf_get(&sriov_nl_kernel, pf->ifindex, (unsigned)vf, &got) < 0)
		return EXIT_OK; /* verified already inside sriov_vf_set */
	o = json_object_new_object();
	if (!o || json_add_str(o, "pf", pf->address) < 0 || json_add_int(o, "vf", vf) < 0 ||
	    json_add_str(o, "address", pf->vfs && (unsigned)vf < pf->n_vfs ? pf->vfs[vf].address : NULL) < 0 ||
	    add_settings(o, &got) < 0 || out_record(stdout, o) < 0)
		return EXIT_FAIL;
	return EXIT_OK;
}

PTCTL_VERB(sriov_set, .name = "sriov set",
	   .synopsis = "PF VF [mac M] [vlan V [qos Q]] [spoofchk on|off] [trust on|off] [state auto|enable|disable] "
		       "[rate MIN:MAX]",
	   .summary = "set a virtual function's MAC, VLAN, trust and other settings", .flags = VERB_JSON | VERB_DRY_RUN,
	   .run = set_run,
	   .help = "DESCRIPTION\n"
		   "    Sets VF number VF (0 .. num_vfs-1, as `ptctl sriov show` lists them) of the physical\n"
		   "    function PF through the PF's network interface over rtnetlink, then reads the VF\n"
		   "    back and checks every setting took. Settings are sent one at a time, so a refusal\n"
		   "    names exactly the setting the PF driver refused and the kernel's error; the settings\n"
		   "    applied before it are put back, and so are all of them when the read-back differs.\n"
		   "    All input is checked before anything is sent.\n\n"
		   "    Only PFs with a network interface have these settings; for others (NVMe) the verb\n"
		   "    is refused and says so.\n\n"
		   "SETTINGS\n"
		   "    mac M          the VF's MAC address, unicast and not all zero (52:54:00:12:34:56)\n"
		   "    vlan V         port VLAN 0-4095 the PF tags the VF's traffic with (0: none)\n"
		   "    qos Q          802.1p priority 0-7 for that VLAN (only after vlan V, V > 0)\n"
		   "    spoofchk on|off  drop frames the VF sends with a source MAC other than its own\n"
		   "    trust on|off   let the VF change its MAC and use promiscuous/multicast modes\n"
		   "    state auto|enable|disable  the VF's link: follow the PF, always up, always down\n"
		   "    rate MIN:MAX   transmit rate limits in Mbit/s, 0 = none (many drivers support\n"
		   "                   MAX only, and only while the PF's link is up)\n\n"
		   "JSON\n"
		   "    The VF as read back: pf, vf, address and the settings keys of `ptctl sriov show`.\n\n"
		   "EXIT STATUS DETAILS\n"
		   "    2 for bad input (a malformed or multicast MAC, VLAN > 4095, QoS > 7, MIN > MAX, a VF\n"
		   "    index the PF does not have, a PF without a network interface): nothing was sent.\n"
		   "    1 when the PF driver refused a setting or did not apply it; the rest were put back.\n\n"
		   "EXAMPLES\n"
		   "    ptctl sriov set 0000:01:00.0 0 mac 52:54:00:00:00:10 vlan 100 qos 3 spoofchk on\n"
		   "    ptctl sriov set 01:00.0 1 trust on state enable rate 0:500\n");
