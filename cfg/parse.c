/* parse.c: finding the configuration files with systemd's precedence (first directory wins per
 * file name, drop-ins per name too) and reading them with libinih into raw sections with line numbers. */
#include <ini.h>
#include <limits.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "internal.h"
#include "util/log.h"
#include "util/root.h"

void cfg_errors_clear(struct cfg_errors *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->v[i].file);
		free(e->v[i].msg);
	}
	free(e->v);
	*e = (struct cfg_errors){ 0 };
}

void cfg_errors_print(const struct cfg_errors *e, FILE *f)
{
	for (size_t i = 0; i < e->n; i++) {
		if (e->v[i].line)
			fprintf(f, "ptctl: %s:%u: %s\n", e->v[i].file, e->v[i].line, e->v[i].msg);
		else
			fprintf(f, "ptctl: %s: %s\n", e->v[i].file, e->v[i].msg);
	}
}

int cfg_error_add(struct cfg_errors *e, const char *file, unsigned line, const char *fmt, ...)
{
	struct cfg_error *v = realloc(e->v, (e->n + 1) * sizeof(*v));
	va_list ap;
	char *msg = NULL;
	int r;

	if (!v)
		return -ENOMEM;
	e->v = v;
	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	v[e->n] = (struct cfg_error){ .file = strdup(file ? file : "?"), .line = line, .msg = msg };
	if (!v[e->n].file) {
		free(msg);
		return -ENOMEM;
	}
	e->n++;
	return 0;
}

void cfg_raw_clear(struct cfg_raw *raw)
{
	for (size_t i = 0; i < raw->n; i++) {
		for (size_t k = 0; k < raw->s[i].n; k++) {
			free(raw->s[i].e[k].key);
			free(raw->s[i].e[k].value);
		}
		free(raw->s[i].e);
	}
	free(raw->s);
	*raw = (struct cfg_raw){ 0 };
}

/* ---- one file through libinih ---- */

struct reader {
	FILE *f;
	const char *file;
	struct cfg_raw *raw;
	struct cfg_errors *errs;
	bool dropin;
	size_t unit;
	unsigned line;
	long cur;       /* raw section keys go to, -1: none (before the first, or an unknown one) */
	bool in_unknown; /* inside an unknown section: its keys are not reported again */
	char *buf;
	size_t cap;
	int err; /* -ENOMEM while reading */
};

static const char *const section_names[] = { "Device", "SR-IOV", "VirtualFunction", "VM" };

static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : 9;
		if (n == 9 || (n == 1 && *p < 0xc2))
			return false;
		p++;
		for (unsigned i = 0; i < n; i++, p++)
			if ((*p & 0xc0) != 0x80)
				return false;
	}
	return true;
}

static void add_error(struct reader *rd, const char *fmt, ...) _printf_(2, 3);
static void add_error(struct reader *rd, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg || cfg_error_add(rd->errs, rd->file, rd->line, "%s", msg) < 0)
		rd->err = -ENOMEM;
	free(msg);
}

static int start_section(struct reader *rd, const char *name)
{
	struct cfg_section *s;

	for (size_t k = 0; k < ARRAY_SIZE(section_names); k++) {
		if (!streq(name, section_names[k]))
			continue;
		s = realloc(rd->raw->s, (rd->raw->n + 1) * sizeof(*s));
		if (!s)
			return -ENOMEM;
		rd->raw->s = s;
		s[rd->raw->n] = (struct cfg_section){ .kind = (enum cfg_kind)k, .file = rd->file, .line = rd->line,
						      .dropin = rd->dropin, .unit = rd->unit };
		rd->cur = (long)rd->raw->n++;
		rd->in_unknown = false;
		return 0;
	}
	add_error(rd, "unknown section [%s] (sections are [Device], [SR-IOV], [VirtualFunction] and [VM])", name);
	rd->cur = -1;
	rd->in_unknown = true;
	return 0;
}

/* Section headers, comments and malformed lines are handled here, where the line number is known;
 * libinih sees only KEY=VALUE lines of known sections (everything else becomes an empty line). */
static char *read_line(char *str, int num, void *stream)
{
	struct reader *rd = stream;
	ssize_t len = getline(&rd->buf, &rd->cap, rd->f);
	char *s, *eq;

	if (len < 0)
		return NULL;
	rd->line++;
	str[0] = '\n';
	str[1] = '\0';
	while (len > 0 && (rd->buf[len - 1] == '\n' || rd->buf[len - 1] == '\r'))
		rd->buf[--len] = '\0';
	if ((size_t)len != strlen(rd->buf)) {
		add_error(rd, "contains a NUL byte (not a text file?)");
		return str;
	}
	if (!utf8_valid(rd->buf)) {
		add_error(rd, "not valid UTF-8");
		return str;
	}
	if (len > CFG_LINE_MAX || len + 3 > num) {
		add_error(rd, "line longer than %d characters", CFG_LINE_MAX);
		return str;
	}
	s = strstrip(rd->buf);
	if (!*s || *s == '#' || *s == ';')
		return str;
	if (*s == '[') {
		size_t n = strlen(s);
		if (s[n - 1] != ']' || n < 3) {
			add_error(rd, "malformed section header '%s' (expected [Name])", s);
			return str;
		}
		s[n - 1] = '\0';
		if (start_section(rd, s + 1) < 0)
			rd->err = -ENOMEM;
		return str;
	}
	eq = strchr(s, '=');
	if (!eq || eq == s) {
		add_error(rd, "'%s': expected KEY=VALUE, a [Section] header or a # comment%s", s,
			  strchr(s, ':') ? " (':' is not a separator here)" : "");
		return str;
	}
	if (strcspn(s, ":") < (size_t)(eq - s)) {
		add_error(rd, "'%s': expected KEY=VALUE (':' is not a separator here)", s);
		return str;
	}
	if (rd->in_unknown)
		return str;
	if (rd->cur < 0) {
		*eq = '\0';
		add_error(rd, "%s= outside a section (put it under [Device], [SR-IOV], [VirtualFunction] or [VM])",
			  strstrip(s));
		return str;
	}
	memcpy(str, s, strlen(s));
	str[strlen(s)] = '\n';
	str[strlen(s) + 1] = '\0';
	return str;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct reader *rd = user;
	struct cfg_section *s;
	struct cfg_entry *e;

	(void)section;
	if (rd->cur < 0)
		return 1;
	s = &rd->raw->s[rd->cur];
	e = realloc(s->e, (s->n + 1) * sizeof(*e));
	if (!e) {
		rd->err = -ENOMEM;
		return 0;
	}
	s->e = e;
	e[s->n] = (struct cfg_entry){ .key = strdup(name), .value = strdup(value), .file = rd->file, .line = rd->line };
	if (!e[s->n].key || !e[s->n].value) {
		free(e[s->n].key);
		free(e[s->n].value);
		rd->err = -ENOMEM;
		return 0;
	}
	s->n++;
	return 1;
}

static int parse_one(FILE *f, const char *file, bool dropin, size_t unit, struct cfg_raw *raw, struct cfg_errors *errs)
{
	struct reader rd = { .f = f, .file = file, .raw = raw, .errs = errs, .dropin = dropin, .unit = unit, .cur = -1 };
	int r;

	/* systemd semantics: no continuation lines, no inline comments (';' and '#' are data). */
	ini_allow_multiline = false;
	ini_allow_inline_comments = false;
	ini_allow_no_value = false;
	ini_stop_on_first_error = false;
	ini_use_stack = false;
	ini_allow_realloc = false;
	ini_max_line = CFG_LINE_MAX + 8;
	r = ini_parse_stream(read_line, &rd, on_key, &rd);
	free(rd.buf);
	if (rd.err < 0)
		return rd.err;
	if (r == -2)
		return -ENOMEM;
	/* Anything libinih still refused was malformed in a way read_line let through. */
	if (r > 0)
		return cfg_error_add(errs, file, (unsigned)r, "cannot parse this line");
	return 0;
}

/* ---- finding the files ---- */

struct found {
	char *name;   /* NAME.conf or the drop-in's file name */
	char *path;   /* to open (root-prefixed when needed) */
	char *shown;  /* host path for messages */
	bool masked;  /* empty or /dev/null */
};

static void found_free(struct found *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].path);
		free(v[i].shown);
	}
	free(v);
}

static int cmp_found(const void *a, const void *b)
{
	return strcmp(((const struct found *)a)->name, ((const struct found *)b)->name);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of a real directory, sorted (root_list() would prefix the root, --config must not). */
static int list_dir(const char *path, char ***ret)
{
	_cleanup_strv_free_ char **v = NULL;
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(path);
	int r = 0;

	if (!d)
		return negative_errno();
	while ((de = readdir(d)) && r >= 0)
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			r = strv_pushf(&v, &n, "%s", de->d_name);
	closedir(d);
	if (r < 0)
		return r;
	if (!v && !(v = calloc(1, sizeof(char *))))
		return -ENOMEM;
	qsort(v, n, sizeof(char *), cmp_str);
	*ret = TAKE_PTR(v);
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a > b && streq(s + a - b, suffix);
}

/* Adds the .conf files of DIR/SUB to v unless a file of that name is there already (an earlier directory).
 * Entries that are neither regular files nor links to /dev/null are errors. */
static int scan_dir(const char *dir, const char *sub, bool root_prefixed, struct found **v, size_t *n,
		    struct cfg_errors *errs)
{
	char host[PATH_MAX], real[PATH_MAX];
	_cleanup_strv_free_ char **names = NULL;
	int r;

	if (snprintf(host, sizeof(host), "%s%s%s", dir, sub ? "/" : "", sub ? sub : "") >= (int)sizeof(host))
		return -ENAMETOOLONG;
	if (snprintf(real, sizeof(real), "%s%s", root_prefixed ? root_get() : "", host) >= (int)sizeof(real))
		return -ENAMETOOLONG;
	r = list_dir(real, &names);
	if (r == -ENOENT || r == -ENOTDIR)
		return 0;
	if (r < 0)
		return cfg_error_add(errs, host, 0, "cannot read the directory: %s", strerror(-r));
	for (char **p = names; *p; p++) {
		struct stat st;
		struct found *nv;
		bool dup = false;

		if (!ends_with(*p, ".conf"))
			continue;
		for (size_t i = 0; i < *n; i++)
			dup |= streq((*v)[i].name, *p);
		if (dup)
			continue; /* a higher-precedence directory has it */
		if (snprintf(real, sizeof(real), "%s%s/%s", root_prefixed ? root_get() : "", host, *p) >= (int)sizeof(real))
			return -ENAMETOOLONG;
		nv = realloc(*v, (*n + 1) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		nv[*n] = (struct found){ .name = strdup(*p), .path = strdup(real) };
		if (asprintf(&nv[*n].shown, "%s/%s", host, *p) < 0)
			nv[*n].shown = NULL;
		(*n)++;
		if (!nv[*n - 1].name || !nv[*n - 1].path || !nv[*n - 1].shown)
			return -ENOMEM;
		if (stat(real, &st) < 0) {
			if ((r = cfg_error_add(errs, nv[*n - 1].shown, 0, "cannot read it: %m")) < 0)
				return r;
			nv[*n - 1].masked = true;
			continue;
		}
		if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3) {
			nv[*n - 1].masked = true; /* a link to /dev/null masks the name */
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			if ((r = cfg_error_add(errs, nv[*n - 1].shown, 0,
					       "not a regular file (configuration files are NAME.conf text files)")) < 0)
				return r;
			nv[*n - 1].masked = true;
			continue;
		}
		nv[*n - 1].masked = st.st_size == 0;
	}
	return 0;
}

static int add_file(struct cfg *c, const char *shown, const char **ret)
{
	char **v = realloc(c->files, (c->n_files + 2) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->files = v;
	v[c->n_files] = strdup(shown);
	if (!v[c->n_files])
		return -ENOMEM;
	*ret = v[c->n_files++];
	v[c->n_files] = NULL;
	return 0;
}

static int parse_path(struct cfg *c, const struct found *f, bool dropin, size_t unit, struct cfg_raw *raw,
		      struct cfg_errors *errs)
{
	_cleanup_fclose_ FILE *fh = NULL;
	const char *shown;
	int r;

	if (f->masked)
		return 0;
	if ((r = add_file(c, f->shown, &shown)) < 0)
		return r;
	fh = fopen(f->path, "re");
	if (!fh)
		return cfg_error_add(errs, shown, 0, "cannot open it: %m");
	log_debug("cfg: reading %s", f->path);
	return parse_one(fh, shown, dropin, unit, raw, errs);
}

int cfg_read_files(const char *const *dirs, bool root_prefixed, struct cfg *c, struct cfg_raw *raw,
		   struct cfg_errors *errs)
{
	struct found *mains = NULL;
	size_t n_mains = 0;
	int r = 0;

	for (const char *const *d = dirs; *d && r >= 0; d++)
		r = scan_dir(*d, NULL, root_prefixed, &mains, &n_mains, errs);
	if (r >= 0 && n_mains)
		qsort(mains, n_mains, sizeof(*mains), cmp_found);
	for (size_t i = 0; i < n_mains && r >= 0; i++) {
		struct found *drops = NULL;
		size_t n_drops = 0;
		char sub[NAME_MAX + 8];

		if (mains[i].masked)
			continue; /* a masked name takes its drop-ins with it, as systemd does */
		r = parse_path(c, &mains[i], false, i, raw, errs);
		snprintf(sub, sizeof(sub), "%s.d", mains[i].name);
		for (const char *const *d = dirs; *d && r >= 0; d++)
			r = scan_dir(*d, sub, root_prefixed, &drops, &n_drops, errs);
		if (r >= 0 && n_drops)
			qsort(drops, n_drops, sizeof(*drops), cmp_found);
		for (size_t k = 0; k < n_drops && r >= 0; k++)
			r = parse_path(c, &drops[k], true, i, raw, errs);
		found_free(drops, n_drops);
	}
	found_free(mains, n_mains);
	return r;
}
