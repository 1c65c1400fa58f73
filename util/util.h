/* util.h: small language helpers every module uses: cleanup attributes, ownership hand-off,
 * array sizes, string comparison. No I/O here. */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _section_(s) __attribute__((section(s), used, aligned(__alignof__(void *))))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Hand ownership out of a _cleanup_ variable: returns the value and leaves NULL/-1 behind. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _tp = (p);                                                           \
		(p) = NULL;                                                                        \
		_tp;                                                                               \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _tf = (fd);                                                                    \
		(fd) = -1;                                                                         \
		_tf;                                                                               \
	})

static inline bool streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static inline bool startswith(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

/* Returns -errno for the last failed libc call, never 0 (a caller that saw failure must fail). */
static inline int negative_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

void strv_free(char **v);
static inline void strv_freep(char ***v)
{
	strv_free(*v);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)
size_t strv_length(char *const *v);
int strv_push(char ***v, size_t *n, char *s);
/* Appends a formatted string; *n may be NULL (the length is counted then). */
int strv_pushf(char ***v, size_t *n, const char *fmt, ...) _printf_(3, 4);
int strv_vpushf(char ***v, size_t *n, const char *fmt, va_list ap) _printf_(3, 0);

/* Parse helpers: whole string must be consumed; return -EINVAL / -ERANGE. */
int parse_u64(const char *s, int base, uint64_t *ret);
int parse_int(const char *s, int *ret);
/* Sizes such as 512M, 2G, 4096, 2m (binary units). */
int parse_size(const char *s, uint64_t *ret);
void format_size(char *buf, size_t len, uint64_t bytes);
char *strstrip(char *s);
