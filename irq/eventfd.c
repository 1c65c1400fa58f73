/* eventfd.c: the eventfds that carry a device's interrupts, one per vector, as a set that owns them.
 * Non-blocking, so a reader polls or takes the counter without ever stalling. */
#include <poll.h>
#include <sys/eventfd.h>

#include "irq/irq.h"
#include "util/log.h"

struct irq_vectors {
	unsigned count;
	int32_t fds[];
};

int irq_eventfd_new(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return fd < 0 ? negative_errno() : fd;
}

int irq_vectors_new(unsigned count, struct irq_vectors **ret)
{
	struct irq_vectors *v;

	/* 2048 is the MSI-X table's architectural limit; more is a caller's bug, not a device. */
	if (count == 0 || count > 2048)
		return -EINVAL;
	v = calloc(1, sizeof(*v) + count * sizeof(v->fds[0]));
	if (!v)
		return -ENOMEM;
	for (unsigned i = 0; i < count; i++)
		v->fds[i] = -1;
	v->count = count;
	for (unsigned i = 0; i < count; i++) {
		int fd = irq_eventfd_new();
		if (fd < 0) {
			log_debug("eventfd for vector %u: %s", i, strerror(-fd));
			irq_vectors_free(v);
			return fd;
		}
		v->fds[i] = fd;
	}
	*ret = v;
	return 0;
}

struct irq_vectors *irq_vectors_free(struct irq_vectors *v)
{
	if (!v)
		return NULL;
	for (unsigned i = 0; i < v->count; i++)
		if (v->fds[i] >= 0)
			close(v->fds[i]);
	free(v);
	return NULL;
}

unsigned irq_vectors_count(const struct irq_vectors *v)
{
	return v ? v->count : 0;
}

int irq_vectors_fd(const struct irq_vectors *v, unsigned i)
{
	if (!v || i >= v->count)
		return -EINVAL;
	return v->fds[i];
}

const int32_t *irq_vectors_fds(const struct irq_vectors *v)
{
	return v ? v->fds : NULL;
}

int irq_vectors_take(struct irq_vectors *v, unsigned i, uint64_t *ret)
{
	uint64_t n = 0;
	int fd = irq_vectors_fd(v, i);

	if (fd < 0)
		return fd;
	if (read(fd, &n, sizeof(n)) != sizeof(n)) {
		if (errno != EAGAIN)
			return negative_errno();
		n = 0;
	}
	*ret = n;
	return 0;
}

int irq_vectors_wait(struct irq_vectors *v, unsigned i, int timeout_ms, uint64_t *ret)
{
	int fd = irq_vectors_fd(v, i), r;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (fd < 0)
		return fd;
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return negative_errno();
	if (r == 0) {
		*ret = 0;
		return 0;
	}
	r = irq_vectors_take(v, i, ret);
	if (r < 0)
		return r;
	return *ret > 0;
}

int irq_vectors_signal(struct irq_vectors *v, unsigned i)
{
	uint64_t one = 1;
	int fd = irq_vectors_fd(v, i);

	if (fd < 0)
		return fd;
	if (write(fd, &one, sizeof(one)) != sizeof(one))
		return negative_errno();
	return 0;
}
