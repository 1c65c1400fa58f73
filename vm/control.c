/* control.c: the control socket of a running VM (a Unix stream socket under /run/ptctl/vm/NAME) and
 * its client side. One text command per connection: "status", "stop" or "console". */
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>

#include "internal.h"
#include "util/log.h"

#define CONSOLE_ESCAPE 0x1d /* Ctrl-] */

static int unix_address(const char *path, struct sockaddr_un *sa)
{
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

int vm_control_listen(struct vm *vm, const char *path)
{
	struct sockaddr_un sa;
	_cleanup_close_ int fd = -1;
	int r = unix_address(path, &sa);

	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return negative_errno();
	unlink(path); /* a stale socket of a VM that died; the caller holds the name's lock */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0)
		return negative_errno();
	vm->control_path = strdup(path);
	if (!vm->control_path)
		return -ENOMEM;
	vm->control_fd = TAKE_FD(fd);
	return 0;
}

/* Reads one line (up to len-1 bytes) within timeout_ms; the newline is dropped. */
static int read_line(int fd, char *buf, size_t len, int timeout_ms)
{
	size_t n = 0;
	while (n + 1 < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? negative_errno() : -ETIMEDOUT;
		ssize_t k = read(fd, buf + n, 1);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k <= 0)
			break;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return (int)n;
}

/* Replies are small next to a socket buffer; a client that stops reading gets 1 s, then is cut off. */
static void reply(int fd, const char *s)
{
	size_t len = strlen(s);
	while (len) {
		ssize_t w = send(fd, s, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			if (poll(&p, 1, 1000) == 1)
				continue;
			return;
		}
		if (w <= 0)
			return;
		s += w;
		len -= (size_t)w;
	}
}

/* ---- Server side: event-driven, served from vm_run()'s loop; nothing here waits on a client ---- */

int vm_control_register(struct vm *vm, const char *command, vm_control_fn fn, void *opaque)
{
	if (!command || !*command || strlen(command) >= sizeof(vm->control_cmds[0].name) || !fn)
		return -EINVAL;
	for (size_t i = 0; i < VM_MAX_CONTROL_CMDS; i++)
		if (vm->control_cmds[i].fn && streq(vm->control_cmds[i].name, command))
			return -EEXIST;
	for (size_t i = 0; i < VM_MAX_CONTROL_CMDS; i++)
		if (!vm->control_cmds[i].fn) {
			snprintf(vm->control_cmds[i].name, sizeof(vm->control_cmds[i].name), "%s", command);
			vm->control_cmds[i].fn = fn;
			vm->control_cmds[i].opaque = opaque;
			return 0;
		}
	return -ENOSPC;
}

static void conn_close(struct vm_control_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	*c = (struct vm_control_conn){ .fd = -1 };
}

void vm_control_accept(struct vm *vm)
{
	struct timespec now;
	int fd = accept4(vm->control_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	for (size_t i = 0; i < VM_MAX_CONTROL_CONNS; i++)
		if (vm->control_conns[i].fd < 0) {
			/* The client writes its command right after connecting; a silent one is dropped later. */
			vm->control_conns[i] = (struct vm_control_conn){ .fd = fd, .deadline = now.tv_sec + 5 };
			return;
		}
	reply(fd, "error busy\n");
	close(fd);
}

static void control_status(struct vm *vm, int fd)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "running name=%s pid=%ld cpus=%u memory=%llu\n", vm->name, (long)getpid(),
		 vm->ncpus, (unsigned long long)vm->mem->size);
	reply(fd, buf);
}

/* Console clients get output from the console writer thread, without blocking (a slow one loses output). */
static bool control_console(struct vm *vm, int fd)
{
	size_t i;
	bool ok = false;

	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < VM_MAX_CONSOLE_CLIENTS && vm->console_clients[i] >= 0; i++)
		;
	if (i < VM_MAX_CONSOLE_CLIENTS) {
		reply(fd, "ok\n");
		vm->console_clients[i] = fd;
		ok = true;
	}
	pthread_mutex_unlock(&vm->lock);
	if (!ok)
		reply(fd, "error too many consoles attached\n");
	return ok;
}

/* Runs one command line; returns true when the connection was handed over (console). */
static bool control_dispatch(struct vm *vm, int fd, char *line)
{
	char *args = strchr(line, ' ');

	if (args)
		*args++ = '\0';
	if (streq(line, "status")) {
		control_status(vm, fd);
	} else if (streq(line, "stop")) {
		reply(fd, "ok\n");
		vm_request_stop(vm);
	} else if (streq(line, "console")) {
		return control_console(vm, fd);
	} else {
		for (size_t i = 0; i < VM_MAX_CONTROL_CMDS; i++) {
			struct vm_control_cmd *c = &vm->control_cmds[i];
			char *out = NULL;
			int r;

			if (!c->fn || !streq(c->name, line))
				continue;
			r = c->fn(vm, args ? args : "", &out, c->opaque);
			if (r < 0 && !out) {
				char buf[160];
				snprintf(buf, sizeof(buf), "error %s\n", strerror(-r));
				reply(fd, buf);
			} else if (out) {
				reply(fd, out);
				if (!*out || out[strlen(out) - 1] != '\n')
					reply(fd, "\n");
			}
			free(out);
			return false;
		}
		reply(fd, "error unknown command\n");
	}
	return false;
}

void vm_control_serve(struct vm *vm, size_t i, short revents)
{
	struct vm_control_conn *c = &vm->control_conns[i];
	char *nl;

	if (c->fd < 0 || !revents)
		return;
	for (;;) {
		ssize_t k = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN)
			return; /* wait for the rest of the line */
		if (k <= 0) {
			conn_close(c);
			return;
		}
		c->len += (size_t)k;
		c->buf[c->len] = '\0';
		if ((nl = strchr(c->buf, '\n')))
			break;
		if (c->len == sizeof(c->buf) - 1) {
			reply(c->fd, "error command too long\n");
			conn_close(c);
			return;
		}
	}
	*nl = '\0';
	if (nl > c->buf && nl[-1] == '\r')
		nl[-1] = '\0';
	if (control_dispatch(vm, c->fd, c->buf))
		c->fd = -1; /* now a console client */
	conn_close(c);
}

void vm_control_expire(struct vm *vm)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	for (size_t i = 0; i < VM_MAX_CONTROL_CONNS; i++)
		if (vm->control_conns[i].fd >= 0 && now.tv_sec >= vm->control_conns[i].deadline)
			conn_close(&vm->control_conns[i]);
}

void vm_control_close_all(struct vm *vm)
{
	for (size_t i = 0; i < VM_MAX_CONTROL_CONNS; i++)
		conn_close(&vm->control_conns[i]);
}

/* ---- Client side ---- */

static int control_connect(const char *path, const char *command)
{
	struct sockaddr_un sa;
	_cleanup_close_ int fd = -1;
	char line[80];
	int r = unix_address(path, &sa);

	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return negative_errno();
	snprintf(line, sizeof(line), "%s\n", command);
	reply(fd, line);
	return TAKE_FD(fd);
}

int vm_control_request(const char *path, const char *command, char **ret_reply)
{
	return vm_control_request_timeout(path, command, 5000, ret_reply);
}

int vm_control_request_timeout(const char *path, const char *command, int timeout_ms, char **ret_reply)
{
	_cleanup_close_ int fd = control_connect(path, command);
	/* `show` replies with a JSON line of some kilobytes. */
	const size_t len = 256 * 1024;
	char *buf;
	int r;

	if (fd < 0)
		return fd;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	r = read_line(fd, buf, len, timeout_ms);
	if (r < 0) {
		free(buf);
		return r;
	}
	*ret_reply = buf;
	return 0;
}

int vm_control_console(const char *path, int in_fd, int out_fd)
{
	_cleanup_close_ int fd = control_connect(path, "console");
	struct termios saved, raw;
	bool tty;
	char buf[256];
	int r = 0, tty_fd;

	if (fd < 0)
		return fd;
	r = read_line(fd, buf, sizeof(buf), 5000);
	if (r < 0)
		return r;
	if (!streq(buf, "ok"))
		return -EBUSY;
	tty = isatty(in_fd) && tcgetattr(in_fd, &saved) == 0;
	tty_fd = in_fd;
	if (tty) {
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(in_fd, TCSANOW, &raw);
	}
	for (r = 0;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = in_fd, .events = POLLIN } };
		if (poll(p, in_fd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = negative_errno();
			break;
		}
		if (p[0].revents) {
			ssize_t k = read(fd, buf, sizeof(buf));
			if (k <= 0)
				break; /* the VM ended */
			if (write(out_fd, buf, (size_t)k) < 0)
				break;
		}
		if (in_fd >= 0 && p[1].revents) {
			ssize_t k = read(in_fd, buf, sizeof(buf));
			if (k <= 0) {
				in_fd = -1; /* keep showing output until the VM ends */
				continue;
			}
			if (memchr(buf, CONSOLE_ESCAPE, (size_t)k))
				break;
			if (send(fd, buf, (size_t)k, MSG_NOSIGNAL) < 0)
				break;
		}
	}
	if (tty)
		tcsetattr(tty_fd, TCSANOW, &saved);
	return r;
}
