/* root.c: path resolution under PTCTL_ROOT and the small-file I/O every module uses.
 * Writes to sysfs are single write(2) calls so the kernel sees exactly one store. */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>

#include "log.h"
#include "root.h"

static char *root_prefix;
static bool root_loaded;
static root_write_hook_t write_hook;
static void *write_hook_data;

const char *root_get(void)
{
	if (!root_loaded) {
		const char *e = getenv("PTCTL_ROOT");
		root_loaded = true;
		if (e && *e && !streq(e, "/")) {
			root_prefix = strdup(e);
			/* A trailing slash would double up with the absolute paths appended. */
			while (root_prefix && strlen(root_prefix) > 1 &&
			       root_prefix[strlen(root_prefix) - 1] == '/')
				root_prefix[strlen(root_prefix) - 1] = '\0';
		}
	}
	return root_prefix ? root_prefix : "";
}

void root_set(const char *prefix)
{
	free(root_prefix);
	root_prefix = prefix && *prefix ? strdup(prefix) : NULL;
	root_loaded = true;
}

void root_set_write_hook(root_write_hook_t hook, void *userdata)
{
	write_hook = hook;
	write_hook_data = userdata;
}

int root_vpath(char *buf, size_t len, const char *fmt, va_list ap)
{
	const char *r = root_get();
	size_t rl = strlen(r);
	int n;

	if (rl >= len)
		return -ENAMETOOLONG;
	memcpy(buf, r, rl);
	n = vsnprintf(buf + rl, len - rl, fmt, ap);
	if (n < 0 || (size_t)n >= len - rl)
		return -ENAMETOOLONG;
	return 0;
}

int root_path(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int r;
	va_start(ap, fmt);
	r = root_vpath(buf, len, fmt, ap);
	va_end(ap);
	return r;
}

/* The test hook (PTCTL_TEST_PAUSE_AT=N): before the Nth change made through here, say which and
 * stop (SIGSTOP), so a test can kill ptctl at exactly that step and check what it left. */
static void root_test_pause(const char *path, const char *value)
{
	static long pause_at = -1, changes;

	if (pause_at < 0) {
		const char *e = getenv("PTCTL_TEST_PAUSE_AT");
		char *end;
		pause_at = 0;
		if (e && *e) {
			long n = strtol(e, &end, 10);
			pause_at = *end || n < 0 ? 0 : n;
		}
	}
	if (!pause_at || ++changes != pause_at)
		return;
	fprintf(stderr, "ptctl: test hook: paused before change %ld: %s <- %.*s\n", changes, path,
		(int)strcspn(value, "\n"), value);
	fflush(stderr);
	raise(SIGSTOP);
}

/* The type is checked before the open (a FIFO would block it, a device open can have effects), and
 * again on the descriptor, so a file swapped in between is caught as well. */
int file_open_regular(const char *path, int flags, uint64_t *ret_size)
{
	struct stat before, st;
	int fd;

	if (stat(path, &before) < 0)
		return negative_errno();
	if (!S_ISREG(before.st_mode))
		return S_ISDIR(before.st_mode) ? -EISDIR : -EINVAL;
	fd = open(path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_ino != before.st_ino ||
	    st.st_dev != before.st_dev || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		close(fd);
		return -EINVAL;
	}
	if (ret_size)
		*ret_size = (uint64_t)st.st_size;
	return fd;
}

const char *file_type_error(int r)
{
	return r == -EINVAL ? "not a regular file (a FIFO, device or socket)" : strerror(-r);
}

int root_open_regular(const char *path, int flags, uint64_t *ret_size)
{
	char p[PATH_MAX];
	int r = root_path(p, sizeof(p), "%s", path);
	return r < 0 ? r : file_open_regular(p, flags, ret_size);
}

int root_open(const char *path, int flags, mode_t mode)
{
	char p[PATH_MAX];
	int r = root_path(p, sizeof(p), "%s", path);
	if (r < 0)
		return r;
	r = open(p, flags | O_CLOEXEC, mode);
	return r < 0 ? negative_errno() : r;
}

bool root_exists(const char *path)
{
	char p[PATH_MAX];
	return root_path(p, sizeof(p), "%s", path) >= 0 && access(p, F_OK) == 0;
}

/* Short reads are normal for sysfs and pipes, so only EOF or a full buffer ends the read. */
static int read_until_eof(int fd, void *buf, size_t len, size_t *ret_len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*ret_len = got;
	return 0;
}

int root_read(const char *path, char **ret)
{
	_cleanup_close_ int fd = root_open_regular(path, O_RDONLY, NULL);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;

	if (fd < 0)
		return fd;
	for (;;) {
		if (cap - len < 4096) {
			char *nb;
			if (cap >= (16u << 20))
				return -EFBIG;
			cap = cap ? cap * 2 : 4096;
			nb = realloc(buf, cap + 1);
			if (!nb)
				return -ENOMEM;
			buf = nb;
		}
		size_t got;
		int r = read_until_eof(fd, buf + len, cap - len, &got);
		if (r < 0)
			return r;
		len += got;
		if (len < cap)
			break;
	}
	if (!buf && !(buf = malloc(1)))
		return -ENOMEM;
	buf[len] = '\0';
	while (len && (buf[len - 1] == '\n'))
		buf[--len] = '\0';
	*ret = TAKE_PTR(buf);
	return 0;
}

int root_read_u64(const char *path, int base, uint64_t *ret)
{
	_cleanup_free_ char *s = NULL;
	int r = root_read(path, &s);
	if (r < 0)
		return r;
	return parse_u64(strstrip(s), base, ret);
}

int root_read_bytes(const char *path, void *buf, size_t len, size_t *ret_len)
{
	_cleanup_close_ int fd = root_open_regular(path, O_RDONLY, NULL);

	if (fd < 0)
		return fd;
	return read_until_eof(fd, buf, len, ret_len);
}

int root_write(const char *path, const char *value)
{
	_cleanup_close_ int fd = -1;
	size_t len = strlen(value);
	ssize_t n;

	root_test_pause(path, value);
	if (write_hook) {
		int r = write_hook(path, value, write_hook_data);
		if (r != 0)
			return r < 0 ? r : 0;
	}
	fd = root_open_regular(path, O_WRONLY | O_TRUNC, NULL);
	if (fd < 0)
		return fd;
	log_debug("write %s <- %s", path, value);
	n = write(fd, value, len);
	if (n < 0)
		return negative_errno();
	return (size_t)n == len ? 0 : -EIO;
}

int root_mkdir_p(const char *path, mode_t mode)
{
	char p[PATH_MAX];
	int r = root_path(p, sizeof(p), "%s", path);
	size_t start = strlen(root_get());

	if (r < 0)
		return r;
	for (char *s = p + start + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return negative_errno();
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return negative_errno();
	return 0;
}

/* Write to a temporary file beside the target, fsync, rename: readers see old or new, never half. */
int root_write_atomic(const char *path, const char *content, mode_t mode)
{
	char p[PATH_MAX], tmp[PATH_MAX];
	_cleanup_close_ int fd = -1;
	size_t len = strlen(content), off = 0;
	int r = root_path(p, sizeof(p), "%s", path);

	if (r < 0)
		return r;
	root_test_pause(path, "(new content)");
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", p, (long)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return negative_errno();
	while (off < len) {
		ssize_t n = write(fd, content + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = negative_errno();
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0 || rename(tmp, p) < 0) {
		r = negative_errno();
		goto fail;
	}
	return 0;
fail:
	unlink(tmp);
	return r;
}

int root_unlink(const char *path)
{
	char p[PATH_MAX];
	int r = root_path(p, sizeof(p), "%s", path);
	if (r < 0)
		return r;
	root_test_pause(path, "(removed)");
	return unlink(p) < 0 ? negative_errno() : 0;
}

int root_readlink(const char *path, char **ret)
{
	char p[PATH_MAX], target[PATH_MAX];
	ssize_t n;
	int r = root_path(p, sizeof(p), "%s", path);

	if (r < 0)
		return r;
	n = readlink(p, target, sizeof(target) - 1);
	if (n < 0)
		return negative_errno();
	target[n] = '\0';
	*ret = strdup(target);
	return *ret ? 0 : -ENOMEM;
}

int root_readlink_base(const char *path, char **ret)
{
	_cleanup_free_ char *t = NULL;
	const char *base;
	int r = root_readlink(path, &t);

	if (r < 0)
		return r;
	base = strrchr(t, '/');
	*ret = strdup(base ? base + 1 : t);
	return *ret ? 0 : -ENOMEM;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int root_list(const char *path, char ***ret)
{
	char p[PATH_MAX];
	DIR *d;
	struct dirent *de;
	char **v = NULL;
	size_t n = 0;
	int r = root_path(p, sizeof(p), "%s", path);

	if (r < 0)
		return r;
	d = opendir(p);
	if (!d)
		return negative_errno();
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		char *s = strdup(de->d_name);
		if (!s || (r = strv_push(&v, &n, s)) < 0) {
			if (!s)
				r = -ENOMEM;
			closedir(d);
			strv_free(v);
			return r;
		}
	}
	closedir(d);
	if (!v && !(v = calloc(1, sizeof(char *))))
		return -ENOMEM;
	qsort(v, n, sizeof(char *), cmp_str);
	*ret = v;
	return 0;
}
