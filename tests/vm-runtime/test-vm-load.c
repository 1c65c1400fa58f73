/* test-vm-load.c: the parallel loader of guest RAM (vm/load.c): how reads are cut into 2 MiB pieces, that
 * what lands is byte for byte what a plain read gives (unaligned starts, file offsets, empty reads, one
 * thread or several), that overlapping reads keep their order, and that a short file is an error. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "vm/internal.h"

#define MIB (1ull << 20)

static void test_pieces(void **s)
{
	(void)s;
	uint8_t *base = (uint8_t *)(uintptr_t)(64 * MIB); /* only the address matters */
	assert_int_equal(vm_loader_pieces(base, 0), 0);
	assert_int_equal(vm_loader_pieces(base, 1), 1);
	assert_int_equal(vm_loader_pieces(base, 2 * MIB), 1);
	assert_int_equal(vm_loader_pieces(base, 2 * MIB + 1), 2);
	assert_int_equal(vm_loader_pieces(base, 4 * MIB), 2);
	/* 4 KiB before a boundary: 4 KiB, then whole pieces, then the tail. */
	assert_int_equal(vm_loader_pieces(base + 2 * MIB - 4096, 4096), 1);
	assert_int_equal(vm_loader_pieces(base + 2 * MIB - 4096, 4097), 2);
	assert_int_equal(vm_loader_pieces(base + 2 * MIB - 4096, 4096 + 4 * MIB + 1), 4);
}

/* A temporary file of n pseudo-random bytes (seeded), open for reading; its contents in *data. */
static int make_file(size_t n, unsigned seed, uint8_t **data)
{
	char path[] = "/tmp/ptctl-load-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	*data = malloc(n);
	assert_non_null(*data);
	srandom(seed);
	for (size_t i = 0; i < n; i++)
		(*data)[i] = (uint8_t)random();
	assert_int_equal(pwrite(fd, *data, n, 0), (ssize_t)n);
	return fd;
}

static uint8_t *guest_ram(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	return p;
}

/* Three reads (an unaligned one from a file offset, an empty one, an aligned one) against a plain copy. */
static void load_and_compare(unsigned threads)
{
	size_t fsize = 9 * MIB + 12345, ram = 32 * MIB;
	uint8_t *data, *got = guest_ram(ram), *want = calloc(1, ram);
	int fd = make_file(fsize, 7 + threads, &data);
	struct vm_loader l = { .threads = threads };

	assert_non_null(want);
	assert_int_equal(vm_loader_queue(&l, fd, got + 3 * MIB - 777, 5 * MIB + 99, 4321), 0);
	memcpy(want + 3 * MIB - 777, data + 4321, 5 * MIB + 99);
	assert_int_equal(vm_loader_queue(&l, fd, got + 10 * MIB, 0, 0), 0);
	assert_int_equal(vm_loader_queue(&l, fd, got + 16 * MIB, fsize, 0), 0);
	memcpy(want + 16 * MIB, data, fsize);
	assert_int_equal(l.n, 3);
	assert_int_equal(vm_loader_run(&l), 0);
	assert_int_equal(l.n, 0);
	assert_memory_equal(got, want, ram);
	assert_int_equal(l.used_threads, threads);
	munmap(got, ram);
	free(want);
	free(data);
	close(fd);
}

static void test_one_thread(void **s)
{
	(void)s;
	load_and_compare(1);
}

static void test_three_threads(void **s)
{
	(void)s;
	load_and_compare(3);
}

/* A read over part of a queued one runs after it, as in order: the later read's bytes win. */
static void test_overlap_keeps_order(void **s)
{
	(void)s;
	uint8_t *a, *b, *got = guest_ram(8 * MIB);
	int fa = make_file(6 * MIB, 1, &a), fb = make_file(1 * MIB, 2, &b);
	struct vm_loader l = { .threads = 2 };

	assert_int_equal(vm_loader_queue(&l, fa, got, 6 * MIB, 0), 0);
	assert_int_equal(vm_loader_queue(&l, fb, got + 3 * MIB - 5, 1 * MIB, 0), 0);
	assert_int_equal(l.n, 1); /* the first read ran before the second was queued */
	assert_int_equal(vm_loader_run(&l), 0);
	assert_memory_equal(got, a, 3 * MIB - 5);
	assert_memory_equal(got + 3 * MIB - 5, b, 1 * MIB);
	assert_memory_equal(got + 4 * MIB - 5, a + 4 * MIB - 5, 2 * MIB + 5);
	munmap(got, 8 * MIB);
	free(a);
	free(b);
	close(fa);
	close(fb);
}

/* A file shorter than what is asked: -EIO, and the queue is empty afterwards. */
static void test_short_file(void **s)
{
	(void)s;
	uint8_t *data, *got = guest_ram(8 * MIB);
	int fd = make_file(3 * MIB, 3, &data);
	struct vm_loader l = { .threads = 2 };

	assert_int_equal(vm_loader_queue(&l, fd, got, 5 * MIB, 0), 0);
	assert_int_equal(vm_loader_run(&l), -EIO);
	assert_int_equal(l.n, 0);
	assert_int_equal(vm_loader_run(&l), 0);
	/* A closed descriptor: the error is the read's. */
	close(fd);
	assert_int_equal(vm_loader_queue(&l, fd, got, 4096, 0), 0);
	assert_int_equal(vm_loader_run(&l), -EBADF);
	munmap(got, 8 * MIB);
	free(data);
}

/* More reads than the queue holds: the queue runs when full, and everything lands. */
static void test_full_queue(void **s)
{
	(void)s;
	uint8_t *data, *got = guest_ram(VM_LOADER_MAX_JOBS * 2 * 65536);
	int fd = make_file(65536, 4, &data);
	struct vm_loader l = { .threads = 2 };

	for (unsigned i = 0; i < VM_LOADER_MAX_JOBS * 2; i++)
		assert_int_equal(vm_loader_queue(&l, fd, got + (size_t)i * 65536, 65536, 0), 0);
	assert_int_equal(vm_loader_run(&l), 0);
	for (unsigned i = 0; i < VM_LOADER_MAX_JOBS * 2; i++)
		assert_memory_equal(got + (size_t)i * 65536, data, 65536);
	munmap(got, VM_LOADER_MAX_JOBS * 2 * 65536);
	free(data);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pieces),		 cmocka_unit_test(test_one_thread),
		cmocka_unit_test(test_three_threads),	 cmocka_unit_test(test_overlap_keeps_order),
		cmocka_unit_test(test_short_file),	 cmocka_unit_test(test_full_queue),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
