/* verb-cfg.h: what the configuration verbs (config, apply, status, vm run --from-config) share:
 * loading the files with --config DIR and reporting their errors once. */
#pragma once

#include "cfg/cfg.h"
#include "verb.h"

/* Loads the configuration (dir NULL: the standard directories under PTCTL_ROOT). Errors in the
 * files are printed as FILE:LINE: lines; returns EXIT_OK with *ret, EXIT_USAGE for errors in the
 * files, EXIT_FAIL when they could not be read. */
int verb_cfg_load(const char *verb, const char *dir, struct cfg **ret);

#define CFG_FILES_HELP                                                                                          \
	"FILES\n"                                                                                               \
	"    /etc/ptctl/*.conf, /run/ptctl/conf.d/*.conf, /usr/lib/ptctl/*.conf: the first directory holding\n" \
	"    a NAME.conf wins (an empty file or a link to /dev/null there masks the others); drop-ins\n"        \
	"    NAME.conf.d/*.conf from all three (first directory wins per drop-in name) change NAME.conf's\n"    \
	"    objects in name order. All under PTCTL_ROOT. See ptctl.conf(5).\n\n"

#define CFG_CONFIG_OPT_HELP "    --config DIR  read DIR/*.conf (and DIR/NAME.conf.d/) instead of the standard directories\n"
