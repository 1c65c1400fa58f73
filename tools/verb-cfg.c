/* verb-cfg.c: loading the configuration for the verbs that read it, with the one error report. */
#include "util/log.h"
#include "verb-cfg.h"

int verb_cfg_load(const char *verb, const char *dir, struct cfg **ret)
{
	const char *dirs[] = { dir, NULL };
	struct cfg_errors errs = { 0 };
	int r = cfg_load(dir ? dirs : NULL, ret, &errs);

	if (r == -EINVAL) {
		cfg_errors_print(&errs, stderr);
		log_error("%s: %zu error%s in the configuration%s", verb, errs.n, errs.n == 1 ? "" : "s",
			  startswith(verb, "config") ? "" : "; nothing changed (fix them; 'ptctl config check' lists them)");
		cfg_errors_clear(&errs);
		return EXIT_USAGE;
	}
	cfg_errors_clear(&errs);
	if (r < 0) {
		log_error("%s: cannot read the configuration: %s", verb, strerror(-r));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}
