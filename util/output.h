/* output.h: the one print path. Verbs build a json-c value; it is printed either as a table /
 * record for people or, with --json, as stable JSON. Nothing else prints command results. */
#pragma once

#include <json-c/json.h>

#include "util.h"

void out_set_json(bool on);
bool out_is_json(void);

struct out_column {
	const char *key;    /* member of each row object; "a.b" reaches into a nested object */
	const char *header; /* column title in the table */
};

/* An array of objects: a table with the given columns (text) or the whole array (JSON). */
int out_table(FILE *f, json_object *rows, const struct out_column *cols, size_t ncols);
/* One object: "Key: value" lines, nested objects indented, arrays of objects as sub-tables
 * of their scalar members (text) or the object (JSON). */
int out_record(FILE *f, json_object *obj);
/* Any value as JSON (pretty, two-space indent, no escaped slashes), newline-terminated. */
int out_json(FILE *f, json_object *v);
/* The text form of a scalar as the table shows it ("-" for null, yes/no for booleans). */
const char *out_scalar(json_object *v, char *buf, size_t len);

/* Builders that never lose a member silently: on allocation failure they return -ENOMEM. */
int json_add_str(json_object *o, const char *key, const char *s); /* NULL -> null */
int json_add_int(json_object *o, const char *key, int64_t v);
int json_add_bool(json_object *o, const char *key, bool v);
int json_add_null(json_object *o, const char *key);
int json_add_hex(json_object *o, const char *key, uint64_t v); /* "0x..." string */
int json_add(json_object *o, const char *key, json_object *v);  /* takes ownership of v */

static inline void json_object_putp(json_object **o)
{
	if (*o)
		json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_object_putp)
