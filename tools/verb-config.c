/* verb-config.c: `ptctl config check|show`: the declarative configuration as ptctl reads it. */
#include <getopt.h>

#include "util/log.h"
#include "util/output.h"
#include "verb-cfg.h"

static int parse_opts(int argc, char **argv, const struct verb_ctx *ctx, const char *verb, const char **dir)
{
	static const struct option opts[] = { { "config", required_argument, NULL, 'c' }, { NULL, 0, NULL, 0 } };
	int c;

	*dir = NULL;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c != 'c')
			return verb_usage_error(ctx, verb, "unknown option");
		*dir = optarg;
	}
	if (optind != argc)
		return verb_usage_error(ctx, verb, "unexpected argument '%s'", argv[optind]);
	return -1;
}

static int check_run(int argc, char **argv, const struct verb_ctx *ctx)
{
	_cleanup_cfg_ struct cfg *c = NULL;
	const char *dir;
	int r = parse_opts(argc, argv, ctx, "config check", &dir);

	if (r >= 0)
		return r;
	r = verb_cfg_load("config check", dir, &c);
	if (ctx->json) {
		_cleanup_json_ json_object *o = json_object_new_object();
		if (!o || json_add_bool(o, "valid", r == EXIT_OK) < 0 ||
		    json_add_int(o, "objects", c ? (int64_t)c->n_objects : 0) < 0 || out_json(stdout, o) < 0)
			return EXIT_FAIL;
	}
	return r;
}

static const struct out_column show_columns[] = {
	{ "object", "OBJECT" }, { "key", "KEY" }, { "value", "VALUE" }, { "from", "FROM" },
};

static int show_table(const struct cfg *c)
{
	_cleanup_json_ json_object *rows = json_object_new_array();
	char from[4200];

	if (!rows)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_objects; i++)
		for (size_t k = 0; k < c->objects[i].n_entries; k++) {
			const struct cfg_entry *e = &c->objects[i].entries[k];
			json_object *row = json_object_new_object();
			snprintf(from, sizeof(from), "%s:%u", e->file, e->line);
			if (!row || json_object_array_add(rows, row) < 0 ||
			    json_add_str(row, "object", k ? "" : c->objects[i].id) < 0 ||
			    json_add_str(row, "key", e->key) < 0 || json_add_str(row, "value", e->value) < 0 ||
			    json_add_str(row, "from", from) < 0)
				return -ENOMEM;
		}
	return out_table(stdout, rows, show_columns, ARRAY_SIZE(show_columns));
}

static int show_run(int argc, char **argv, const struct verb_ctx *ctx)
{
	_cleanup_cfg_ struct cfg *c = NULL;
	_cleanup_json_ json_object *o = NULL;
	const char *dir;
	int r = parse_opts(argc, argv, ctx, "config show", &dir);

	if (r >= 0)
		return r;
	r = verb_cfg_load("config show", dir, &c);
	if (r != EXIT_OK)
		return r;
	if (ctx->json)
		r = cfg_to_json(c, &o) < 0 || out_json(stdout, o) < 0 ? -EIO : 0;
	else if (!c->n_objects)
		r = (printf("no configuration (%s)\n", dir ? dir : "/etc/ptctl, /run/ptctl/conf.d, /usr/lib/ptctl"), 0);
	else
		r = show_table(c);
	if (r < 0)
		return log_error("config show: %s", strerror(-r)), EXIT_FAIL;
	return EXIT_OK;
}

PTCTL_VERB(config_check, .name = "config check", .synopsis = "[--config DIR]",
	   .summary = "parse and validate the configuration files", .flags = VERB_JSON, .run = check_run,
	   .help = "DESCRIPTION\n"
		   "    Reads every configuration file (see FILES), merges the drop-ins and checks every section,\n"
		   "    key and value, and the objects against each other (a VF index beyond VirtualFunctions=,\n"
		   "    one device assigned to two VMs, an assigned device given a host driver). Each problem is\n"
		   "    printed as FILE:LINE: what and why. Prints nothing when all is well. Reads no device.\n\n"
		   "OPTIONS\n" CFG_CONFIG_OPT_HELP "\n" CFG_FILES_HELP
		   "JSON\n"
		   "    {\"valid\": true|false, \"objects\": N}; the errors still go to stderr.\n\n"
		   "EXIT STATUS DETAILS\n"
		   "    2 when any file has an error.\n\n"
		   "EXAMPLES\n"
		   "    ptctl config check\n"
		   "    ptctl config check --config ./test-configs\n");

PTCTL_VERB(config_show, .name = "config show", .synopsis = "[--config DIR]",
	   .summary = "show the effective configuration and where each value comes from", .flags = VERB_JSON,
	   .run = show_run,
	   .help = "DESCRIPTION\n"
		   "    Prints the merged, effective configuration: one row per key of each configured object,\n"
		   "    with the file and line the value comes from (a drop-in that overrides a key shows as the\n"
		   "    source). Objects are listed by kind (Device, SR-IOV, VirtualFunction, VM), then in file\n"
		   "    order. A configuration with errors is not shown: the errors are (exit 2).\n\n"
		   "OPTIONS\n" CFG_CONFIG_OPT_HELP "\n" CFG_FILES_HELP
		   "JSON\n"
		   "    files    the files read, in the order applied\n"
		   "    objects  array of {kind (device, sriov, vf, vm), id, file, line, settings: array of\n"
		   "             {key, value, file, line}}\n\n"
		   "EXAMPLES\n"
		   "    ptctl config show\n"
		   "    ptctl config show --json | jq '.objects[] | select(.kind == \"vf\")'\n");

static const struct out_column vms_columns[] = {
	{ "name", "NAME" }, { "autostart", "AUTOSTART" }, { "assign", "ASSIGN" }, { "from", "FROM" },
};

static int vms_run(int argc, char **argv, const struct verb_ctx *ctx)
{
	static const struct option opts[] = { { "config", required_argument, NULL, 'c' },
					      { "autostart", no_argument, NULL, 'a' },
					      { "names", no_argument, NULL, 'n' },
					      { NULL, 0, NULL, 0 } };
	_cleanup_cfg_ struct cfg *c = NULL;
	_cleanup_json_ json_object *rows = json_object_new_array();
	const char *dir = NULL;
	bool autostart = false, names = false;
	char from[4200];
	int r, opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (opt == 'c')
			dir = optarg;
		else if (opt == 'a')
			autostart = true;
		else if (opt == 'n')
			names = true;
		else
			return verb_usage_error(ctx, "config vms", "unknown option");
	}
	if (optind != argc)
		return verb_usage_error(ctx, "config vms", "unexpected argument '%s'", argv[optind]);
	if (names && ctx->json)
		return verb_usage_error(ctx, "config vms", "--names and --json do not go together");
	if ((r = verb_cfg_load("config vms", dir, &c)) != EXIT_OK)
		return r;
	if (!rows)
		return EXIT_FAIL;
	for (size_t i = 0; i < c->n_objects; i++) {
		const struct cfg_object *o = &c->objects[i];
		json_object *row, *assign;
		if (o->kind != CFG_VM || (autostart && !o->vm.autostart))
			continue;
		if (names) {
			printf("%s\n", o->vm.name);
			continue;
		}
		row = json_object_new_object();
		assign = json_object_new_array();
		if (!row || !assign || json_object_array_add(rows, row) < 0)
			return json_object_put(row), json_object_put(assign), EXIT_FAIL;
		for (size_t k = 0; k < o->vm.n_assign; k++)
			json_object_array_add(assign, json_object_new_string(o->vm.assign[k].text));
		snprintf(from, sizeof(from), "%s:%u", o->file, o->line);
		if (json_add_str(row, "name", o->vm.name) < 0 || json_add_bool(row, "autostart", o->vm.autostart) < 0 ||
		    json_add(row, "assign", assign) < 0 || json_add_str(row, "from", from) < 0)
			return EXIT_FAIL;
	}
	if (!names && out_table(stdout, rows, vms_columns, ARRAY_SIZE(vms_columns)) < 0)
		return EXIT_FAIL;
	return EXIT_OK;
}

PTCTL_VERB(config_vms, .name = "config vms", .synopsis = "[--autostart] [--names] [--config DIR]",
	   .summary = "list the VMs the configuration defines", .flags = VERB_JSON, .run = vms_run,
	   .help = "DESCRIPTION\n"
		   "    Lists the [VM] sections of the configuration: name, Autostart=, the devices given with\n"
		   "    Assign= and where the section is. ptctl-vm-generator uses --autostart --names to start\n"
		   "    ptctl-vm@NAME.service for each VM with Autostart=yes at boot.\n\n"
		   "OPTIONS\n"
		   "    --autostart   only the VMs with Autostart=yes\n"
		   "    --names       print only the names, one per line (for scripts)\n" CFG_CONFIG_OPT_HELP "\n"
		   CFG_FILES_HELP
		   "JSON\n"
		   "    An array of {name, autostart, assign (array of the Assign= values), from (FILE:LINE)}.\n");
