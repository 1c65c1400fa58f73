/* test-virtqueue.c: split virtqueues against a well-behaved driver (chains, wrap, indirect tables,
 * notification suppression) and a hostile one (rings outside RAM, loops, absurd lengths, indexes beyond
 * the ring): the queue breaks, and nothing outside the fake RAM is ever handed out. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vm/devices/virtio.h"
#include "vm/internal.h"

#define RAM_SIZE (1u << 20)
#define NUM 8
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define BUF 0x10000
#define INDIRECT 0x8000

static uint8_t *ram;

static void *fake_map(void *opaque, uint64_t gpa, uint64_t len)
{
	(void)opaque;
	if (gpa >= RAM_SIZE || len > RAM_SIZE - gpa)
		return NULL;
	return ram + gpa;
}

static const struct virtq_mem mem = { .map = fake_map };

static int setup(void **s)
{
	(void)s;
	static uint8_t buf[RAM_SIZE] __attribute__((aligned(4096)));
	ram = buf;
	memset(ram, 0, RAM_SIZE);
	return 0;
}

static void set_desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = ram + table + 16 * i;
	put_le64(d, addr);
	put_le32(d + 8, len);
	put_le16(d + 12, flags);
	put_le16(d + 14, next);
}

/* Publishes head in the avail ring at the driver's index idx, and idx + 1. */
static void publish(uint16_t idx, uint16_t head)
{
	put_le16(ram + AVAIL + 4 + 2 * (idx % NUM), head);
	put_le16(ram + AVAIL + 2, idx + 1);
}

static void init_q(struct virtq *q, bool event_idx, bool indirect)
{
	memset(q, 0, sizeof(*q));
	assert_int_equal(virtq_init(q, &mem, NUM, DESC, AVAIL, USED, event_idx, indirect), 0);
}

static void test_init_checks(void **s)
{
	struct virtq q = {};
	(void)s;
	assert_int_equal(virtq_init(&q, &mem, 0, DESC, AVAIL, USED, false, false), -EINVAL);
	assert_int_equal(virtq_init(&q, &mem, 6, DESC, AVAIL, USED, false, false), -EINVAL);
	assert_int_equal(virtq_init(&q, &mem, 8, DESC + 8, AVAIL, USED, false, false), -EINVAL);
	assert_int_equal(virtq_init(&q, &mem, 8, DESC, AVAIL + 1, USED, false, false), -EINVAL);
	assert_int_equal(virtq_init(&q, &mem, 8, DESC, AVAIL, USED + 2, false, false), -EINVAL);
	/* Rings outside RAM, or running off its end, or wrapping the address space. */
	assert_int_equal(virtq_init(&q, &mem, 8, RAM_SIZE, AVAIL, USED, false, false), -EFAULT);
	assert_int_equal(virtq_init(&q, &mem, 8, RAM_SIZE - 64, AVAIL, USED, false, false), -EFAULT);
	assert_int_equal(virtq_init(&q, &mem, 8, DESC, UINT64_MAX - 1, USED, false, false), -EFAULT);
	assert_int_equal(virtq_init(&q, &mem, 32768, DESC, AVAIL, RAM_SIZE - 0x1000, false, false), -EFAULT);
	assert_int_equal(q.num, 0); /* untouched */
	assert_int_equal(virtq_init(&q, &mem, 8, DESC, AVAIL, USED, false, false), 0);
}

static void test_chain_and_used(void **s)
{
	struct iovec iov[VIRTQ_MAX_SEGS];
	struct virtq_chain c;
	struct virtq q;
	(void)s;

	init_q(&q, false, false);
	assert_false(virtq_has_avail(&q));
	assert_int_equal(virtq_pop(&q, iov, VIRTQ_MAX_SEGS, &c), 0);

	/* 3 -> 5 -> 1: readable 100, readable 0 (skipped), writable 200. */
	set_desc(DESC, 3, BUF, 100, 1, 5);
	set_desc(DESC, 5, 0xdeadbeef000, 0, 1, 1); /* zero length: no address check, no segment */
	set_desc(DESC, 1, BUF + 0x1000, 200, 2, 0);
	publish(0, 3);
	assert_true(virtq_has_avail(&q));
	assert_int_equal(virtq_pop(&q, iov, VIRTQ_MAX_SEGS, &c), 1);
	assert_int_equal(c.head, 3);
	assert_int_equal(c.nout, 1);
	assert_int_equal(c.nin, 1);
	assert_int_equal(c.out_len, 100);
	assert_int_equal(c.in_len, 200);
	assert_ptr_equal(iov[0].iov_base, ram + BUF);
	assert_int_equal(iov[0].iov_len, 100);
	assert_ptr_equal(iov[1].iov_base, ram + BUF + 0x1000);
	assert_false(virtq_has_avail(&q));

	virtq_push(&q, c.head, 42);
	assert_int_equal(get_le16(ram + USED + 2), 1);
	assert_int_equal(get_le32(ram + USED + 4), 3);
	assert_int_equal(get_le32(ram + USED + 8), 42);
	assert_true(virtq_should_notify(&q));
	put_le16(ram + AVAIL, 1); /* VIRTQ_AVAIL_F_NO_INTERRUPT */
	assert_false(virtq_should_notify(&q));

	/* Give one back and take it again. */
	publish(1, 1);
	assert_int_equal(virtq_pop(&q, iov, VIRTQ_MAX_SEGS, &c), 1);
	virtq_unpop(&q);
	assert_true(virtq_has_avail(&q));
	assert_int_equal(virtq_pop(&q, iov, VIRTQ_MAX_SEGS, &c), 1);
	assert_int_equal(c.head, 1);
	assert_int_equal(c.nout, 0);

	virtq_set_notification(&q, false);
	assert_int_equal(get_le16(ram + USED), 1);
	virtq_set_notification(&q, true);
	assert_int_equal(get_le16(ram + USED), 0);
}

static void test_wrap(void **s)
{
	struct iovec iov[4];
	struct virtq_chain c;
	struct virtq q;
	(void)s;

	/* 3 * NUM chains across the 16-bit index wrap (the driver's indexes start where ours do). */
	init_q(&q, false, false);
	q.last_avail = q.used_idx = 65535 - NUM;
	put_le16(ram + USED + 2, q.used_idx);
	for (unsigned n = 0; n < 3 * NUM; n++) {
		uint16_t idx = 65535 - NUM + n;
		set_desc(DESC, n % NUM, BUF + 64 * n, 64, 2, 0);
		publish(idx, n % NUM);
		assert_int_equal(virtq_pop(&q, iov, 4, &c), 1);
		assert_int_equal(c.head, n % NUM);
		assert_ptr_equal(iov[0].iov_base, ram + BUF + 64 * n);
		virtq_push(&q, c.head, 64);
		assert_int_equal(get_le16(ram + USED + 2), (uint16_t)(idx + 1));
		assert_int_equal(get_le32(ram + USED + 4 + 8 * (idx % NUM)), n % NUM);
	}
	assert_int_equal(q.last_avail, (uint16_t)(65535 - NUM + 3 * NUM));
}

static void test_indirect(void **s)
{
	struct iovec iov[VIRTQ_MAX_SEGS];
	struct virtq_chain c;
	struct virtq q;
	(void)s;

	init_q(&q, false, true);
	set_desc(INDIRECT, 0, BUF, 12, 0, 0);            /* header, readable */
	set_desc(INDIRECT, 1, BUF + 0x100, 1500, 1, 2);   /* not reached: 0 has no NEXT */
	set_desc(DESC, 0, INDIRECT, 16 * 3, 4, 0);
	publish(0, 0);
	assert_int_equal(virtq_pop(&q, iov, VIRTQ_MAX_SEGS, &c), 1);
	assert_int_equal(c.nout, 1);
	assert_int_equal(c.out_len, 12);

	/* 0 -> 2 -> 1 inside the table: out 12, in 1500 + 100. */
	set_desc(INDIRECT, 0, BUF, 12, 1, 2);
	set_desc(INDIRECT, 2, BUF + 0x100, 1500, 3, 1);
	set_desc(INDIRECT, 1, BUF + 0x800, 100, 2, 0);
	publish(1, 0);
	assert_int_equal(virtq_pop(&q, iov, VIRTQ_MAX_SEGS, &c), 1);
	assert_int_equal(c.nout, 1);
	assert_int_equal(c.nin, 2);
	assert_int_equal(c.in_len, 1600);
	assert_ptr_equal(iov[2].iov_base, ram + BUF + 0x800);
}

/* Each hostile ring: pop fails with err, the queue is broken, and stays so. */
static void expect_broken(struct virtq *q, int err)
{
	struct iovec iov[VIRTQ_MAX_SEGS];
	struct virtq_chain c;
	uint16_t used = get_le16(ram + USED + 2);

	assert_int_equal(virtq_pop(q, iov, VIRTQ_MAX_SEGS, &c), err);
	assert_true(q->broken);
	assert_int_equal(virtq_pop(q, iov, VIRTQ_MAX_SEGS, &c), -EIO);
	assert_false(virtq_has_avail(q));
	virtq_push(q, 0, 0);
	assert_int_equal(get_le16(ram + USED + 2), used); /* a broken queue writes nothing */
}

static void test_hostile_indexes(void **s)
{
	struct virtq q;
	(void)s;

	init_q(&q, false, false);
	set_desc(DESC, 0, BUF, 10, 0, 0);
	put_le16(ram + AVAIL + 2, NUM + 1); /* more chains than the ring has room for */
	expect_broken(&q, -ERANGE);

	init_q(&q, false, false);
	publish(0, NUM); /* head beyond the table */
	expect_broken(&q, -ERANGE);

	init_q(&q, false, false);
	publish(0, 0xffff);
	expect_broken(&q, -ERANGE);

	init_q(&q, false, false);
	set_desc(DESC, 0, BUF, 10, 1, NUM); /* next beyond the table */
	publish(0, 0);
	expect_broken(&q, -ERANGE);
}

static void test_hostile_loops(void **s)
{
	struct virtq q;
	(void)s;

	init_q(&q, false, false);
	set_desc(DESC, 0, BUF, 10, 1, 0); /* itself */
	publish(0, 0);
	expect_broken(&q, -ELOOP);

	init_q(&q, false, false);
	for (unsigned i = 0; i < NUM; i++) /* a cycle through every descriptor */
		set_desc(DESC, i, BUF, 10, 1, (i + 1) % NUM);
	publish(0, 3);
	expect_broken(&q, -ELOOP);

	init_q(&q, false, true);
	set_desc(INDIRECT, 0, BUF, 10, 1, 1);
	set_desc(INDIRECT, 1, BUF, 10, 1, 0);
	set_desc(DESC, 0, INDIRECT, 32, 4, 0);
	publish(0, 0);
	expect_broken(&q, -ELOOP);

	init_q(&q, false, true);
	set_desc(INDIRECT, 0, BUF, 10, 1, 2); /* next beyond the indirect table */
	set_desc(DESC, 0, INDIRECT, 32, 4, 0);
	publish(0, 0);
	expect_broken(&q, -ERANGE);
}

static void test_hostile_addresses(void **s)
{
	static const uint64_t addrs[][2] = {
		{ RAM_SIZE, 1 },                  /* just past RAM */
		{ RAM_SIZE - 10, 11 },            /* running off the end */
		{ 0, 0xffffffff },                /* absurd length */
		{ UINT64_MAX - 4, 10 },           /* wrapping the address space */
		{ 0xfee00000, 4 },                /* the LAPIC, not RAM */
	};
	struct virtq q;
	(void)s;

	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		init_q(&q, false, false);
		set_desc(DESC, 0, BUF, 10, 1, 1);
		set_desc(DESC, 1, addrs[i][0], addrs[i][1], 2, 0);
		publish(0, 0);
		expect_broken(&q, -EFAULT);
	}
	/* An indirect table outside RAM. */
	init_q(&q, false, true);
	set_desc(DESC, 0, RAM_SIZE - 16, 32, 4, 0);
	publish(0, 0);
	expect_broken(&q, -EFAULT);
}

static void test_hostile_flags(void **s)
{
	struct iovec iov[2];
	struct virtq_chain c;
	struct virtq q;
	(void)s;

	init_q(&q, false, false); /* indirect not negotiated */
	set_desc(DESC, 0, INDIRECT, 16, 4, 0);
	publish(0, 0);
	expect_broken(&q, -EINVAL);

	init_q(&q, false, true); /* indirect with NEXT */
	set_desc(INDIRECT, 0, BUF, 10, 0, 0);
	set_desc(DESC, 0, INDIRECT, 16, 5, 1);
	publish(0, 0);
	expect_broken(&q, -EINVAL);

	init_q(&q, false, true); /* indirect in the middle of a chain */
	set_desc(DESC, 0, BUF, 10, 1, 1);
	set_desc(DESC, 1, INDIRECT, 16, 4, 0);
	publish(0, 0);
	expect_broken(&q, -EINVAL);

	init_q(&q, false, true); /* nested indirect */
	set_desc(INDIRECT, 0, INDIRECT, 16, 4, 0);
	set_desc(DESC, 0, INDIRECT, 16, 4, 0);
	publish(0, 0);
	expect_broken(&q, -EINVAL);

	init_q(&q, false, true); /* table length not a multiple of 16, or 0 */
	set_desc(DESC, 0, INDIRECT, 24, 4, 0);
	publish(0, 0);
	expect_broken(&q, -EINVAL);
	init_q(&q, false, true);
	set_desc(DESC, 0, INDIRECT, 0, 4, 0);
	publish(0, 0);
	expect_broken(&q, -EINVAL);

	init_q(&q, false, true); /* an absurdly long indirect table */
	set_desc(DESC, 0, 0, 16 * (VIRTQ_MAX_INDIRECT + 1), 4, 0);
	publish(0, 0);
	expect_broken(&q, -E2BIG);

	init_q(&q, false, false); /* readable after writable */
	set_desc(DESC, 0, BUF, 10, 3, 1);
	set_desc(DESC, 1, BUF, 10, 0, 0);
	publish(0, 0);
	expect_broken(&q, -EINVAL);

	init_q(&q, false, false); /* more segments than the caller has room for */
	set_desc(DESC, 0, BUF, 10, 1, 1);
	set_desc(DESC, 1, BUF, 10, 1, 2);
	set_desc(DESC, 2, BUF, 10, 0, 0);
	publish(0, 0);
	assert_int_equal(virtq_pop(&q, iov, 2, &c), -E2BIG);
	assert_true(q.broken);
}

static void test_event_idx(void **s)
{
	struct iovec iov[4];
	struct virtq_chain c;
	struct virtq q;
	(void)s;

	init_q(&q, true, false);
	for (unsigned i = 0; i < 4; i++)
		set_desc(DESC, i, BUF, 10, 2, 0);
	for (unsigned i = 0; i < 4; i++)
		publish(i, i);

	/* The first interrupt is always sent; then only when used_event is crossed. */
	assert_int_equal(virtq_pop(&q, iov, 4, &c), 1);
	virtq_push(&q, c.head, 10);
	assert_true(virtq_should_notify(&q));
	put_le16(ram + AVAIL + 4 + 2 * NUM, 2); /* used_event: tell me when entry 2 is used */
	assert_int_equal(virtq_pop(&q, iov, 4, &c), 1);
	virtq_push(&q, c.head, 10); /* used idx 2: entry 1 written */
	assert_false(virtq_should_notify(&q));
	assert_int_equal(virtq_pop(&q, iov, 4, &c), 1);
	virtq_push(&q, c.head, 10); /* used idx 3: entry 2 written */
	assert_true(virtq_should_notify(&q));
	assert_int_equal(virtq_pop(&q, iov, 4, &c), 1);
	virtq_push(&q, c.head, 10);
	assert_false(virtq_should_notify(&q));
	/* The flag is ignored with event index. */
	put_le16(ram + AVAIL, 1);
	put_le16(ram + AVAIL + 4 + 2 * NUM, 3);
	assert_false(virtq_should_notify(&q)); /* nothing new since the last check */

	/* avail_event follows what we took. */
	virtq_set_notification(&q, true);
	assert_int_equal(get_le16(ram + USED + 4 + 8 * NUM), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_init_checks, setup),
		cmocka_unit_test_setup(test_chain_and_used, setup),
		cmocka_unit_test_setup(test_wrap, setup),
		cmocka_unit_test_setup(test_indirect, setup),
		cmocka_unit_test_setup(test_hostile_indexes, setup),
		cmocka_unit_test_setup(test_hostile_loops, setup),
		cmocka_unit_test_setup(test_hostile_addresses, setup),
		cmocka_unit_test_setup(test_hostile_flags, setup),
		cmocka_unit_test_setup(test_event_idx, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
