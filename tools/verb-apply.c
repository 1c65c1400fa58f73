/* verb-apply.c: `ptctl apply` and `ptctl status`: converge the host to the configuration files and
 * report how far each configured object is from it. The work is in cfg/; this file reports. */
#include <getopt.h>

#include "util/log.h"
#include "util/output.h"
#include "verb-cfg.h"

struct apply_opts {
	const char *dir, *object;
};

static int parse_opts(int argc, char **argv, const struct verb_ctx *ctx, const char *verb, struct apply_opts *o)
{
	static const struct option opts[] = { { "config", required_argument, NULL, 'c' },
					      { "object", required_argument, NULL, 'o' },
					      { NULL, 0, NULL, 0 } };
	int c;

	*o = (struct apply_opts){ 0 };
	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c == 'c')
			o->dir = optarg;
		else if (c == 'o')
			o->object = optarg;
		else
			return verb_usage_error(ctx, verb, "unknown option");
	}
	if (optind != argc)
		return verb_usage_error(ctx, verb, "unexpected argument '%s'", argv[optind]);
	return -1;
}

static const struct out_column status_columns[] = {
	{ "id", "OBJECT" }, { "state", "STATE" }, { "detail", "DETAIL" }, { "source", "FROM" },
};

/* One row per object for the table: the drift phrases (or the reason) joined. */
static int status_rows(json_object *objs, json_object **ret)
{
	_cleanup_json_ json_object *rows = json_object_new_array();
	size_t n = json_object_array_length(objs);

	if (!rows)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(objs, i), *v, *row = json_object_new_object();
		_cleanup_free_ char *detail = NULL, *src = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&detail, &len);

		if (!row || !f || json_object_array_add(rows, row) < 0) {
			if (f)
				fclose(f);
			return -ENOMEM;
		}
		if (json_object_object_get_ex(o, "why", &v) && json_object_get_string(v))
			fputs(json_object_get_string(v), f);
		json_object_object_get_ex(o, "drift", &v);
		for (size_t k = 0; k < json_object_array_length(v); k++)
			fprintf(f, "%s%s", ftell(f) ? "; " : "", json_object_get_string(json_object_array_get_idx(v, k)));
		fclose(f);
		json_object *file, *line, *id, *state;
		json_object_object_get_ex(o, "file", &file);
		json_object_object_get_ex(o, "line", &line);
		json_object_object_get_ex(o, "id", &id);
		json_object_object_get_ex(o, "state", &state);
		if (asprintf(&src, "%s:%d", json_object_get_string(file), json_object_get_int(line)) < 0 ||
		    json_add_str(row, "id", json_object_get_string(id)) < 0 ||
		    json_add_str(row, "state", json_object_get_string(state)) < 0 ||
		    json_add_str(row, "detail", detail && *detail ? detail : NULL) < 0 || json_add_str(row, "source", src) < 0)
			return -ENOMEM;
	}
	*ret = TAKE_PTR(rows);
	return 0;
}

static int print_states(const struct cfg_plan *p)
{
	_cleanup_json_ json_object *o = NULL, *rows = NULL;
	json_object *objs;

	if (cfg_plan_to_json(p, false, &o) < 0 || !json_object_object_get_ex(o, "objects", &objs) ||
	    status_rows(objs, &rows) < 0)
		return -ENOMEM;
	return out_table(stdout, rows, status_columns, ARRAY_SIZE(status_columns));
}

static void on_step(const struct cfg_step *s, void *userdata)
{
	size_t *i = userdata;
	if (!out_is_json())
		printf("  [%zu] %s\n", ++*i, s->text);
	fflush(stdout);
}

static int report_invalid(const struct cfg_plan *p, const char *verb)
{
	for (size_t i = 0; i < p->n_states; i++)
		if (p->states[i].state == CFG_INVALID)
			log_error("%s (%s:%u): %s", p->states[i].obj->id, p->states[i].obj->file, p->states[i].obj->line,
				  p->states[i].why);
	log_error("%s: %zu configured object%s cannot be converged as configured; nothing changed", verb, p->n_invalid,
		  p->n_invalid == 1 ? "" : "s");
	return EXIT_USAGE;
}

static int json_result(const struct cfg_plan *p, const char *result, const struct cfg_apply_result *res)
{
	_cleanup_json_ json_object *o = NULL;
	if (cfg_plan_to_json(p, true, &o) < 0 || json_add_str(o, "result", result) < 0 ||
	    (res && res->failed_step >= 0 ? json_add_int(o, "failed_step", res->failed_step + 1)
					  : json_add_null(o, "failed_step")) < 0 ||
	    json_add_str(o, "error", res ? res->reason : NULL) < 0 ||
	    json_add_str(o, "rollback_error", res ? res->reason_rollback : NULL) < 0)
		return EXIT_FAIL;
	return out_json(stdout, o) < 0 ? EXIT_FAIL : EXIT_OK;
}

static int apply_run(int argc, char **argv, const struct verb_ctx *ctx)
{
	_cleanup_cfg_ struct cfg *c = NULL;
	_cleanup_cfg_plan_ struct cfg_plan *p = NULL, *after = NULL;
	struct cfg_apply_result res = { .failed_step = -1 };
	struct apply_opts o;
	size_t n = 0;
	int r = parse_opts(argc, argv, ctx, "apply", &o);

	if (r >= 0)
		return r;
	if ((r = verb_cfg_load("apply", o.dir, &c)) != EXIT_OK)
		return r;
	r = cfg_plan_new(c, o.object, NULL, &p);
	if (r < 0)
		return log_error("apply: cannot compute the plan: %s", strerror(-r)), EXIT_FAIL;
	if (o.object && !p->n_states) {
		if (ctx->json)
			return json_result(p, "nothing configured", NULL);
		printf("%s: nothing configured for it\n", o.object);
		return EXIT_OK;
	}
	if (p->n_invalid)
		return report_invalid(p, "apply");
	if (!p->n_steps) {
		if (ctx->json)
			return json_result(p, "nothing to do", NULL);
		printf("nothing to do: %zu configured object%s as configured", p->n_states, p->n_states == 1 ? "" : "s");
		for (size_t i = 0; i < p->n_states; i++)
			if (p->states[i].state == CFG_ABSENT)
				printf("%s%s absent", n++ ? ", " : " (", p->states[i].obj->id);
		printf("%s\n", n ? ")" : "");
		return EXIT_OK;
	}
	if (ctx->dry_run) {
		if (ctx->json)
			return json_result(p, "dry run", NULL);
		printf("plan: %zu step%s (dry run: nothing changed)\n", p->n_steps, p->n_steps == 1 ? "" : "s");
		for (size_t i = 0; i < p->n_steps; i++)
			printf("  [%zu] %s\n", i + 1, p->steps[i].text);
		return EXIT_OK;
	}
	if (!ctx->json)
		printf("applying %zu step%s:\n", p->n_steps, p->n_steps == 1 ? "" : "s");
	r = cfg_apply(p, NULL, on_step, &n, &res);
	if (r < 0) {
		if (res.failed_step < 0)
			log_error("apply: %s", res.reason ? res.reason : strerror(-r));
		else
			log_error("apply: step %d failed: %s; %s", res.failed_step + 1, res.reason ? res.reason : strerror(-r),
				  res.rollback < 0 ? "undoing the steps before it failed too" : res.n_done
							? "the steps before it were undone" : "nothing had changed");
		if (res.rollback < 0)
			log_error("apply: rollback: %s", res.reason_rollback ? res.reason_rollback : strerror(-res.rollback));
		if (ctx->json)
			json_result(p, "failed", &res);
		cfg_apply_result_clear(&res);
		return EXIT_FAIL;
	}
	cfg_apply_result_clear(&res);
	/* Verify: the host as read again must need nothing more. */
	r = cfg_plan_new(c, o.object, NULL, &after);
	if (r < 0)
		return log_error("apply: cannot verify: %s", strerror(-r)), EXIT_FAIL;
	if (after->n_steps) {
		log_error("apply: done, but the host still differs: %s (see ptctl status)", after->steps[0].text);
		return EXIT_FAIL;
	}
	if (ctx->json)
		return json_result(p, "applied", NULL);
	printf("applied %zu step%s; verified\n", p->n_steps, p->n_steps == 1 ? "" : "s");
	return EXIT_OK;
}

static int status_run(int argc, char **argv, const struct verb_ctx *ctx)
{
	_cleanup_cfg_ struct cfg *c = NULL;
	_cleanup_cfg_plan_ struct cfg_plan *p = NULL;
	_cleanup_json_ json_object *o = NULL;
	struct apply_opts opts;
	int r = parse_opts(argc, argv, ctx, "status", &opts);

	if (r >= 0)
		return r;
	if ((r = verb_cfg_load("status", opts.dir, &c)) != EXIT_OK)
		return r;
	r = cfg_plan_new(c, opts.object, NULL, &p);
	if (r < 0)
		return log_error("status: cannot read the host: %s", strerror(-r)), EXIT_FAIL;
	if (ctx->json)
		r = cfg_plan_to_json(p, false, &o) < 0 || out_json(stdout, o) < 0 ? -ENOMEM : 0;
	else if (!p->n_states)
		r = (printf("nothing configured\n"), 0);
	else
		r = print_states(p);
	if (r < 0)
		return log_error("status: %s", strerror(-r)), EXIT_FAIL;
	return EXIT_OK;
}

#define OBJECT_OPT_HELP                                                                                         \
	"    --object NAME|ADDRESS  only the objects that concern NAME (a VM name, a PF's interface name) or\n"  \
	"                  ADDRESS (a configured device, a PF, a VF by its own address, or a device a [Device]\n" \
	"                  Match= covers); what the udev rule runs when a device appears\n"

PTCTL_VERB(apply, .name = "apply", .synopsis = "[--object NAME|ADDRESS] [--config DIR]",
	   .summary = "converge the host to the configuration files", .flags = VERB_JSON | VERB_DRY_RUN,
	   .run = apply_run,
	   .help = "DESCRIPTION\n"
		   "    Reads the configuration (see FILES), compares it with the host as ptctl's modules read it\n"
		   "    (VF counts and drivers autoprobe in sysfs, VF settings over rtnetlink, device drivers), and\n"
		   "    carries out the difference as ordered steps: VF counts first, then VF settings, then driver\n"
		   "    bindings. Each step goes through the same checks as the verbs that do it by hand (`ptctl\n"
		   "    sriov create|set`, `ptctl bind|release`: IOMMU group viability, devices in use, verification\n"
		   "    by reading back), under ptctl's host lock. Afterwards the host is read again and must need\n"
		   "    nothing more.\n\n"
		   "    Idempotent: when the host is already as configured it prints \"nothing to do\" and changes\n"
		   "    nothing. Objects whose device is not there (yet) are skipped and listed as absent; the udev\n"
		   "    rule applies them when the device appears.\n\n"
		   "    If a step fails, the steps before it are undone in reverse (VF counts and autoprobe\n"
		   "    restored, VF settings put back, devices returned to their drivers) and the failure is\n"
		   "    recorded so `ptctl status` shows the object as failed. VMs are not started here: Autostart=\n"
		   "    VMs run under ptctl-vm@NAME.service.\n\n"
		   "OPTIONS\n" OBJECT_OPT_HELP CFG_CONFIG_OPT_HELP "\n" CFG_FILES_HELP
		   "JSON\n"
		   "    steps        the plan: array of {action (numvfs, autoprobe, vf-set, bind, release), object,\n"
		   "                 device (null for a VF the plan creates), text}\n"
		   "    objects      as `ptctl status --json`, before the run\n"
		   "    result       \"nothing to do\", \"dry run\", \"applied\", \"failed\", \"nothing configured\"\n"
		   "    failed_step  the failing step's number (1-based) or null; error, rollback_error: text or null\n\n"
		   "EXIT STATUS DETAILS\n"
		   "    2 when the files have errors or an object cannot be converged as configured (a VF beyond\n"
		   "    sriov_totalvfs, an assigned device nothing binds to vfio-pci): nothing was changed.\n"
		   "    1 when a step failed (the steps before it were undone) or the result did not verify.\n\n"
		   "EXAMPLES\n"
		   "    ptctl apply --dry-run\n"
		   "    ptctl apply\n"
		   "    ptctl apply --object 0000:01:00.0\n");

PTCTL_VERB(status, .name = "status", .synopsis = "[--object NAME|ADDRESS] [--config DIR]",
	   .summary = "configured objects and how the host differs from them", .flags = VERB_JSON, .run = status_run,
	   .help = "DESCRIPTION\n"
		   "    Lists every configured object with its state: converged (the host is as configured),\n"
		   "    drifted (and how: each differing value, as the host has it and as configured), absent\n"
		   "    (its device is not there), invalid (it cannot be converged as configured, and why), or\n"
		   "    failed (the last `ptctl apply` failed on it, with the reason, and it still differs).\n"
		   "    Changes nothing.\n\n"
		   "OPTIONS\n" OBJECT_OPT_HELP CFG_CONFIG_OPT_HELP "\n" CFG_FILES_HELP
		   "JSON\n"
		   "    objects: array of {kind, id, state, why (null or text), drift (array of text), devices\n"
		   "    (the PCI addresses it covers), file, line}\n\n"
		   "EXAMPLES\n"
		   "    ptctl status\n"
		   "    ptctl status --json | jq '.objects[] | select(.state != \"converged\")'\n");
