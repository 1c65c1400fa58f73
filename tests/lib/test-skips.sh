#!/bin/bash
# Every skip in a unit test is reported as one: a cmocka program's bare skip() leaves it exiting 0, which
# run-unit would count as passed. Tests skip with TEST_SKIP(NEED, ...) and end main with test_exit()
# (tests/lib/testskip.h); scripts print "SKIP(NEED): why" before exit 77.
cd "$(dirname "$0")/../.." || exit 1
fails=0
for f in tests/*/test-*.c; do
	if grep -n '\bskip()' "$f" | grep -v 'TEST_SKIP' >/tmp/skips.$$; then
		while IFS= read -r l; do echo "FAIL: $f:${l%%:*}: bare skip(): use TEST_SKIP(NEED, why)"; done </tmp/skips.$$
		fails=$((fails + 1))
	fi
	if grep -q 'TEST_SKIP' "$f" && ! grep -q 'test_exit(cmocka_run_group_tests' "$f"; then
		echo "FAIL: $f: uses TEST_SKIP but main does not return test_exit(cmocka_run_group_tests...)"
		fails=$((fails + 1))
	fi
done
rm -f /tmp/skips.$$
for f in tests/*/test-*.sh; do
	grep -qE '^[^#]*\bexit 77' "$f" || continue
	grep -q 'SKIP(' "$f" || { echo "FAIL: $f: exits 77 without a SKIP(NEED): line"; fails=$((fails + 1)); }
done
echo "test-skips: $fails problem(s)"
[ "$fails" = 0 ]
