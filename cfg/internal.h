/* internal.h: shared by cfg/'s files and their unit tests only: the raw sections the parser reads
 * (before merging and typing) and the error list builder. */
#pragma once

#include "cfg.h"

/* Longest line accepted (systemd's limit is far larger; ours keeps libinih's buffer bounded). */
#define CFG_LINE_MAX 4000

struct cfg_section {
	enum cfg_kind kind;
	const char *file; /* owned by struct cfg */
	unsigned line;
	bool dropin;
	size_t unit;   /* index of the NAME.conf it belongs to (drop-ins share their main file's) */
	size_t n;
	struct cfg_entry *e;
};

struct cfg_raw {
	size_t n;
	struct cfg_section *s;
};
void cfg_raw_clear(struct cfg_raw *raw);

/* Appends "FILE:LINE: msg"; -ENOMEM only. */
int cfg_error_add(struct cfg_errors *e, const char *file, unsigned line, const char *fmt, ...) _printf_(4, 5);

/* Finds the files (dirs: real directories; root_prefixed: they are host paths under the root) and
 * parses them into raw sections; every file name goes to c->files. File-level problems (not a
 * regular file, unreadable) and syntax errors go to errs. */
int cfg_read_files(const char *const *dirs, bool root_prefixed, struct cfg *c, struct cfg_raw *raw,
		   struct cfg_errors *errs);
/* Merges the raw sections into typed objects in c (drop-ins override), validating every value and
 * the objects against each other. */
int cfg_build(struct cfg *c, struct cfg_raw *raw, struct cfg_errors *errs);
void cfg_object_done(struct cfg_object *o);

/* A PF reference: a PCI address or an interface name (IFNAMSIZ, no '/', not "." or ".."). */
int cfg_parse_pf(const char *s, struct cfg_pf_ref *ret);
void cfg_pf_ref_done(struct cfg_pf_ref *p);
/* Resolves a PF reference on the host: the address, or the device behind /sys/class/net/NAME.
 * -ENODEV when the interface does not exist (yet). */
int cfg_pf_resolve(const struct cfg_pf_ref *p, char addr[PCI_ADDR_STRLEN]);
