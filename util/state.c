/* state.c: the /run/ptctl lock and atomic state records.
 * flock() on a file under the root: released by the kernel if ptctl dies, so no stale locks. */
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <time.h>

#include "log.h"
#include "root.h"
#include "state.h"

int state_lock(int timeout_ms)
{
	_cleanup_close_ int fd = -1;
	int r = root_mkdir_p(STATE_DIR, 0755);
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	if (r < 0)
		return r;
	fd = root_open(STATE_DIR "/lock", O_RDWR | O_CREAT, 0644);
	if (fd < 0)
		return fd;
	for (int waited = 0;; waited += 20) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return TAKE_FD(fd);
		if (errno != EWOULDBLOCK)
			return negative_errno();
		if (waited >= timeout_ms)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
	}
}

static bool name_ok(const char *s)
{
	return s && *s && !strchr(s, '/') && !streq(s, ".") && !streq(s, "..");
}

int state_path(char *buf, size_t len, const char *kind, const char *name)
{
	if (!name_ok(kind) || !name_ok(name))
		return -EINVAL;
	if (snprintf(buf, len, STATE_DIR "/%s/%s", kind, name) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

int state_write(const char *kind, const char *name, const char *content)
{
	char dir[PATH_MAX], p[PATH_MAX];
	int r = state_path(p, sizeof(p), kind, name);

	if (r < 0)
		return r;
	snprintf(dir, sizeof(dir), STATE_DIR "/%s", kind);
	r = root_mkdir_p(dir, 0755);
	if (r < 0)
		return r;
	return root_write_atomic(p, content, 0644);
}

int state_read(const char *kind, const char *name, char **ret)
{
	char p[PATH_MAX];
	int r = state_path(p, sizeof(p), kind, name);
	return r < 0 ? r : root_read(p, ret);
}

int state_remove(const char *kind, const char *name)
{
	char p[PATH_MAX];
	int r = state_path(p, sizeof(p), kind, name);
	if (r < 0)
		return r;
	r = root_unlink(p);
	return r == -ENOENT ? 0 : r;
}

int state_list(const char *kind, char ***ret)
{
	char dir[PATH_MAX];
	char **v = NULL;
	int r;

	if (!name_ok(kind))
		return -EINVAL;
	snprintf(dir, sizeof(dir), STATE_DIR "/%s", kind);
	r = root_list(dir, &v);
	if (r == -ENOENT) {
		v = calloc(1, sizeof(char *));
		r = v ? 0 : -ENOMEM;
	}
	if (r < 0)
		return r;
	/* Drop temporary files of interrupted atomic writes. */
	size_t j = 0;
	for (size_t i = 0; v[i]; i++) {
		if (strstr(v[i], ".tmp."))
			free(v[i]);
		else
			v[j++] = v[i];
	}
	v[j] = NULL;
	*ret = v;
	return 0;
}

int state_get_value(const char *content, const char *key, char **ret)
{
	size_t kl = strlen(key);
	for (const char *l = content; l && *l;) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		if (len > kl && strncmp(l, key, kl) == 0 && l[kl] == '=') {
			*ret = strndup(l + kl + 1, len - kl - 1);
			return *ret ? 0 : -ENOMEM;
		}
		l = nl ? nl + 1 : NULL;
	}
	return -ENOENT;
}
