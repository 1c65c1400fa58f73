/* ptctl.c: the command line: global options, verb dispatch and the help pages.
 * Verbs live in their own files and register with PTCTL_VERB; this file knows none of them. */
#include <getopt.h>
#include <stdarg.h>

#include "util/log.h"
#include "util/output.h"
#include "verb.h"

#ifndef PTCTL_VERSION
#define PTCTL_VERSION "0.1"
#endif

extern const struct verb *const __start_ptctl_verbs[] __attribute__((weak));
extern const struct verb *const __stop_ptctl_verbs[] __attribute__((weak));

int verb_usage_error(const struct verb_ctx *ctx, const char *verb, const char *fmt, ...)
{
	va_list ap;
	(void)ctx;
	fputs("ptctl: ", stderr);
	if (verb)
		fprintf(stderr, "%s: ", verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'ptctl %s%s--help'.\n", verb ? verb : "", verb ? " " : "");
	return EXIT_USAGE;
}

/* Shared by `ptctl --help` and the man page (ptctl --man), so the two cannot drift apart. */
static const char global_options_text[] =
	"    -j, --json       stable JSON output (read verbs)\n"
	"    -n, --dry-run    show the changes a verb would make; make none\n"
	"    -v, --verbose    debug logging to stderr (also PTCTL_DEBUG=1)\n"
	"    -h, --help       this page; `ptctl VERB --help` for a verb's page\n"
	"    --version        print the version\n";
static const char environment_text[] =
	"    PTCTL_ROOT       prefix for every /sys, /dev, /proc and /run path (tests)\n"
	"    PTCTL_DEBUG=1    debug logging\n";
static const char exit_status_text[] =
	"    0 success, 1 the operation failed (nothing left half-done), 2 bad usage or input.\n";

static size_t words(const char *name)
{
	size_t n = 1;
	for (; *name; name++)
		n += *name == ' ';
	return n;
}

/* Does argv start with the words of name? */
static bool matches(const char *name, int argc, char **argv)
{
	size_t n = words(name);
	const char *p = name;

	if ((size_t)argc < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		size_t len = strcspn(p, " ");
		if (strlen(argv[i]) != len || strncmp(argv[i], p, len) != 0)
			return false;
		p += len + (p[len] == ' ');
	}
	return true;
}

static const struct verb *find_verb(int argc, char **argv)
{
	const struct verb *best = NULL;
	for (const struct verb *const *v = __start_ptctl_verbs; v < __stop_ptctl_verbs; v++)
		if (matches((*v)->name, argc, argv) && (!best || words((*v)->name) > words(best->name)))
			best = *v;
	return best;
}

static int cmp_verb(const void *a, const void *b)
{
	return strcmp((*(const struct verb *const *)a)->name, (*(const struct verb *const *)b)->name);
}

static void print_verb_help(const struct verb *v)
{
	printf("NAME\n    ptctl %s - %s\n\nSYNOPSIS\n    ptctl %s%s%s%s%s\n\n", v->name, v->summary, v->name,
	       v->synopsis && *v->synopsis ? " " : "", v->synopsis ? v->synopsis : "",
	       v->flags & VERB_JSON ? " [--json]" : "", v->flags & VERB_DRY_RUN ? " [--dry-run]" : "");
	if (v->help)
		fputs(v->help, stdout);
	if (v->flags & (VERB_JSON | VERB_DRY_RUN))
		printf("\nCOMMON OPTIONS\n%s%s",
		       v->flags & VERB_JSON ? "    --json        print stable JSON instead of the table\n" : "",
		       v->flags & VERB_DRY_RUN ? "    --dry-run     print what would change, change nothing\n" : "");
	printf("\nEXIT STATUS\n    0 success, 1 the operation failed (nothing left half-done), 2 bad usage or input.\n");
}

static void print_help(FILE *f, const char *prefix)
{
	size_t n = (size_t)(__stop_ptctl_verbs - __start_ptctl_verbs);
	const struct verb **sorted = malloc(n * sizeof(*sorted) + 1);

	if (!sorted)
		return;
	memcpy(sorted, __start_ptctl_verbs, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_verb);
	if (!prefix)
		fprintf(f, "ptctl - VFIO/IOMMU device pass-through manager for Linux/KVM hosts\n\n"
		       "SYNOPSIS\n    ptctl [-v] [--json] [--dry-run] VERB [ARGS...]\n"
		       "    ptctl VERB --help\n\nVERBS\n");
	else
		fprintf(f, "ptctl %s: subcommands\n\n", prefix);
	for (size_t i = 0; i < n; i++) {
		if (prefix && !startswith(sorted[i]->name, prefix))
			continue;
		fprintf(f, "    %-16s %s\n", sorted[i]->name, sorted[i]->summary);
	}
	if (!prefix)
		fprintf(f, "\nGLOBAL OPTIONS\n%s\nENVIRONMENT\n%s\nEXIT STATUS\n%s", global_options_text, environment_text,
		       exit_status_text);
	free(sorted);
}

/* Text as roff: backslashes escaped, lines that would read as requests protected. */
static void roff_text(const char *t)
{
	bool bol = true;
	for (; t && *t; t++) {
		if (bol && (*t == '.' || *t == '\''))
			fputs("\\&", stdout);
		if (*t == '\\')
			fputs("\\e", stdout);
		else if (*t == '-')
			fputs("\\-", stdout);
		else
			putchar(*t);
		bol = *t == '\n';
	}
}

/* Preformatted help text in roff, so the page reads as `--help` does. */
static void roff_block(const char *t)
{
	fputs(".nf\n", stdout);
	roff_text(t);
	fputs(".fi\n", stdout);
}

/* ptctl(8), generated at build time from the same verb table and strings as --help. */
static void print_man(void)
{
	size_t n = (size_t)(__stop_ptctl_verbs - __start_ptctl_verbs);
	const struct verb **sorted = malloc(n * sizeof(*sorted) + 1);

	if (!sorted)
		return;
	memcpy(sorted, __start_ptctl_verbs, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_verb);
	printf(".TH PTCTL 8 \"\" \"ptctl %s\" \"System Administration\"\n", PTCTL_VERSION);
	printf(".SH NAME\nptctl \\- VFIO/IOMMU device pass\\-through manager for Linux/KVM hosts\n");
	printf(".SH SYNOPSIS\n.B ptctl\n[\\fB\\-v\\fR] [\\fB\\-\\-json\\fR] [\\fB\\-\\-dry\\-run\\fR] \\fIVERB\\fR "
	       "[\\fIARGS\\fR...]\n.br\n.B ptctl\n\\fIVERB\\fR \\fB\\-\\-help\\fR\n");
	printf(".SH DESCRIPTION\nptctl binds devices to vfio\\-pci safely, creates and configures SR\\-IOV virtual "
	       "functions, converges the host to declarative configuration files (ptctl.conf(5)), and runs small KVM "
	       "guests of its own with devices passed through. Each verb below is also documented by "
	       "\\fBptctl\\fR \\fIVERB\\fR \\fB\\-\\-help\\fR, from the same text.\n");
	printf(".SH GLOBAL OPTIONS\n");
	roff_block(global_options_text);
	printf(".SH VERBS\n");
	for (size_t i = 0; i < n; i++) {
		const struct verb *v = sorted[i];
		printf(".SS \"");
		roff_text(v->name);
		printf("\"\n");
		roff_text(v->summary);
		printf(".\n.PP\n.B ptctl ");
		roff_text(v->name);
		printf("\n");
		if (v->synopsis && *v->synopsis) {
			roff_text(v->synopsis);
			printf("\n");
		}
		printf("%s%s\n.PP\n", v->flags & VERB_JSON ? "[\\fB\\-\\-json\\fR] " : "",
		       v->flags & VERB_DRY_RUN ? "[\\fB\\-\\-dry\\-run\\fR]" : "");
		if (v->help)
			roff_block(v->help);
	}
	printf(".SH ENVIRONMENT\n");
	roff_block(environment_text);
	printf(".SH EXIT STATUS\n");
	roff_block(exit_status_text);
	printf(".SH FILES\n.TP\n/etc/ptctl/*.conf, /run/ptctl/conf.d/*.conf, /usr/lib/ptctl/*.conf\nthe configuration "
	       "(ptctl.conf(5))\n.TP\n/run/ptctl\nruntime state: the host lock, original drivers, VM sockets\n");
	printf(".SH SEE ALSO\n.BR ptctl.conf (5),\n.BR systemd.unit (5)\n");
	free(sorted);
}

/* Global options may appear anywhere before "--"; they are removed so verbs see only their own. */
static int take_global_options(int *argc, char **argv, struct verb_ctx *ctx, bool *help, bool *version, bool *man)
{
	int out = 1;
	bool done = false;

	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		if (!done && streq(a, "--")) {
			done = true;
			argv[out++] = argv[i];
			continue;
		}
		if (!done && (streq(a, "--json") || streq(a, "-j")))
			ctx->json = true;
		else if (!done && (streq(a, "--dry-run") || streq(a, "-n")))
			ctx->dry_run = true;
		else if (!done && (streq(a, "--verbose") || streq(a, "-v")))
			ctx->verbose++;
		else if (!done && (streq(a, "--help") || streq(a, "-h")))
			*help = true;
		else if (!done && streq(a, "--version"))
			*version = true;
		else if (!done && streq(a, "--man"))
			*man = true;
		else
			argv[out++] = argv[i];
	}
	*argc = out;
	argv[out] = NULL;
	return 0;
}

int main(int argc, char **argv)
{
	struct verb_ctx ctx = { 0 };
	bool help = false, version = false, man = false;
	const struct verb *v;

	take_global_options(&argc, argv, &ctx, &help, &version, &man);
	if (ctx.verbose)
		log_set_level(2);
	out_set_json(ctx.json);
	if (man) { /* the build generates ptctl(8) with this */
		print_man();
		return EXIT_OK;
	}
	if (version) {
		printf("ptctl %s\n", PTCTL_VERSION);
		return EXIT_OK;
	}
	if (argc >= 2 && streq(argv[1], "help")) {
		argv++;
		argc--;
		help = true;
	}
	/* Help that was asked for goes to stdout; help shown because the command was incomplete is an
	 * error message, so it goes to stderr with exit status 2. */
	if (argc < 2) {
		print_help(help ? stdout : stderr, NULL);
		return help ? EXIT_OK : EXIT_USAGE;
	}
	v = find_verb(argc - 1, argv + 1);
	if (!v) {
		/* "ptctl sriov" alone: list the subcommands of that group. */
		bool group = false;
		for (const struct verb *const *p = __start_ptctl_verbs; p < __stop_ptctl_verbs; p++)
			if (startswith((*p)->name, argv[1]) && (*p)->name[strlen(argv[1])] == ' ')
				group = true;
		if (group) {
			print_help(help ? stdout : stderr, argv[1]);
			return help ? EXIT_OK : EXIT_USAGE;
		}
		return verb_usage_error(&ctx, NULL, "unknown verb '%s'", argv[1]);
	}
	if (help) {
		print_verb_help(v);
		return EXIT_OK;
	}
	if (ctx.json && !(v->flags & VERB_JSON))
		return verb_usage_error(&ctx, v->name, "--json is not supported by this verb");
	if (ctx.dry_run && !(v->flags & VERB_DRY_RUN))
		return verb_usage_error(&ctx, v->name, "--dry-run is not supported by this verb");
	/* Hand the verb its arguments with its full name as argv[0] for getopt's messages. */
	size_t w = words(v->name);
	argv[w] = (char *)v->name;
	optind = 1;
	return v->run(argc - (int)w, argv + w, &ctx);
}
