#!/bin/bash
# Declarative configuration on the real kernel: a config in /etc/ptctl (3 igb VFs with MACs and VLANs, VF 2
# on vfio-pci) is applied and checked with iproute2 and sysfs; a second apply has nothing to do; a MAC changed
# by hand shows as drifted and only it is fixed; a broken file makes apply exit 2 with nothing changed; an
# apply killed (SIGKILL) at two points half-way (test hook PTCTL_TEST_PAUSE_AT) is converged by the next one.
# rig-timeout: 150
. /rig/lib.sh

IP=/usr/sbin/ip # iproute2: busybox's ip cannot show VFs
sys=/sys/bus/pci/devices
pf=$RIG_IGB
[ -n "$pf" ] || fail "igb not found"
dev=$(netdev_of "$pf")
[ -n "$dev" ] || fail "the igb PF has no netdev"
vf_addr() { basename "$(readlink "$sys/$pf/virtfn$1")"; }

cleanup() {
	local vf2
	[ -e "$sys/$pf/virtfn2" ] && vf2=$(vf_addr 2) && [ "$(driver_of "$vf2")" = vfio-pci ] && ptctl release "$vf2"
	rm -rf /etc/ptctl /run/ptctl/cfg
	echo 0 >"$sys/$pf/sriov_numvfs"
	echo 1 >"$sys/$pf/sriov_drivers_autoprobe"
}
trap cleanup EXIT

mkdir -p /etc/ptctl
cat >/etc/ptctl/rig.conf <<CONF
# The PF by its interface name, the VFs by index: stable across reboots.
[SR-IOV]
PhysicalFunction=$dev
VirtualFunctions=3

[VirtualFunction]
PhysicalFunction=$dev
VirtualFunction=0
MACAddress=02:00:00:00:c0:10
VLANId=100

[VirtualFunction]
PhysicalFunction=$dev
VirtualFunction=1
MACAddress=02:00:00:00:c0:11
VLANId=101
QualityOfService=2

[VirtualFunction]
PhysicalFunction=$dev
VirtualFunction=2
MACAddress=02:00:00:00:c0:12
Driver=vfio-pci
CONF

vfs() { $IP -j link show "$dev" | jq -c '[.[0].vfinfo_list[] | [.vf, .address, (.vlan_list[0].vlan // 0), (.vlan_list[0].qos // 0)]]'; }
want_vfs='[[0,"02:00:00:00:c0:10",100,0],[1,"02:00:00:00:c0:11",101,2],[2,"02:00:00:00:c0:12",0,0]]'
host_state() { # everything apply could change, in one line
	echo "numvfs=$(cat "$sys/$pf/sriov_numvfs") autoprobe=$(cat "$sys/$pf/sriov_drivers_autoprobe") vfs=$(vfs)"
	for i in 0 1 2; do [ -e "$sys/$pf/virtfn$i" ] && echo "vf$i=$(driver_of "$(vf_addr $i)")"; done
}
check_converged() { # WHAT
	expect_eq "$(cat "$sys/$pf/sriov_numvfs")" 3 "sriov_numvfs ($1)"
	expect_eq "$(cat "$sys/$pf/sriov_drivers_autoprobe")" 0 "drivers autoprobe ($1)"
	expect_eq "$(vfs)" "$want_vfs" "VF MACs and VLANs in ip -j link show ($1)"
	expect_eq "$(driver_of "$(vf_addr 2)")" vfio-pci "VF 2 driver ($1)"
	expect_eq "$(driver_of "$(vf_addr 0)")" "" "VF 0 driver ($1)"
}

expect_ok ptctl config check
step ptctl config show
expect_ok ptctl --dry-run apply
expect_match "$out" 'plan: 5 steps' "dry run shows the plan"
expect_eq "$(cat "$sys/$pf/sriov_numvfs")" 0 "dry run changed nothing"

# --- apply on a fresh host ---
expect_ok ptctl apply
expect_match "$out" 'applied 5 steps; verified' "apply result"
step $IP link show "$dev"
check_converged "after apply"
expect_ok ptctl --json status
expect_eq "$(jq -c '[.objects[].state] | unique' <<<"$out")" '["converged"]' "status: all converged"

# --- idempotent ---
expect_ok ptctl apply
expect_match "$out" '^nothing to do' "second apply"

# --- drift: a MAC changed by hand ---
$IP link set "$dev" vf 1 mac 02:00:00:00:c0:99
expect_ok ptctl status
expect_match "$out" 'vf [^ ]+/1 +drifted +VF 1 mac 02:00:00:00:c0:99, configured mac 02:00:00:00:c0:11' "status says drifted"
expect_ok ptctl --json --dry-run apply
expect_eq "$(jq -c '[.steps[].action]' <<<"$out")" '["vf-set"]' "the plan fixes only that"
expect_match "$(jq -r '.steps[0].text' <<<"$out")" 'VF 1 .*: set mac 02:00:00:00:c0:11$' "only the MAC"
expect_ok ptctl apply
expect_match "$out" 'applied 1 step; verified' "drift fixed in one step"
check_converged "after fixing the drift"

# --- a broken file: exit 2, nothing changed ---
before=$(host_state)
printf '[VirtualFunction]\nPhysicalFunction=%s\nVirtualFunction=0\nVLANId=5000\n' "$dev" >/etc/ptctl/rig.conf.d-broken.conf
mkdir -p /etc/ptctl/rig.conf.d && mv /etc/ptctl/rig.conf.d-broken.conf /etc/ptctl/rig.conf.d/broken.conf
expect_rc 2 ptctl apply
expect_match "$out" 'rig.conf.d/broken.conf:4: VLANId=5000' "the error names file and line"
expect_eq "$(host_state)" "$before" "a broken file changes nothing"
rm -rf /etc/ptctl/rig.conf.d

# --- SIGKILL half-way, then apply converges ---
# PTCTL_TEST_PAUSE_AT=N stops ptctl before its Nth change (util/root.h). From a host without VFs (autoprobe
# already off), change 1 is the VF count; the VF settings go over rtnetlink; change 2 is the record of VF 2's
# original driver (VFs created and set, the bind not begun), change 4 is drivers_probe (VF 2's
# driver_override written, nothing bound). Killed there, the next apply must converge from what is left.
for at in 2 4; do
	expect_ok ptctl release "$(vf_addr 2)"
	expect_ok ptctl sriov destroy "$pf"
	PTCTL_TEST_PAUSE_AT=$at ptctl apply >apply.log 2>&1 &
	pid=$!
	wait_for 60 grep -q "paused before change $at" apply.log || fail "apply never paused at change $at: $(cat apply.log)"
	kill -KILL $pid
	wait $pid 2>/dev/null
	echo "killed at: $(grep -o "paused before change $at: .*" apply.log)"
	echo "host after the kill: $(host_state | tr '\n' ' ')"
	expect_ok ptctl --json status
	expect_ne "$(jq -c '[.objects[].state] | unique' <<<"$out")" '["converged"]' "the kill at change $at left work undone"
	expect_ok ptctl apply
	check_converged "after the apply killed at change $at and another"
	expect_ok ptctl apply
	expect_match "$out" '^nothing to do' "converged for good (kill at change $at)"
done
