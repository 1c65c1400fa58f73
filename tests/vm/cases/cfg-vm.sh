#!/bin/bash
# A [VM] from the configuration, started the way ptctl-vm@NAME.service starts it: /etc/ptctl gives an igb VF
# a MAC and vfio-pci (VirtualFunction=2 named by PF:INDEX in Assign=) and a VM with Autostart=yes; apply
# converges, the generator's list names the VM, `ptctl vm run NAME --from-config` boots the
# guest with the VF, and the guest's igbvf sees the configured MAC and pings the PF through the VF.
# Both sides checked: the guest's ping and VF vectors, the PF's packet counters. SIGTERM ends the VM as a
# unit stop would (exit 5); the VF stays on vfio-pci (the configuration binds it). A nested boot with
# pass-through under TCG: about a minute idle, 1-3 minutes on a loaded machine.
# rig-timeout: 360
. /rig/lib.sh

sys=/sys/bus/pci/devices
pf=$RIG_IGB
host_ip=198.18.0.1 guest_ip=198.18.0.2 vfmac=02:00:00:00:c0:12
[ -n "$pf" ] || fail "igb not found"
[ -c /dev/kvm ] || fail "/dev/kvm missing in the test host"
dev=$(netdev_of "$pf")
[ -n "$dev" ] || fail "the igb PF has no netdev"
rig_l2_initrd || fail "cannot assemble the nested guest's initramfs"

cleanup() {
	[ -z "${vm_pid:-}" ] || kill "$vm_pid" 2>/dev/null
	[ -z "${iperf_pid:-}" ] || kill "$iperf_pid" 2>/dev/null
	wait 2>/dev/null
	local vf2
	[ -e "$sys/$pf/virtfn2" ] && vf2=$(basename "$(readlink "$sys/$pf/virtfn2")") &&
		[ "$(driver_of "$vf2")" = vfio-pci ] && ptctl release "$vf2"
	rm -rf /etc/ptctl /run/ptctl/cfg
	echo 0 >"$sys/$pf/sriov_numvfs"
	echo 1 >"$sys/$pf/sriov_drivers_autoprobe"
	pf_link_restore "$dev" "$host_ip"
}
trap cleanup EXIT

pf_link_up "$dev" "$host_ip"

mkdir -p /etc/ptctl
cat >/etc/ptctl/vm.conf <<CONF
[SR-IOV]
PhysicalFunction=$dev
VirtualFunctions=3

[VirtualFunction]
PhysicalFunction=$dev
VirtualFunction=2
MACAddress=$vfmac
Driver=vfio-pci

[VM]
Name=guest1
Kernel=$RIG_GUEST_KERNEL
Initrd=$RIG_GUEST_INITRD
CommandLine=console=ttyS0 quiet panic=-1 l2=vf-traffic peer=$host_ip self=$guest_ip/24 vfmac=$vfmac secs=2
Memory=256M
Assign=$dev:2
Autostart=yes
CONF
expect_ok ptctl config check
expect_ok ptctl apply
vf=$(basename "$(readlink "$sys/$pf/virtfn2")")
expect_eq "$(driver_of "$vf")" vfio-pci "VF 2 driver after apply"
expect_ok ptctl status
expect_match "$out" 'vm guest1 +drifted +not running' "status: the autostart VM is not running yet"

# What ptctl-vm-generator reads to pull ptctl-vm@guest1.service in (the generator itself: tests/cfg/test-units.sh).
expect_eq "$(ptctl config vms --autostart --names)" guest1 "autostart VMs"

stat() { cat "/sys/class/net/$dev/statistics/$1"; }
rx0=$(stat rx_packets) tx0=$(stat tx_packets)
iperf3 -s -B "$host_ip" -1 >iperf-server.log 2>&1 &
iperf_pid=$!
# ExecStart of ptctl-vm@guest1.service.
echo "\$ ptctl vm run guest1 --from-config"
# The nested boot's wait stretches with the test host's slowness (RIG_SCALE, 1-4), as rig_l2's does.
limit=$((180 * ${RIG_SCALE:-1}))
timeout $((limit + 60)) ptctl vm run guest1 --from-config </dev/null >vm.log 2>&1 &
vm_pid=$!
wait_for "$limit" grep -qE '^(VF-OK|vf-traffic: FAIL|RIG-L2-EXIT)' vm.log
tr -d '\r' <vm.log | sed 's/^/vm| /'
grep -q '^VF-OK' vm.log || fail "the guest's checks did not pass"
expect_match "$(grep -a '^VF-NETDEV' vm.log | tr -d '\r')" "$vfmac" "the guest's VF has the configured MAC"
expect_ok ptctl status --object guest1
expect_match "$out" 'vm guest1 +converged' "status: the VM runs"
# A unit stop: SIGTERM to the VMM.
kill -TERM "$vm_pid"
wait "$vm_pid"
rc=$?
vm_pid=
[ "$rc" = 5 ] || [ "$rc" = 0 ] || fail "vm run after SIGTERM exited $rc (expected 5: stopped, or 0 if the guest had powered off)"
rx=$(($(stat rx_packets) - rx0)) tx=$(($(stat tx_packets) - tx0))
echo "PF $dev: +$rx rx packets, +$tx tx packets"
[ "$rx" -ge 100 ] || fail "PF rx packets moved by only $rx"
[ "$tx" -ge 10 ] || fail "PF tx packets moved by only $tx"
wait "$iperf_pid"
expect_eq "$?" 0 "iperf3 server exit status"
iperf_pid=
grep -q receiver iperf-server.log || { cat iperf-server.log; fail "the iperf3 server saw no test"; }
echo "MEASURED igb VF via ptctl's own VMM from the configuration: ping avg $(tr -d '\r' <vm.log | sed -n 's/^VF-PING avg_ms=//p') ms, iperf3 $(tr -d '\r' <vm.log | sed -n 's/^VF-IPERF mbit=//p') Mbit/s"
expect_eq "$(driver_of "$vf")" vfio-pci "the VF stays on vfio-pci after the VM (the configuration binds it)"
expect_ok ptctl apply
expect_match "$out" '^nothing to do' "apply after the VM"
