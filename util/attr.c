/* attr.c: reading sysfs attributes that hold numbers, and saying why one does not. A hostile or
 * broken sysfs gets the same answer from every caller: the value, or the reason it has none. */
#include <inttypes.h>

#include "attr.h"
#include "root.h"

static void why_set(char **ret_why, const char *fmt, ...) _printf_(2, 3);
static void why_set(char **ret_why, const char *fmt, ...)
{
	va_list ap;

	if (!ret_why)
		return;
	va_start(ap, fmt);
	if (vasprintf(ret_why, fmt, ap) < 0)
		*ret_why = NULL;
	va_end(ap);
}

/* Shows at most 32 bytes of what was there: the value may be anything. */
static const char *shown(const char *s, char *buf, size_t len)
{
	snprintf(buf, len, "%.32s%s", s, strlen(s) > 32 ? "..." : "");
	return buf;
}

int attr_read_int64(const char *path, int base, int64_t min, int64_t max, int64_t *ret, char **ret_why)
{
	_cleanup_free_ char *s = NULL;
	char buf[40], *end;
	const char *t;
	long long v;
	int r = root_read(path, &s);

	if (r < 0) {
		if (r != -ENOENT && r != -ENOMEM)
			why_set(ret_why, "%s", file_type_error(r));
		return r;
	}
	t = strstrip(s);
	errno = 0;
	v = strtoll(t, &end, base);
	if (!*t || *end || end == t || (base == 10 && startswith(t, "0x"))) {
		why_set(ret_why, "'%s' is not a number", shown(t, buf, sizeof(buf)));
		return -EINVAL;
	}
	if (errno == ERANGE || v < min || v > max) {
		if (base == 16)
			why_set(ret_why, "'%s' is out of range (0x%" PRIx64 "-0x%" PRIx64 ")", shown(t, buf, sizeof(buf)),
				(uint64_t)min, (uint64_t)max);
		else
			why_set(ret_why, "'%s' is out of range (%" PRId64 "-%" PRId64 ")", shown(t, buf, sizeof(buf)),
				min, max);
		return -ERANGE;
	}
	*ret = v;
	return 0;
}

int attr_read_int(const char *path, int base, int min, int max, int *ret, char **ret_why)
{
	int64_t v;
	int r = attr_read_int64(path, base, min, max, &v, ret_why);

	if (r >= 0)
		*ret = (int)v;
	return r;
}

int attr_read_link_number(const char *path, int *ret, char **ret_why)
{
	_cleanup_free_ char *base = NULL;
	char buf[40];
	int v, r = root_readlink_base(path, &base);

	if (r < 0) {
		if (r != -ENOENT && r != -ENOMEM)
			why_set(ret_why, "not a readable link: %s", strerror(-r));
		return r;
	}
	if (parse_int(base, &v) < 0 || v < 0) {
		why_set(ret_why, "the link points to '%s', not to a numbered directory", shown(base, buf, sizeof(buf)));
		return -EINVAL;
	}
	*ret = v;
	return 0;
}
