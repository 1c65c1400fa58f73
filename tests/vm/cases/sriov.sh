#!/bin/bash
# `ptctl sriov` on the real kernel: igb PF: create 4 VFs (autoprobe off), set MAC/VLAN/QoS/spoofchk/trust/
# state/rate and compare each with iproute2's `ip -j link show`, refuse bad input with nothing changed,
# refuse a change while a VF's /dev/vfio group is open, 4 -> 2 -> 0; NVMe PF: create and destroy 2 VFs.
# Prints (does not assert) VF creation time with and without autoprobe.
# rig-timeout: 240
. /rig/lib.sh

IP=/usr/sbin/ip # iproute2: busybox's ip cannot show VFs
sys=/sys/bus/pci/devices
pf=$RIG_IGB nv=$RIG_NVME
[ -n "$pf" ] && [ -n "$nv" ] || fail "igb ($pf) or nvme ($nv) not found"
[ -x "$IP" ] || fail "$IP (iproute2) missing"

cleanup() {
	exec 7>&- 2>/dev/null
	[ "${was_up:-1}" = 1 ] || $IP link set "$dev" down
	for d in "$pf" "$nv"; do
		echo 0 >"$sys/$d/sriov_numvfs"
		echo 1 >"$sys/$d/sriov_drivers_autoprobe"
	done
}
trap cleanup EXIT

ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); } # busybox date has no %N
numvfs() { cat "$sys/$1/sriov_numvfs"; }
vf_addr() { basename "$(readlink "$sys/$1/virtfn$2")"; }
dev=$(netdev_of "$pf")
[ -n "$dev" ] || fail "the igb PF has no netdev"
# igb accepts a rate limit only while the PF's link is up
was_up=$(($(cat "/sys/class/net/$dev/flags") & 1))
$IP link set "$dev" up
wait_for 20 grep -q 1 "/sys/class/net/$dev/carrier" || fail "$dev (PF) has no carrier"

# --- create 4 VFs: autoprobe off first, every VF with its IOMMU group, no host driver on them ---
t0=$(ms)
expect_ok ptctl sriov create "$pf" 4
t_off=$(($(ms) - t0))
in_off=$(sed -n 's/.* in \([0-9]*\) ms.*/\1/p' <<<"$out")
expect_eq "$(numvfs "$pf")" 4 "sriov_numvfs after create"
expect_eq "$(cat "$sys/$pf/sriov_drivers_autoprobe")" 0 "autoprobe after create"
for i in 0 1 2 3; do
	vf=$(vf_addr "$pf" $i)
	[ -e "$sys/$vf/iommu_group" ] || fail "VF $i ($vf) has no IOMMU group"
	expect_eq "$(driver_of "$vf")" "" "driver of VF $i"
	expect_match "$out" "$vf" "create names VF $i"
done
step ptctl sriov show "$pf" || fail "sriov show exited $?"
RIG_QUIET=1 expect_ok ptctl --json sriov show "$pf"
j=$out
expect_eq "$(jq .num_vfs <<<"$j")" 4 "show num_vfs"
expect_eq "$(jq -r '.vfs[2].address' <<<"$j")" "$(vf_addr "$pf" 2)" "show VF 2 address"
expect_eq "$(jq '.vfs[2].iommu_group' <<<"$j")" "$(group_of "$(vf_addr "$pf" 2)")" "show VF 2 group"
expect_eq "$(jq -r .vf_settings_unavailable <<<"$j")" null "VF settings read over rtnetlink"

# --- VF settings, each compared with iproute2 ---
vfj() { $IP -j link show "$dev" | jq -c ".[0].vfinfo_list[] | select(.vf == $1)"; }
allvfs() { $IP -j link show "$dev" | jq -c '.[0].vfinfo_list'; }
step $IP link show "$dev"
expect_ok ptctl sriov set "$pf" 1 mac 52:54:00:00:01:01 vlan 100 qos 3 spoofchk off trust on
v=$(vfj 1)
echo "iproute2 says VF 1: $v"
expect_eq "$(jq -r .address <<<"$v")" 52:54:00:00:01:01 "VF 1 MAC (iproute2)"
expect_eq "$(jq -c '.vlan_list[0] | [.vlan, .qos]' <<<"$v")" "[100,3]" "VF 1 VLAN/QoS (iproute2)"
expect_eq "$(jq .spoofchk <<<"$v")" false "VF 1 spoofchk (iproute2)"
expect_eq "$(jq .trust <<<"$v")" true "VF 1 trust (iproute2)"
# ptctl's own read-back agrees with iproute2
RIG_QUIET=1 expect_ok ptctl --json sriov show "$pf"
expect_eq "$(jq -c '.vfs[1] | [.mac, .vlan, .qos, .spoofchk, .trust]' <<<"$out")" \
	'["52:54:00:00:01:01",100,3,false,true]' "VF 1 in ptctl sriov show"
# and the settings can be turned back
expect_ok ptctl sriov set "$pf" 1 vlan 0 spoofchk on trust off
expect_eq "$(vfj 1 | jq -c '[.vlan_list[0].vlan // 0, .spoofchk, .trust]')" "[0,true,false]" "VF 1 reset (iproute2)"

# state and rate, as the igb driver answers on 6.1 and 6.12 alike: it has no link-state control at all
# (EOPNOTSUPP), takes a maximum rate while the PF's link is up, and refuses a minimum rate (EINVAL).
# A refusal changes nothing and carries the kernel's errno.
refused() { # SETTING... ERRNO
	local errno=${*: -1} before after
	set -- "${@:1:$#-1}"
	before=$(vfj 3)
	expect_rc 1 ptctl sriov set "$pf" 3 "$@"
	after=$(vfj 3)
	expect_match "$out" "VF 3: $1" "refusal names the setting"
	expect_match "$out" "the kernel said $errno" "refusal of '$*' carries the kernel's errno"
	expect_eq "$after" "$before" "VF 3 unchanged after the refused '$*'"
}
for s in enable disable auto; do refused state $s EOPNOTSUPP; done
for r in 0:100 0:0; do
	expect_ok ptctl sriov set "$pf" 3 rate $r
	expect_eq "$(vfj 3 | jq -c '[.rate.min_tx, .rate.max_tx]')" "[${r%:*},${r#*:}]" "VF 3 rate $r (iproute2)"
done
refused rate 10:100 EINVAL

# a refusal late in one command puts back what that command had already applied
before=$(vfj 2)
expect_rc 1 ptctl sriov set "$pf" 2 mac 52:54:00:00:02:02 trust on state enable
expect_match "$out" "put back" "refusal says the rest was put back"
expect_eq "$(vfj 2)" "$before" "VF 2 unchanged after a partly refused command"

# --- bad input: exit 2, nothing changed ---
before=$(allvfs)
expect_rc 2 ptctl sriov set "$pf" 4 trust on
expect_match "$out" "has 4 VFs" "bad VF index message"
expect_rc 2 ptctl sriov set "$pf" 0 mac 01:00:5e:00:00:01
expect_rc 2 ptctl sriov set "$pf" 0 mac 52:54:00:00:00
expect_rc 2 ptctl sriov set "$pf" 0 vlan 4096
expect_rc 2 ptctl sriov set "$pf" 0 vlan 10 qos 8
expect_rc 2 ptctl sriov create "$pf" 8
expect_eq "$(allvfs)" "$before" "VF settings after bad input"
expect_eq "$(numvfs "$pf")" 4 "sriov_numvfs after bad input"

# --- 4 -> 2 (the kernel refuses it directly: that is why ptctl goes through 0) ---
( echo 2 >"$sys/$pf/sriov_numvfs" ) 2>/dev/null && fail "the kernel took 4 -> 2 directly"
expect_eq "$(numvfs "$pf")" 4 "sriov_numvfs after a direct 4 -> 2"
expect_ok ptctl sriov create "$pf" 2
expect_eq "$(numvfs "$pf")" 2 "sriov_numvfs after 4 -> 2"
[ -e "$sys/$pf/virtfn2" ] && fail "virtfn2 still there after 4 -> 2"
# a VF bound to vfio-pci with its group held open (fd 7 of this shell) blocks any change
vf0=$(vf_addr "$pf" 0)
echo vfio-pci >"$sys/$vf0/driver_override"
echo "$vf0" >/sys/bus/pci/drivers_probe
expect_eq "$(driver_of "$vf0")" vfio-pci "VF 0 driver"
g=$(group_of "$vf0")
exec 7<>"/dev/vfio/$g"
expect_rc 1 ptctl sriov destroy "$pf"
expect_match "$out" "/dev/vfio/$g open by pid [0-9]+" "in-use message names the group and a holder"
expect_eq "$(numvfs "$pf")" 2 "sriov_numvfs after a refused destroy"
expect_rc 1 ptctl sriov create "$pf" 3
exec 7>&-
expect_ok ptctl sriov destroy "$pf"
expect_eq "$(numvfs "$pf")" 0 "sriov_numvfs after destroy"
expect_ok ptctl sriov destroy "$pf"
expect_match "$out" "nothing to change" "destroy with no VFs"

# --- the same 4 VFs with autoprobe on, for the time it takes (igbvf probes each) ---
t0=$(ms)
expect_ok ptctl sriov create "$pf" 4 --autoprobe
t_on=$(($(ms) - t0))
in_on=$(sed -n 's/.* in \([0-9]*\) ms.*/\1/p' <<<"$out")
expect_eq "$(cat "$sys/$pf/sriov_drivers_autoprobe")" 1 "autoprobe with --autoprobe"
for i in 0 1 2 3; do
	wait_for 20 test -e "$sys/$(vf_addr "$pf" $i)/driver" || fail "no driver on VF $i 20 s after create --autoprobe"
	expect_eq "$(driver_of "$(vf_addr "$pf" $i)")" igbvf "driver of VF $i with autoprobe"
done
expect_ok ptctl sriov destroy "$pf"
# the kernel's part alone: the same write done by hand
echo 0 >"$sys/$pf/sriov_drivers_autoprobe"
t0=$(ms)
echo 4 >"$sys/$pf/sriov_numvfs"
t_raw=$(($(ms) - t0))
echo 0 >"$sys/$pf/sriov_numvfs"
echo 1 >"$sys/$pf/sriov_drivers_autoprobe"
echo "MEASURED (TCG, wall clock): 4 igb VFs with autoprobe off: ${t_off} ms for the whole ptctl run, ${in_off} ms inside it" \
	"(writes + wait); autoprobe on: ${t_on} ms, ${in_on} ms inside; the bare sysfs write with autoprobe off: ${t_raw} ms"
expect_ok ptctl -v sriov create "$pf" 2
# the kernel's uevents reach ptctl's monitor (the test host has no udevd)
expect_match "$out" "ready after [0-9]+ ms \([1-9][0-9]* add uevents\)" "uevents seen by the wait"
echo "wait: $(grep -o '[0-9]* VFs ready after .*' <<<"$out")"
expect_ok ptctl sriov destroy "$pf"

# --- NVMe PF: no netdev; create/show/destroy work, set is refused saying why ---
expect_ok ptctl sriov create "$nv" 2
expect_eq "$(numvfs "$nv")" 2 "nvme sriov_numvfs"
for i in 0 1; do
	[ -e "$sys/$(vf_addr "$nv" $i)/iommu_group" ] || fail "nvme VF $i has no IOMMU group"
done
step ptctl sriov show "$nv" || fail "sriov show nvme exited $?"
RIG_QUIET=1 expect_ok ptctl --json sriov show "$nv"
expect_eq "$(jq -r .netdev <<<"$out")" null "nvme netdev"
expect_eq "$(jq '.vfs | length' <<<"$out")" 2 "nvme VFs in show"
expect_rc 2 ptctl sriov set "$nv" 0 trust on
expect_match "$out" "network PFs only" "nvme set refusal"
expect_ok ptctl sriov destroy "$nv"
expect_eq "$(numvfs "$nv")" 0 "nvme sriov_numvfs after destroy"
echo "sriov: all checks passed"
