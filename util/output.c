/* output.c: renders json-c values as tables, records or JSON.
 * Verbs never printf their results: one tree, two renderings, so table and JSON cannot drift. */
#include <inttypes.h>

#include "output.h"

static bool json_mode;

void out_set_json(bool on)
{
	json_mode = on;
}

bool out_is_json(void)
{
	return json_mode;
}

int json_add(json_object *o, const char *key, json_object *v)
{
	if (!o)
		return -EINVAL;
	if (json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

int json_add_str(json_object *o, const char *key, const char *s)
{
	json_object *v = NULL;
	if (s && !(v = json_object_new_string(s)))
		return -ENOMEM;
	return json_add(o, key, v);
}

int json_add_int(json_object *o, const char *key, int64_t i)
{
	json_object *v = json_object_new_int64(i);
	return v ? json_add(o, key, v) : -ENOMEM;
}

int json_add_bool(json_object *o, const char *key, bool b)
{
	json_object *v = json_object_new_boolean(b);
	return v ? json_add(o, key, v) : -ENOMEM;
}

int json_add_null(json_object *o, const char *key)
{
	return json_add(o, key, NULL);
}

int json_add_hex(json_object *o, const char *key, uint64_t x)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "0x%" PRIx64, x);
	return json_add_str(o, key, buf);
}

/* Length of the valid UTF-8 sequence at s (1-4), 0 when the bytes there are not one (overlongs,
 * surrogates and code points past U+10FFFF included). */
static size_t utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Strings come from firmware (DMAR OEM ids), sysfs and the kernel: any byte that is not valid UTF-8
 * (and, for the terminal, any control character) is shown as \xNN, so JSON stays valid UTF-8 and a
 * table cannot carry escape sequences. Returns NULL when s needs nothing. */
static char *clean_string(const char *s, bool controls)
{
	const unsigned char *p = (const unsigned char *)s;
	bool dirty = false;
	char *out, *o;

	for (size_t i = 0; p[i];) {
		size_t n = utf8_len(p + i);
		if (!n || (controls && n == 1 && (p[i] < 0x20 || p[i] == 0x7f))) {
			dirty = true;
			break;
		}
		i += n;
	}
	if (!dirty || !(out = malloc(strlen(s) * 4 + 1)))
		return NULL;
	o = out;
	for (size_t i = 0; p[i];) {
		size_t n = utf8_len(p + i);
		if (!n || (controls && n == 1 && (p[i] < 0x20 || p[i] == 0x7f))) {
			o += sprintf(o, "\\x%02x", p[i]);
			i++;
			continue;
		}
		memcpy(o, p + i, n);
		o += n;
		i += n;
	}
	*o = '\0';
	return out;
}

/* Every string in the tree, once, before it is printed. */
static void clean_tree(json_object *v, bool controls)
{
	switch (json_object_get_type(v)) {
	case json_type_string: {
		char *c = clean_string(json_object_get_string(v), controls);
		if (c)
			json_object_set_string(v, c);
		free(c);
		break;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(v); i++)
			clean_tree(json_object_array_get_idx(v, i), controls);
		break;
	case json_type_object: {
		json_object_object_foreach(v, k, m) {
			(void)k;
			clean_tree(m, controls);
		}
		break;
	}
	default:
		break;
	}
}

int out_json(FILE *f, json_object *v)
{
	clean_tree(v, false);
	const char *s = json_object_to_json_string_ext(
		v, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s)
		return -ENOMEM;
	/* The pretty printer spreads empty containers over two lines ("[\n  ]"); print them as
	 * [] and {}. A raw newline never occurs inside a JSON string (it is escaped as \n), so a
	 * bracket followed by a newline is always structure. */
	for (const char *p = s; *p; p++) {
		char close = *p == '[' ? ']' : *p == '{' ? '}' : '\0';
		const char *q = p + 1;

		if (close && *q == '\n') {
			q++;
			while (*q == ' ')
				q++;
			if (*q == close) {
				fputc(*p, f);
				fputc(close, f);
				p = q;
				continue;
			}
		}
		fputc(*p, f);
	}
	fputc('\n', f);
	return ferror(f) ? -EIO : 0;
}

const char *out_scalar(json_object *v, char *buf, size_t len)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return "-";
	case json_type_boolean:
		return json_object_get_boolean(v) ? "yes" : "no";
	case json_type_int:
		snprintf(buf, len, "%" PRId64, json_object_get_int64(v));
		return buf;
	case json_type_double:
		snprintf(buf, len, "%.2f", json_object_get_double(v));
		return buf;
	case json_type_string:
		return json_object_get_string(v);
	case json_type_array: {
		size_t n = json_object_array_length(v), off = 0;
		if (n == 0)
			return "-";
		buf[0] = '\0';
		for (size_t i = 0; i < n && off + 1 < len; i++) {
			char eb[64];
			const char *s = out_scalar(json_object_array_get_idx(v, i), eb, sizeof(eb));
			int w = snprintf(buf + off, len - off, "%s%s", i ? "," : "", s);
			if (w < 0)
				break;
			off += (size_t)w;
		}
		return buf;
	}
	case json_type_object:
		return "...";
	}
	return "?";
}

static json_object *lookup(json_object *row, const char *key)
{
	char part[128];
	const char *dot;
	json_object *v = row;

	while ((dot = strchr(key, '.'))) {
		size_t n = (size_t)(dot - key);
		if (n >= sizeof(part))
			return NULL;
		memcpy(part, key, n);
		part[n] = '\0';
		if (!json_object_object_get_ex(v, part, &v))
			return NULL;
		key = dot + 1;
	}
	return json_object_object_get_ex(v, key, &v) ? v : NULL;
}

int out_table(FILE *f, json_object *rows, const struct out_column *cols, size_t ncols)
{
	size_t nrows, *width;
	char buf[512];

	if (json_mode)
		return out_json(f, rows);
	clean_tree(rows, true);
	nrows = json_object_array_length(rows);
	width = calloc(ncols, sizeof(size_t));
	if (!width)
		return -ENOMEM;
	for (size_t c = 0; c < ncols; c++) {
		width[c] = strlen(cols[c].header);
		for (size_t r = 0; r < nrows; r++) {
			const char *s = out_scalar(lookup(json_object_array_get_idx(rows, r), cols[c].key),
						   buf, sizeof(buf));
			if (strlen(s) > width[c])
				width[c] = strlen(s);
		}
	}
	for (size_t r = 0; r <= nrows; r++) {
		for (size_t c = 0; c < ncols; c++) {
			const char *s = r == 0 ? cols[c].header
					       : out_scalar(lookup(json_object_array_get_idx(rows, r - 1),
								   cols[c].key),
							    buf, sizeof(buf));
			if (c + 1 == ncols)
				fprintf(f, "%s\n", s);
			else
				fprintf(f, "%-*s  ", (int)width[c], s);
		}
	}
	free(width);
	return ferror(f) ? -EIO : 0;
}

static void label(const char *key, char *buf, size_t len)
{
	size_t i;
	for (i = 0; key[i] && i + 1 < len; i++)
		buf[i] = key[i] == '_' ? ' ' : key[i];
	buf[i] = '\0';
}

static bool is_object_array(json_object *v)
{
	return json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0 &&
	       json_object_is_type(json_object_array_get_idx(v, 0), json_type_object);
}

static void record(FILE *f, json_object *obj, int indent)
{
	size_t w = 0;
	char lb[128], buf[512];

	json_object_object_foreach(obj, k0, v0) {
		(void)v0;
		if (strlen(k0) > w)
			w = strlen(k0);
	}
	json_object_object_foreach(obj, key, v) {
		label(key, lb, sizeof(lb));
		if (json_object_is_type(v, json_type_object)) {
			fprintf(f, "%*s%s:\n", indent, "", lb);
			record(f, v, indent + 2);
		} else if (is_object_array(v)) {
			/* A sub-table of the first element's scalar members. */
			struct out_column cols[32];
			char labels[32][64];
			size_t n = 0;
			json_object_object_foreach(json_object_array_get_idx(v, 0), ck, cv) {
				if (n == ARRAY_SIZE(cols) || json_object_is_type(cv, json_type_object) ||
				    is_object_array(cv))
					continue;
				label(ck, labels[n], sizeof(labels[n]));
				cols[n] = (struct out_column){ ck, labels[n] };
				n++;
			}
			fprintf(f, "%*s%s:\n", indent, "", lb);
			char *tb = NULL;
			size_t tlen = 0;
			FILE *mf = open_memstream(&tb, &tlen);
			if (mf) {
				out_table(mf, v, cols, n);
				fclose(mf);
				for (char *line = strtok(tb, "\n"); line; line = strtok(NULL, "\n"))
					fprintf(f, "%*s%s\n", indent + 2, "", line);
				free(tb);
			}
		} else {
			fprintf(f, "%*s%-*s %s\n", indent, "", (int)w + 1, strcat(lb, ":"),
				out_scalar(v, buf, sizeof(buf)));
		}
	}
}

int out_record(FILE *f, json_object *obj)
{
	if (json_mode)
		return out_json(f, obj);
	clean_tree(obj, true);
	record(f, obj, 0);
	return ferror(f) ? -EIO : 0;
}
