/* assigned.c: the records of devices given to ptctl's VMs, and whether that VM still runs. Liveness
 * needs both the pid and the VM's lock: a pid alone may be reused, a name alone may be a newer VM. */
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>

#include "assigned.h"
#include "root.h"
#include "state.h"

bool assigned_vm_lock_held(const char *name)
{
	char p[PATH_MAX];
	_cleanup_close_ int fd = -1;

	if (!name || !*name || strchr(name, '/') || root_path(p, sizeof(p), VM_STATE_DIR "/%s/lock", name) < 0)
		return false;
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	/* A lock on another open file description conflicts even inside the holder's own process. */
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		return errno == EWOULDBLOCK;
	flock(fd, LOCK_UN);
	return false;
}

int assigned_read(const char *address, struct assignment *ret)
{
	_cleanup_free_ char *rec = NULL, *vm = NULL, *pid = NULL;
	struct assignment a = { .vm = "?" };
	char p[64];
	long n;
	char *end;
	int r = state_read(ASSIGNED_KIND, address, &rec);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (state_get_value(rec, "vm", &vm) >= 0 && *vm && strlen(vm) < sizeof(a.vm) && !strchr(vm, '/'))
		snprintf(a.vm, sizeof(a.vm), "%s", vm);
	if (state_get_value(rec, "pid", &pid) >= 0) {
		errno = 0;
		n = strtol(pid, &end, 10);
		if (!errno && end != pid && !*end && n > 0)
			a.pid = n;
	}
	if (a.pid > 0 && !streq(a.vm, "?")) {
		snprintf(p, sizeof(p), "/proc/%ld", a.pid);
		a.running = root_exists(p) && assigned_vm_lock_held(a.vm);
	}
	*ret = a;
	return 1;
}

int assigned_write(const char *address, const char *vm, long pid)
{
	_cleanup_free_ char *s = NULL;

	if (asprintf(&s, "vm=%s\npid=%ld\n", vm, pid) < 0)
		return -ENOMEM;
	return state_write(ASSIGNED_KIND, address, s);
}

int assigned_remove(const char *address)
{
	return state_remove(ASSIGNED_KIND, address);
}
