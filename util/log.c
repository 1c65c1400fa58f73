/* log.c: debug logging for modules and the single error line the command line prints.
 * Debug output goes to stderr so it never mixes with table or JSON output. */
#include <stdarg.h>

#include "log.h"

static int level = -1;

static int current_level(void)
{
	if (level < 0) {
		const char *e = getenv("PTCTL_DEBUG");
		level = (e && *e && !streq(e, "0")) ? 2 : 1;
	}
	return level;
}

void log_set_level(int l)
{
	level = l;
}

int log_get_level(void)
{
	return current_level();
}

void log_debug_full(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	const char *base;
	int saved = errno;

	if (current_level() < 2)
		return;
	base = strrchr(file, '/');
	fprintf(stderr, "debug %s:%d: ", base ? base + 1 : file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	errno = saved;
}

static void vlog(const char *prefix, const char *fmt, va_list ap)
{
	fputs("ptctl: ", stderr);
	if (prefix)
		fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int log_error_errno(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(NULL, fmt, ap);
	va_end(ap);
	return err < 0 ? err : -err;
}

void log_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(NULL, fmt, ap);
	va_end(ap);
}

void log_warning(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("warning: ", fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;
	if (current_level() < 1)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
