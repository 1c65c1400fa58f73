#!/usr/bin/env bash
# test-vm-assign.sh: `ptctl vm run|start --assign` up to the point where the kernel is needed, on
# fakesys's sample host: usage (exit 2), the checks of `ptctl bind` (no device, group not viable, a bind
# that does not take, rolled back), a device another running VM holds (refused, naming it), and that the
# assignment record never outlives the VMM. Guests that drive an assigned device run in the rig.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${BUILD:-build}
PTCTL=${PTCTL:-$here/../../$build/ptctl}
fixture=$build/tests/vfio/fixture-scenario
tmp=$(mktemp -d /tmp/ptctl-vm-assign-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
export PTCTL_ROOT=$tmp/root
mkdir -p "$PTCTL_ROOT"
"$fixture" "$PTCTL_ROOT" || exit 1
kernel=$tmp/not-a-kernel
echo "not a kernel" >"$kernel"

# expect RC REGEX ARGS...: exit status and stderr of ptctl
expect() {
	local rc=$1 re=$2 err got
	shift 2
	err=$(timeout 60 "$PTCTL" "$@" 2>&1 >/dev/null </dev/null)
	got=$?
	if [ "$got" != "$rc" ] || ! [[ $err =~ $re ]]; then
		echo "FAIL: ptctl $*: exit $got (want $rc), stderr: $err (want /$re/)"
		fails=$((fails + 1))
	else
		echo "ok: ptctl $* -> $rc"
	fi
}
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
driver_of() { basename "$(readlink "$PTCTL_ROOT/sys/bus/pci/devices/$1/driver")"; }
no_records() {
	local d
	for d in assigned devices; do
		if [ -n "$(ls "$PTCTL_ROOT/run/ptctl/$d" 2>/dev/null)" ]; then
			fail "$1: records left in /run/ptctl/$d: $(ls "$PTCTL_ROOT/run/ptctl/$d")"
			rm -f "$PTCTL_ROOT/run/ptctl/$d"/*
		fi
	done
}

expect 2 "--assign 'nope': not a PCI address" vm run t1 --kernel "$kernel" --assign nope
expect 2 "--assign 0000:01:10.2: given twice" vm run t1 --kernel "$kernel" --assign 01:10.2 --assign 0000:01:10.2
expect 2 "--keep-bound goes with --assign" vm run t1 --kernel "$kernel" --keep-bound
expect 2 "at most 8 devices" vm run t1 --kernel "$kernel" $(for i in 0 1 2 3 4 5 6 7 8; do echo --assign 0000:0$i:00.0; done)
expect 2 "^ptctl: 0000:09:00.0: no such PCI device" vm run t1 --kernel "$kernel" --assign 09:00.0
expect 1 "^ptctl: 0000:00:1f.3: IOMMU group 4 is not viable: 0000:00:1f.0 is bound to lpc_ich, 0000:00:1f.2 is bound to ahci" \
	vm start t1 --kernel "$kernel" --assign 00:1f.3
expect 1 "^ptctl: 0000:03:00.0: in use: " vm run t1 --kernel "$kernel" --assign 03:00.0
no_records "refusals"
[ "$(driver_of 0000:00:1f.3)" = i801_smbus ] || fail "a refused --assign moved 00:1f.3"

# --dry-run: the same checks, and the plan of `ptctl bind --dry-run` for each device; nothing moves. The
# VM itself is built for real (a kernel that loads, /dev/kvm) and freed.
override0=$(cat "$PTCTL_ROOT/sys/bus/pci/devices/0000:02:00.0/driver_override")
expect 1 "^ptctl: 0000:00:1f.3: IOMMU group 4 is not viable" --dry-run vm run t1 --kernel "$kernel" --assign 00:1f.3
. "$here/../lib/fake-bzimage.sh"
fake_bzimage "$tmp/bzImage"
if [ -w /dev/kvm ]; then
	mkdir -p "$PTCTL_ROOT/dev" && ln -sf /dev/kvm "$PTCTL_ROOT/dev/kvm"
	out=$(timeout 60 "$PTCTL" --dry-run vm run t1 --kernel "$tmp/bzImage" --memory 64M --assign 02:00.0 2>&1)
	rc=$?
	[ "$rc" = 0 ] && grep -q '^result: *dry run' <<<"$out" &&
		grep -Eq '^ +0000:02:00\.0 +unbind +.*/drivers/e1000e/unbind' <<<"$out" &&
		grep -Eq '^devices at end: +back to the drivers they had' <<<"$out" ||
		fail "--dry-run vm run --assign 02:00.0: exit $rc: $out"
	expect 2 "^ptctl: t1: $kernel: " --dry-run vm run t1 --kernel "$kernel" --assign 02:00.0
	rm -f "$PTCTL_ROOT/dev/kvm"
else
	expect 1 "/dev/kvm does not exist" --dry-run vm run t1 --kernel "$tmp/bzImage" --memory 64M --assign 02:00.0
fi
no_records "dry runs"
[ "$(driver_of 0000:02:00.0)" = e1000e ] || fail "a dry run moved 02:00.0: $(driver_of 0000:02:00.0)"
[ "$(cat "$PTCTL_ROOT/sys/bus/pci/devices/0000:02:00.0/driver_override")" = "$override0" ] ||
	fail "a dry run wrote 02:00.0's driver_override"

# The fake tree has no kernel behind it: drivers_probe binds nothing, so the bind is rolled back and
# e1000e gets its device back (the second device is never touched; the first one, on vfio-pci already,
# stays there).
expect 1 "^ptctl: 0000:02:00.0: vfio-pci did not bind it" vm run t1 --kernel "$kernel" --assign 01:10.2 --assign 02:00.0
no_records "a bind that did not take"
[ "$(driver_of 0000:02:00.0)" = e1000e ] || fail "02:00.0 not back on e1000e: $(driver_of 0000:02:00.0)"
# (the fake tree keeps what was written: the newline that clears it)
[ -z "$(cat "$PTCTL_ROOT/sys/bus/pci/devices/0000:02:00.0/driver_override")" ] ||
	fail "02:00.0 driver_override not restored: $(cat "$PTCTL_ROOT/sys/bus/pci/devices/0000:02:00.0/driver_override")"
[ "$(driver_of 0000:01:10.2)" = vfio-pci ] || fail "01:10.2 left vfio-pci"

# A device another running VM holds: its record, its pid alive, its lock held.
mkdir -p "$PTCTL_ROOT/run/ptctl/assigned" "$PTCTL_ROOT/run/ptctl/vm/other" "$PTCTL_ROOT/proc/$$"
printf 'vm=other\npid=%d\n' $$ >"$PTCTL_ROOT/run/ptctl/assigned/0000:01:10.2"
exec 9>"$PTCTL_ROOT/run/ptctl/vm/other/lock"
flock 9
expect 1 "^ptctl: 0000:01:10.2: assigned to VM other \(pid $$\), which is running: stop it first \('ptctl vm stop other'\)" \
	vm run t1 --kernel "$kernel" --assign 01:10.2
grep -q '^vm=other$' "$PTCTL_ROOT/run/ptctl/assigned/0000:01:10.2" || fail "the other VM's record changed"
# That VM is killed (its lock goes with it): its record is stale, a new VM may take the device. This one
# gets past the checks and the record, then fails to open the device (the fake tree has no VFIO); its
# record goes with it.
exec 9>&-
if [ -w /dev/kvm ]; then
	mkdir -p "$PTCTL_ROOT/dev" && ln -sf /dev/kvm "$PTCTL_ROOT/dev/kvm"
	expect 1 "^ptctl: t1: 0000:01:10.2: /dev/vfio/vfio is missing \(load the vfio-pci module\)" \
		vm run t1 --kernel "$kernel" --assign 01:10.2
else
	expect 1 "/dev/kvm does not exist" vm run t1 --kernel "$kernel" --assign 01:10.2
fi
no_records "a VM that could not start"
[ "$(driver_of 0000:01:10.2)" = vfio-pci ] || fail "01:10.2 left vfio-pci (it was there before the VM)"

echo "test-vm-assign: $fails failure(s)"
[ "$fails" = 0 ]
