/* load.c: reading files into guest RAM fast. Reads are queued, then run in parallel, one 2 MiB piece of
 * guest memory at a time (a huge page each, so one thread faults, clears and fills it), by up to
 * VM_LOADER_THREADS threads. Loading a kernel and initrd into fresh guest RAM costs a page fault, a
 * page clear and a copy per byte; with two CPUs that takes half the time. Reads whose destinations
 * overlap are never in flight together: the queue is run first, so later reads win, as in order. */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "internal.h"
#include "iommu/iommu.h"

int vm_read_full(int fd, uint8_t *dst, uint64_t len, uint64_t off)
{
	uint64_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, dst + got, len - got > (1u << 30) ? (1u << 30) : len - got, (off_t)(off + got));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO; /* the file shrank under us */
		got += (uint64_t)n;
	}
	return 0;
}

uint64_t vm_loader_pieces(const uint8_t *dst, uint64_t len)
{
	uintptr_t a = (uintptr_t)dst, first_end = (a / VM_LOADER_PIECE + 1) * VM_LOADER_PIECE;
	if (len == 0)
		return 0;
	if (len <= first_end - a)
		return 1;
	return 1 + (len - (first_end - a) + VM_LOADER_PIECE - 1) / VM_LOADER_PIECE;
}

static void *loader_worker(void *arg)
{
	struct vm_loader *l = arg;
	for (;;) {
		uint64_t k = atomic_fetch_add(&l->next, 1);
		unsigned i = 0;
		int none = 0, r;

		if (k >= l->pieces || atomic_load(&l->err))
			return NULL;
		while (i + 1 < l->n && l->job[i + 1].first <= k)
			i++;
		const struct vm_load_job *j = &l->job[i];
		uintptr_t a = (uintptr_t)j->dst, lo, hi;
		lo = k == j->first ? a : (a / VM_LOADER_PIECE + (k - j->first)) * VM_LOADER_PIECE;
		hi = (lo / VM_LOADER_PIECE + 1) * VM_LOADER_PIECE;
		hi = hi - a < j->len ? hi : a + j->len;
		r = vm_read_full(j->fd, (uint8_t *)lo, hi - lo, j->off + (lo - a));
		if (r < 0)
			atomic_compare_exchange_strong(&l->err, &none, r);
	}
}

int vm_loader_run(struct vm_loader *l)
{
	pthread_t tids[VM_LOADER_THREADS];
	unsigned threads = l->threads ? l->threads : guestmem_usable_cpus(), started = 0;

	if (l->n == 0)
		return 0;
	l->pieces = 0;
	for (unsigned i = 0; i < l->n; i++) {
		l->job[i].first = l->pieces;
		l->pieces += vm_loader_pieces(l->job[i].dst, l->job[i].len);
	}
	atomic_store(&l->next, 0);
	atomic_store(&l->err, 0);
	threads = threads < VM_LOADER_THREADS ? threads : VM_LOADER_THREADS;
	threads = threads < l->pieces ? threads : (unsigned)l->pieces;
	/* The calling thread is one of the workers; a thread that cannot start is one fewer. */
	for (unsigned t = 1; t < threads; t++)
		if (pthread_create(&tids[started], NULL, loader_worker, l) == 0)
			started++;
	loader_worker(l);
	for (unsigned t = 0; t < started; t++)
		pthread_join(tids[t], NULL);
	l->used_threads = started + 1 > l->used_threads ? started + 1 : l->used_threads;
	l->n = 0;
	return atomic_load(&l->err);
}

int vm_loader_queue(struct vm_loader *l, int fd, uint8_t *dst, uint64_t len, uint64_t off)
{
	int r;
	for (unsigned i = 0; i < l->n; i++)
		if (dst < l->job[i].dst + l->job[i].len && l->job[i].dst < dst + len) {
			if ((r = vm_loader_run(l)) < 0)
				return r;
			break;
		}
	if (l->n == VM_LOADER_MAX_JOBS && (r = vm_loader_run(l)) < 0)
		return r;
	l->job[l->n++] = (struct vm_load_job){ .fd = fd, .dst = dst, .len = len, .off = off };
	return 0;
}
