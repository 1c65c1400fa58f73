/* verb.h: how a command-line verb registers itself. Each verb file declares PTCTL_VERB(...);
 * the linker gathers them into one section, so adding a verb touches no shared table. */
#pragma once

#include "util/util.h"

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,  /* the operation failed; nothing left half-done */
	EXIT_USAGE = 2, /* bad usage or bad input; nothing changed */
};

enum {
	VERB_JSON = 1 << 0,    /* accepts --json */
	VERB_DRY_RUN = 1 << 1, /* accepts --dry-run */
};

struct verb_ctx {
	bool json;
	bool dry_run;
	int verbose;
};

struct verb {
	const char *name;     /* one or two words: "list", "sriov create" */
	const char *synopsis; /* arguments after the name: "ADDRESS [--driver DRIVER]" */
	const char *summary;  /* one line for `ptctl --help` */
	const char *help;     /* the rest of the page: DESCRIPTION, OPTIONS, EXIT STATUS, EXAMPLES */
	unsigned flags;
	/* argv[0] is the verb name, so getopt_long works as usual. Returns an exit status. */
	int (*run)(int argc, char **argv, const struct verb_ctx *ctx);
};

#define PTCTL_VERB(id, ...)                                                                        \
	static const struct verb verb_##id = { __VA_ARGS__ };                                      \
	static const struct verb *const verb_ptr_##id _section_("ptctl_verbs") = &verb_##id

/* Prints "ptctl: <message>" and "Try 'ptctl <verb> --help'."; returns EXIT_USAGE. */
int verb_usage_error(const struct verb_ctx *ctx, const char *verb, const char *fmt, ...) _printf_(3, 4);
/* Exit status for a -errno from a module: -EINVAL/-ENOENT/-ENODEV style input errors are the
 * caller's to classify; this maps everything else to EXIT_FAIL. */
static inline int verb_exit(int r)
{
	return r >= 0 ? EXIT_OK : EXIT_FAIL;
}
