/* util.c: string vectors and number parsing shared by every module.
 * Parsers accept only whole, well-formed input so bad input never half-applies. */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>

#include "util.h"

void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

size_t strv_length(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

/* Appends s (taking ownership) keeping the vector NULL-terminated; *n tracks the length. */
int strv_push(char ***v, size_t *n, char *s)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(char *));
	if (!nv) {
		free(s);
		return -ENOMEM;
	}
	nv[(*n)++] = s;
	nv[*n] = NULL;
	*v = nv;
	return 0;
}

int strv_vpushf(char ***v, size_t *n, const char *fmt, va_list ap)
{
	char *s = NULL;
	size_t len = n ? *n : strv_length(*v);
	int r;

	if (vasprintf(&s, fmt, ap) < 0)
		return -ENOMEM;
	r = strv_push(v, &len, s);
	if (r >= 0 && n)
		*n = len;
	return r;
}

int strv_pushf(char ***v, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = strv_vpushf(v, n, fmt, ap);
	va_end(ap);
	return r;
}

int parse_u64(const char *s, int base, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || isspace((unsigned char)*s) || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

int parse_int(const char *s, int *ret)
{
	char *end;
	long v;

	if (!s || !*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno == ERANGE || v < INT_MIN || v > INT_MAX)
		return -ERANGE;
	if (errno || *end)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

int parse_size(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	case '\0': break;
	default: return -EINVAL;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*ret = (uint64_t)v << shift;
	return 0;
}

void format_size(char *buf, size_t len, uint64_t bytes)
{
	static const char units[] = "KMGT";
	if (bytes < 1024 || (bytes & 1023)) {
		snprintf(buf, len, "%" PRIu64, bytes);
		return;
	}
	unsigned i = 0;
	bytes >>= 10;
	while (i + 1 < sizeof(units) - 1 && bytes >= 1024 && !(bytes & 1023)) {
		bytes >>= 10;
		i++;
	}
	snprintf(buf, len, "%" PRIu64 "%c", bytes, units[i]);
}

char *strstrip(char *s)
{
	size_t n;
	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}
