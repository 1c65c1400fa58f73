#!/bin/bash
# `ptctl bind` / `ptctl release` against the real kernel: round trips for the e1000e and an igb VF restore
# the original driver; a shared group (ICH9) is refused without --group; a PF in use is refused without --force.
# rig-timeout: 240
. /rig/lib.sh

dev_path() { echo "/sys/bus/pci/devices/$1"; }
override_of() { cat "$(dev_path "$1")/driver_override"; }

# round_trip ADDR ORIGINAL_DRIVER: bind to vfio-pci, check what the kernel did, release, check it is undone.
round_trip() {
	local a=$1 orig=$2 grp
	expect_eq "$(driver_of "$a")" "$orig" "$a driver before bind"
	grp=$(group_of "$a")
	step ptctl bind "$a" || fail "ptctl bind $a exited $?"
	expect_eq "$(driver_of "$a")" vfio-pci "$a driver after bind"
	expect_eq "$(sed -n "s/^original_driver=//p" "/run/ptctl/devices/$a" 2>/dev/null)" "$orig" \
		"original driver recorded under /run/ptctl"
	[ -c "/dev/vfio/$grp" ] || fail "/dev/vfio/$grp missing after binding $a"
	RIG_QUIET=1 run ptctl show --json "$a"
	expect_eq "$(jq -r .driver <<<"$out")" vfio-pci "ptctl show: driver after bind"
	expect_eq "$(jq -r .viable <<<"$out")" true "ptctl show: group $grp viable after bind"
	step ptctl release "$a" || fail "ptctl release $a exited $?"
	expect_eq "$(driver_of "$a")" "$orig" "$a driver after release"
	expect_eq "$(override_of "$a")" "(null)" "$a driver_override after release"
	[ ! -e "/dev/vfio/$grp" ] || fail "/dev/vfio/$grp still present after release"
	[ ! -e "/run/ptctl/devices/$a" ] || fail "the record of $a outlived its release"
}

# Bad input: exit 2, one line naming the object, nothing changed.
expect_rc 2 ptctl bind 0000:99:00.0
expect_match "$out" '0000:99:00\.0' "error names the address"
expect_rc 2 ptctl bind --driver no-such-driver "$RIG_E1000E"
expect_eq "$(driver_of "$RIG_E1000E")" e1000e "e1000e untouched by bad input"

# --dry-run plans and changes nothing.
expect_ok ptctl bind --dry-run "$RIG_E1000E"
expect_eq "$(driver_of "$RIG_E1000E")" e1000e "e1000e after --dry-run"
expect_eq "$(override_of "$RIG_E1000E")" "(null)" "driver_override after --dry-run"

# 1. e1000e: its netdev goes away on bind and comes back on release.
nd=$(netdev_of "$RIG_E1000E")
[ -n "$nd" ] || fail "e1000e has no netdev at the start"
round_trip "$RIG_E1000E" e1000e
wait_for 10 test -n "$(netdev_of "$RIG_E1000E")" || fail "e1000e netdev did not come back"

# 2. An igb VF, created through sysfs, back to igbvf.
vfs=$(vf_create "$RIG_IGB" 1) || fail "cannot create an igb VF"
trap 'ptctl release "$vfs" >/dev/null 2>&1; vf_destroy "$RIG_IGB"' EXIT
wait_for 10 test -n "$(driver_of "$vfs")" || fail "igbvf did not bind VF $vfs"
round_trip "$vfs" igbvf
vf_destroy "$RIG_IGB"
trap - EXIT

# 3. The ICH9 functions share one group: binding one alone is refused and names the others.
ich=(0000:00:1f.0 0000:00:1f.2 0000:00:1f.3)
declare -A before
for a in "${ich[@]}"; do
	before[$a]=$(driver_of "$a")
	[ -n "${before[$a]}" ] || fail "$a has no host driver at the start"
done
expect_rc 1 ptctl bind 0000:00:1f.3
expect_match "$out" '0000:00:1f\.0' "refusal names 00:1f.0"
expect_match "$out" '0000:00:1f\.2' "refusal names 00:1f.2"
expect_match "$out" '--group' "refusal says how to go on"
for a in "${ich[@]}"; do expect_eq "$(driver_of "$a")" "${before[$a]}" "$a driver after the refusal"; done
trap 'for a in "${ich[@]}"; do ptctl release "$a" >/dev/null 2>&1; done' EXIT
step ptctl bind --group 0000:00:1f.3 || fail "ptctl bind --group exited $?"
for a in "${ich[@]}"; do expect_eq "$(driver_of "$a")" vfio-pci "$a driver after bind --group"; done
[ -c "/dev/vfio/$(group_of 0000:00:1f.3)" ] || fail "no /dev/vfio node for the ICH9 group"
for a in "${ich[@]}"; do
	[ "$(driver_of "$a")" = vfio-pci ] || continue # releasing one may have restored the group
	step ptctl release "$a" || fail "ptctl release $a exited $?"
done
for a in "${ich[@]}"; do expect_eq "$(driver_of "$a")" "${before[$a]}" "$a driver after release"; done
trap - EXIT

# 4. An igb PF that is up with an address is in use: refused without --force, then bound with it.
pf_nd=$(netdev_of "$RIG_IGB")
[ -n "$pf_nd" ] || fail "igb has no netdev"
ip addr add 198.18.0.1/24 dev "$pf_nd" && ip link set "$pf_nd" up || fail "cannot configure $pf_nd"
trap 'ptctl release "$RIG_IGB" >/dev/null 2>&1; ip addr flush dev "$(netdev_of "$RIG_IGB")" 2>/dev/null' EXIT
expect_rc 1 ptctl bind "$RIG_IGB"
expect_match "$out" "$pf_nd|198\.18\.0\.1" "refusal names the interface or its address"
expect_match "$out" '--force' "refusal says how to go on"
expect_eq "$(driver_of "$RIG_IGB")" igb "igb after the refusal"
ip -br addr show dev "$pf_nd" | grep -q '198\.18\.0\.1/24' || fail "the refusal changed $pf_nd"
step ptctl bind --force "$RIG_IGB" || fail "ptctl bind --force exited $?"
expect_eq "$(driver_of "$RIG_IGB")" vfio-pci "igb after bind --force"
step ptctl release "$RIG_IGB" || fail "ptctl release exited $?"
expect_eq "$(driver_of "$RIG_IGB")" igb "igb after release"
wait_for 10 test -n "$(netdev_of "$RIG_IGB")" || fail "igb netdev did not come back"
trap - EXIT
ip addr flush dev "$(netdev_of "$RIG_IGB")"
ip link set "$(netdev_of "$RIG_IGB")" down
echo "all round trips restored the original drivers"
