#!/usr/bin/env bash
# test-kill-seam.sh: the test hook the rig's kill tests use (PTCTL_TEST_PAUSE_AT=N stops ptctl before
# its Nth change), and the documented recovery after a SIGKILL there: a bind killed after writing its
# record but before touching the device leaves a record that `ptctl release` only removes.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PTCTL=${PTCTL:-$here/../../build/ptctl}
BUILD=${BUILD:-build}
tmp=$(mktemp -d /tmp/ptctl-kill-seam-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$here/../../$BUILD/tests/vfio/fixture-scenario" "$tmp" || exit 1
dev=0000:02:00.0
ovr=$tmp/sys/bus/pci/devices/$dev/driver_override
rec=$tmp/run/ptctl/devices/$dev
before=$(cat "$ovr")

# stopped PID: wait until the process is stopped (state T), at most 10 s.
stopped() {
	local i s
	for ((i = 0; i < 100; i++)); do
		s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
		[ "$s" = T ] && return 0
		sleep 0.1
	done
	return 1
}

PTCTL_ROOT=$tmp PTCTL_TEST_PAUSE_AT=2 "$PTCTL" bind "$dev" 2>"$tmp/err" &
pid=$!
if stopped "$pid"; then
	grep -q "test hook: paused before change 2: /sys/bus/pci/devices/$dev/driver_override <- vfio-pci" "$tmp/err" ||
		fail "the hook did not name change 2: $(cat "$tmp/err")"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	[ -f "$rec" ] || fail "change 1 (the record) was not made before change 2"
	[ "$(cat "$ovr")" = "$before" ] || fail "driver_override changed before change 2"
	# Recovery: the record describes no change, so release only removes it.
	out=$(PTCTL_ROOT=$tmp "$PTCTL" release "$dev" 2>&1) || fail "release after the kill: $out"
	[ ! -e "$rec" ] || fail "the record outlived the recovery"
	[ "$(cat "$ovr")" = "$before" ] || fail "the recovery wrote driver_override"
else
	fail "ptctl never stopped at change 2"
	kill -KILL "$pid" 2>/dev/null
fi

# Without the variable nothing stops (a dry run makes no change at all).
timeout 10 env PTCTL_ROOT=$tmp PTCTL_TEST_PAUSE_AT=1 "$PTCTL" bind --dry-run "$dev" >/dev/null ||
	fail "a dry run stopped or failed under the hook"

[ "$fails" = 0 ] && echo "test-kill-seam: all passed"
exit $((fails > 0))
