/* testskip.h: skips that tell the truth. A cmocka test that cannot run on this machine calls
 * TEST_SKIP(NEED, why...) instead of a bare skip(): the reason is printed as "SKIP(NEED): why" and the
 * program, ended with `return test_exit(cmocka_run_group_tests(...))`, exits 77 when anything was
 * skipped and nothing failed. tests/run-unit counts such a program as skipped, and fails the run unless
 * NEED is in ALLOW_SKIP (see README.md, "Tests"). NEED is a short word: kvm (a usable /dev/kvm), netns
 * (root: a private network namespace). Scripts do the same by hand: print "SKIP(NEED): why", exit 77. */
#pragma once
#include <stdbool.h>

#define TEST_EXIT_SKIP 77

/* Record and print the reason (once per NEED and reason). */
void test_skip_note(const char *need, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Inside a cmocka test: note the reason, then cmocka's skip() (which returns from the test). */
#define TEST_SKIP(need, ...)                                                                       \
	do {                                                                                       \
		test_skip_note(need, __VA_ARGS__);                                                 \
		skip();                                                                            \
	} while (0)

/* /dev/kvm can be opened read-write here (the VM and KVM tests need it). */
bool test_have_kvm(void);

/* The program's exit status from cmocka's failure count: 1 if anything failed, 77 if anything was
 * skipped (and nothing failed), else 0. */
int test_exit(int failures);
