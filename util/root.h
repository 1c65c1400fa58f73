/* root.h: the system root. Every /sys, /dev, /proc and /run path goes through here so that
 * PTCTL_ROOT can point the whole tool at a fake tree (tests) instead of the real host. */
#pragma once

#include <dirent.h>
#include <stdarg.h>
#include <sys/types.h>

#include "util.h"

/* The prefix ("" for the real host). Read once from PTCTL_ROOT; root_set() overrides (tests). */
const char *root_get(void);
void root_set(const char *prefix);

/* Formats an absolute host path and prefixes the root. Returns -ENAMETOOLONG if it does not fit. */
int root_path(char *buf, size_t len, const char *fmt, ...) _printf_(3, 4);
int root_vpath(char *buf, size_t len, const char *fmt, va_list ap);

/* Small-file helpers; 'path' is an absolute host path (the root is prefixed inside).
 * Test hook: with PTCTL_TEST_PAUSE_AT=N in the environment, the Nth change made through root_write,
 * root_write_atomic or root_unlink (sysfs writes, /run/ptctl records) is announced on stderr
 * ("ptctl: test hook: paused before change N: PATH <- VALUE") and the process stops itself
 * (SIGSTOP) first, so a test can SIGKILL it at exactly that step. */
int root_read(const char *path, char **ret);          /* whole file, trailing newline stripped */
int root_read_u64(const char *path, int base, uint64_t *ret);
int root_read_bytes(const char *path, void *buf, size_t len, size_t *ret_len);
int root_write(const char *path, const char *value);  /* one write(2), like echo > sysfs */
int root_write_atomic(const char *path, const char *content, mode_t mode);
int root_readlink_base(const char *path, char **ret); /* last component of the link target */
int root_readlink(const char *path, char **ret);
bool root_exists(const char *path);
int root_open(const char *path, int flags, mode_t mode);
/* Opens a regular file and nothing else: -EISDIR for a directory, -EINVAL for a FIFO, device or
 * socket (never blocks on one). root_read, root_read_bytes and root_write go through it.
 * file_open_regular takes a path as given (user files such as a VM's kernel), not under the root. */
int root_open_regular(const char *path, int flags, uint64_t *ret_size);
int file_open_regular(const char *path, int flags, uint64_t *ret_size);
/* The reason to print for a file_open_regular / root_read failure ("not a regular file ..."). */
const char *file_type_error(int r);
int root_mkdir_p(const char *path, mode_t mode);
int root_unlink(const char *path);
/* Lists a directory's entries (no . and ..), sorted; *ret is a NULL-terminated vector. */
int root_list(const char *path, char ***ret);

/* Tests model the kernel by intercepting sysfs writes (e.g. drivers_probe moves the driver
 * link). The hook returns 1 when it handled the write, 0 to fall through, -errno to fail it. */
typedef int (*root_write_hook_t)(const char *path, const char *value, void *userdata);
void root_set_write_hook(root_write_hook_t hook, void *userdata);
