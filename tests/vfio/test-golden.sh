#!/usr/bin/env bash
# test-golden.sh: `ptctl list` and `ptctl show` (table and JSON) on fakesys's sample host, compared
# with tests/vfio/golden/*. UPDATE_GOLDEN=1 rewrites the golden files from the current output.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-build}
ptctl=${PTCTL:-$build/ptctl}
fixture=$build/tests/vfio/fixture-scenario
golden=$here/golden
tmp=$(mktemp -d /tmp/ptctl-golden-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0

mkdir -p "$tmp/iommu" "$tmp/noiommu" "$golden"
"$fixture" "$tmp/iommu" || exit 1
"$fixture" "$tmp/noiommu" noiommu || exit 1

# name root expected-exit args...
check() {
	local name=$1 root=$2 want=$3 rc
	shift 3
	PTCTL_ROOT=$tmp/$root "$ptctl" "$@" >"$tmp/$name.out" 2>&1
	rc=$?
	# Pids differ from run to run.
	sed -i "s/(pid $$)/(pid PID)/g" "$tmp/$name.out"
	echo "exit $rc" >>"$tmp/$name.out"
	if [ "$rc" != "$want" ]; then
		echo "FAIL $name: exit $rc, expected $want"
		fail=1
	fi
	if [ "${UPDATE_GOLDEN:-0}" = 1 ]; then
		cp "$tmp/$name.out" "$golden/$name"
	elif ! diff -u "$golden/$name" "$tmp/$name.out"; then
		echo "FAIL $name: output differs from $golden/$name (UPDATE_GOLDEN=1 to accept)"
		fail=1
	fi
}

check list.txt iommu 0 list
check list.json iommu 0 --json list
check list-noiommu.txt noiommu 0 list
check show-igb-pf.txt iommu 0 show 0000:01:00.0
check show-igb-pf.json iommu 0 show --json 01:00.0
check show-nvme.txt iommu 0 show 03:00.0
check show-smbus.json iommu 0 show 0000:00:1f.3 --json
check show-vf-ready.txt iommu 0 show 0000:01:10.2
check show-noiommu.txt noiommu 0 show 0000:02:00.0
check show-bad-address.txt iommu 2 show 0000:01:00
check show-no-device.txt iommu 2 show 0000:09:00.0

# A hostile or broken sysfs: one bad file on a device hides neither that device nor the others. Each
# field fed by a bad file is shown as unreadable (? in the table, null plus "unreadable" in JSON), and
# a warning names device, file and reason; a FIFO in sysfs is refused, never opened (no hang).
"$fixture" "$tmp/hostile" || exit 1
h=$tmp/hostile/sys/bus/pci/devices
echo 99999999999 >"$h/0000:01:00.0/sriov_totalvfs"
echo junk >"$h/0000:02:00.0/class"
echo x7 >"$h/0000:03:00.0/numa_node"
rm "$h/0000:00:05.0/iommu_group" && ln -s iommu_group "$h/0000:00:05.0/iommu_group"
rm "$h/0000:00:1f.0/vendor" "$h/0000:00:1f.0/class"
rm -f "$h/0000:00:1f.2/numa_node" && mkfifo "$h/0000:00:1f.2/numa_node"
check list-hostile.txt hostile 0 list
check list-hostile.json hostile 0 --json list
check show-hostile.txt hostile 0 show 0000:00:1f.0
check sriov-show-hostile.txt hostile 1 sriov show 0000:01:00.0
check bind-hostile.txt hostile 1 bind 0000:02:00.0
[ "$(grep -c '^0000:' "$tmp/list.txt.out")" = "$(grep -c '^0000:' "$tmp/list-hostile.txt.out")" ] ||
	{ echo "FAIL: list on the hostile tree does not show every device"; fail=1; }

check bind-dry-run-group.txt iommu 0 bind 00:1f.3 --group --dry-run
check bind-dry-run.json iommu 0 --json bind 0000:02:00.0 --dry-run
check release-dry-run.txt iommu 0 release 0000:01:10.2 --dry-run
check bind-not-viable.txt iommu 1 bind 0000:00:1f.3
check bind-in-use.txt iommu 1 bind 0000:03:00.0 --group
check bind-bridge.txt iommu 1 bind 0000:00:1c.0
check bind-noiommu.txt noiommu 1 bind 0000:02:00.0
check bind-no-device.txt iommu 2 bind 0000:0a:00.0
check bind-bad-address.txt iommu 2 bind 3:0.0.0
check bind-unknown-driver.txt iommu 2 bind 0000:00:05.0 --driver no-such-driver
check release-not-bound.txt iommu 1 release 0000:02:00.0
check bind-usage.txt iommu 2 bind
# Refusals and plans change nothing: no record, no driver moved.
if [ -e "$tmp/iommu/run/ptctl/devices" ] && [ -n "$(ls "$tmp/iommu/run/ptctl/devices")" ]; then
	echo "FAIL: a refused or dry-run bind left records in /run/ptctl/devices"
	fail=1
fi
if [ "$(basename "$(readlink "$tmp/iommu/sys/bus/pci/devices/0000:00:1f.3/driver")")" != i801_smbus ] ||
	[ "$(cat "$tmp/iommu/sys/bus/pci/devices/0000:02:00.0/driver_override")" != "(null)" ]; then
	echo "FAIL: a refused or dry-run bind changed a driver or driver_override"
	fail=1
fi

# A device assigned to a running VM of ptctl's (its record, our pid in /proc, the VM's lock held):
# list and show name the VM; bind, release and a bind of its PF are refused, naming the VM.
mkdir -p "$tmp/iommu/run/ptctl/assigned" "$tmp/iommu/run/ptctl/vm/vm1" "$tmp/iommu/proc/$$"
printf 'vm=vm1\npid=%d\n' $$ >"$tmp/iommu/run/ptctl/assigned/0000:01:10.2"
exec 9>"$tmp/iommu/run/ptctl/vm/vm1/lock"
flock 9
check show-vf-assigned.txt iommu 0 show 0000:01:10.2
check release-assigned.txt iommu 1 release 0000:01:10.2
check bind-assigned.txt iommu 1 bind 0000:01:10.2 --force
check bind-pf-vf-assigned.txt iommu 1 bind 0000:01:00.0 --force --dry-run
PTCTL_ROOT=$tmp/iommu "$ptctl" --json list | grep -q '"assigned_to":"vm1"' ||
	PTCTL_ROOT=$tmp/iommu "$ptctl" --json list | grep -q '"assigned_to": *"vm1"' ||
	{ echo "FAIL: list --json does not say 0000:01:10.2 is assigned to vm1"; fail=1; }
# The VMM died (SIGKILL: its lock went with it): the record no longer holds the device.
exec 9>&-
check release-assigned-stale.txt iommu 0 release 0000:01:10.2 --dry-run
rm -r "$tmp/iommu/run/ptctl/assigned" "$tmp/iommu/run/ptctl/vm" "$tmp/iommu/proc/$$"

# Every JSON key a verb prints is documented in its --help page.
# (show documents its own keys and refers to list's for the rest.)
keys_documented() {
	local json=$1 k
	shift
	for k in $(grep -o '"[a-z_]*":' "$json" | tr -d '":' | sort -u); do
		if ! for v in "$@"; do "$ptctl" "$v" --help; done | grep -qw -- "$k"; then
			echo "FAIL: key '$k' in $(basename "$json") is not documented in ptctl $* --help"
			fail=1
		fi
	done
}
keys_documented "$golden/list.json" list
keys_documented "$golden/show-smbus.json" show list
keys_documented "$golden/show-igb-pf.json" show list
keys_documented "$golden/bind-dry-run.json" bind

[ "$fail" = 0 ] && echo "test-golden: all outputs match"
exit $fail
