/* state.h: ptctl's runtime state under /run/ptctl (through the root): the global lock that keeps
 * two ptctl runs from interleaving kernel changes, and small key=value records written atomically. */
#pragma once

#include "util.h"

#define STATE_DIR "/run/ptctl"

/* Takes an exclusive lock on /run/ptctl/lock, waiting up to timeout_ms (-ETIMEDOUT after).
 * Returns an fd to close (or _cleanup_close_) to release it. */
int state_lock(int timeout_ms);
/* Path of a record: /run/ptctl/<kind>/<name>. */
int state_path(char *buf, size_t len, const char *kind, const char *name);
int state_write(const char *kind, const char *name, const char *content);
int state_read(const char *kind, const char *name, char **ret);
int state_remove(const char *kind, const char *name);
/* Names of the records of one kind, sorted; an absent directory is an empty list. */
int state_list(const char *kind, char ***ret);
/* Looks a key up in "key=value\n" text; *ret is a new string. -ENOENT if absent. */
int state_get_value(const char *content, const char *key, char **ret);
