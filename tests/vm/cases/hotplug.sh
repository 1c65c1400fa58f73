#!/bin/bash
# `ptctl assign` / `ptctl unassign` into a running VM of ptctl's own (ACPI PCI hot-plug): an igb VF made by
# `ptctl sriov create` goes into a VM started with no device; the guest's acpiphp enumerates it, igbvf
# binds, the guest pings the PF; `unassign` asks the guest to eject it, the guest lets go, the VF is back
# on the host unbound. A second VM whose guest has acpiphp disabled (it rescans the bus itself and never
# answers an eject request): an `assign` it does not take in time is undone; `unassign` times out and
# keeps the device, `--force` takes it back.
# Prints the time from `assign` to the guest's driver having it. Leaves the host as it found it.
# With HOTPLUG_PEER=1 (make bench), then the peer in the same boot: QEMU's device_add / device_del of the
# same VF, timed against ptctl's.
# rig-timeout: 900
. /rig/lib.sh

pf=$RIG_IGB
vfmac=52:54:00:5f:00:21
host_ip=198.18.2.1 guest_ip=198.18.2.2
base="console=ttyS0 quiet panic=-1 l2=hotplug peer=$host_ip self=$guest_ip/24 vfmac=$vfmac"
[ -n "$pf" ] || fail "igb not found"
[ -c /dev/kvm ] || fail "/dev/kvm missing in the test host"
dev=$(netdev_of "$pf")
rig_l2_initrd || fail "cannot assemble the nested guest's initramfs"

cleanup() {
	[ -z "${qpid:-}" ] || qcleanup
	for v in hp1 hp2 hp3; do ptctl vm stop $v >/dev/null 2>&1; done
	[ -z "${vf:-}" ] || [ "$(driver_of "$vf")" != vfio-pci ] || ptctl release "$vf" >/dev/null
	ptctl sriov destroy "$pf" >/dev/null
	pf_link_restore "$dev" "$host_ip"
}
trap cleanup EXIT

pf_link_up "$dev" "$host_ip"
sriov_vf0 "$pf" "$vfmac"
drv0=$(driver_of "$vf")

# vm_up NAME EXTRA: start a VM with no device and wait for its guest's script to be ready.
vm_up() {
	expect_ok ptctl vm start "$1" --kernel "$RIG_GUEST_KERNEL" --initrd "$RIG_GUEST_INITRD" --memory 256M \
		--cmdline "$base $2"
	wait_for $((240 * ${RIG_SCALE:-1})) grep -q '^HP-READY' "/run/ptctl/vm/$1/console.log" ||
		{ cat "/run/ptctl/vm/$1/console.log"; fail "$1: the guest never got ready"; }
}
console() { tr -d '\r' <"/run/ptctl/vm/$1/console.log"; }

# Not running: refused, nothing changed.
expect_rc 1 ptctl assign "$vf" nosuchvm
expect_match "$out" 'not running' "assign to a VM that is not running"
expect_eq "$(driver_of "$vf")" "$drv0" "VF driver after the refused assign"

vm_up hp1 ""
t0=$EPOCHREALTIME
expect_ok ptctl assign "$vf" hp1 --json
expect_eq "$(driver_of "$vf")" vfio-pci "VF driver while assigned"
expect_match "$(ptctl show "$vf")" 'hp1' "show names the VM"
expect_match "$(ptctl vm show hp1 --json)" "$vf" "vm show lists the hot-plugged VF"
expect_rc 1 ptctl release "$vf"
expect_rc 1 ptctl assign "$vf" hp1
expect_match "$out" 'already assigned to VM hp1' "second assign"
wait_for $((120 * ${RIG_SCALE:-1})) grep -q '^HP-PING-OK' "/run/ptctl/vm/hp1/console.log" ||
	{ console hp1; fail "hp1: the guest did not bring the hot-plugged VF up"; }
t1=$EPOCHREALTIME
console hp1 | grep '^HP-'
echo "assign -> guest's igbvf pinging the PF: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
expect_ok ptctl unassign "$vf" hp1 --timeout 60
wait_for 60 grep -q '^HP-REMOVED' "/run/ptctl/vm/hp1/console.log" || { console hp1; fail "hp1: no removal seen"; }
expect_eq "$(driver_of "$vf")" "$drv0" "VF driver after unassign"
[ ! -e "/run/ptctl/assigned/$vf" ] || fail "assignment record left after unassign"
ptctl vm stop hp1 >/dev/null

# A guest that never answers an eject request.
vm_up hp2 "mode=noacpiphp acpiphp.disable=1 rescan_delay=30"
# It does not look at its bus for 30 s: an assign with a short timeout goes unanswered and is undone.
expect_rc 1 ptctl assign "$vf" hp2 --timeout 3
expect_match "$out" 'did not take the device' "assign that the guest never takes"
expect_eq "$(driver_of "$vf")" "$drv0" "VF driver after the timed-out assign"
[ ! -e "/run/ptctl/assigned/$vf" ] || fail "assignment record left after the timed-out assign"
expect_ok ptctl assign "$vf" hp2 --timeout 120
wait_for $((120 * ${RIG_SCALE:-1})) grep -q '^HP-HOLD' "/run/ptctl/vm/hp2/console.log" ||
	{ console hp2; fail "hp2: the guest did not take the VF by rescanning"; }
expect_rc 1 ptctl unassign "$vf" hp2 --timeout 3
expect_match "$out" 'did not release it' "unassign of a device the guest keeps"
expect_eq "$(driver_of "$vf")" vfio-pci "VF driver after the timed-out unassign"
expect_ok ptctl unassign "$vf" hp2 --timeout 3 --force
expect_eq "$(driver_of "$vf")" "$drv0" "VF driver after unassign --force"
[ ! -e "/run/ptctl/assigned/$vf" ] || fail "assignment record left after unassign --force"
ptctl vm stop hp2 >/dev/null

# The peer comparison runs under `make bench` (tests/vm/bench/hotplug-peer.sh sets HOTPLUG_PEER=1).
[ "${HOTPLUG_PEER:-0}" = 1 ] || exit 0

# The peer, in the same test host boot: QEMU (i440fx: ACPI PCI hot-plug on bus 0, the same mechanism)
# with the same guest kernel, initramfs and script; device_add / device_del of the same VF through its
# monitor. Compared: from the command to the guest's igbvf having the device (HP-NETDEV), and from the
# eject request to the guest letting go. ptctl's side is timed the same way right after.
expect_ok ptctl bind "$vf"
mon=/tmp/qmon
rm -f $mon.in $mon.out
mkfifo $mon.in $mon.out
qlog=/tmp/qemu-hp.log
: >"$qlog"
kernel=$RIG_GUEST_KERNEL
[ -f /rig/guest/vmlinux ] && kernel=/rig/guest/vmlinux
qemu-system-x86_64 -machine pc,accel=kvm -cpu qemu64 -smp 1 -m 256 -nodefaults -display none -no-reboot \
	-serial "file:$qlog" -chardev pipe,id=mon,path=$mon -mon chardev=mon,mode=readline \
	-kernel "$kernel" -initrd "$RIG_GUEST_INITRD" -append "$base" </dev/null >/tmp/qemu-hp.err 2>&1 &
qpid=$!
cat $mon.out >/tmp/qmon.log &
catpid=$!
qcleanup() { kill "$qpid" "$catpid" 2>/dev/null; wait "$qpid" "$catpid" 2>/dev/null; rm -f $mon.in $mon.out; qpid=; }
wait_for $((240 * ${RIG_SCALE:-1})) grep -q '^HP-READY' "$qlog" || { qcleanup; cat "$qlog" /tmp/qemu-hp.err; fail "QEMU's guest never got ready"; }
t0=$EPOCHREALTIME
echo "device_add vfio-pci,host=$vf,id=hp0" >$mon.in
wait_for 120 grep -q '^HP-NETDEV' "$qlog" || { qcleanup; cat "$qlog" /tmp/qmon.log; fail "QEMU's guest never got the VF"; }
q_plug=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
wait_for 120 grep -q '^HP-PING-OK' "$qlog" || { qcleanup; cat "$qlog"; fail "QEMU's guest did not ping through the VF"; }
t0=$EPOCHREALTIME
echo "device_del hp0" >$mon.in
wait_for 60 grep -q '^HP-REMOVED' "$qlog" || { qcleanup; cat "$qlog" /tmp/qmon.log; fail "QEMU's guest never let the VF go"; }
q_unplug=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
echo "quit" >$mon.in
qcleanup
expect_ok ptctl release "$vf"

vm_up hp3 ""
t0=$EPOCHREALTIME
expect_ok ptctl assign "$vf" hp3 --json
p_setup=$(echo "$out" | jq -r '.setup_seconds // empty' 2>/dev/null)
wait_for 120 grep -q '^HP-NETDEV' "/run/ptctl/vm/hp3/console.log" || { console hp3; fail "hp3: no netdev"; }
p_plug=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
wait_for 120 grep -q '^HP-PING-OK' "/run/ptctl/vm/hp3/console.log" || { console hp3; fail "hp3: no ping"; }
t0=$EPOCHREALTIME
expect_ok ptctl unassign "$vf" hp3 --timeout 60
p_unplug=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
ptctl vm stop hp3 >/dev/null 2>&1
echo "hot-plug, command to the guest's igbvf netdev: ptctl ${p_plug} s, QEMU ${q_plug} s, ptctl/QEMU" \
	"$(awk -v a="$p_plug" -v b="$q_plug" 'BEGIN { printf "%.2f", a / b }') (target <= 1.0; test host load $(cut -d' ' -f1 /proc/loadavg))"
echo "  of ptctl's: ${p_setup:-?} s in the VM's setup (VFIO open, its container, guest RAM mapped for DMA);" \
	"QEMU's VF was bound to vfio-pci beforehand, ptctl's bind is inside its figure"
echo "hot-unplug, eject request to the device gone: ptctl ${p_unplug} s (unassign, host driver back included)," \
	"QEMU ${q_unplug} s (device_del to the guest's removal)"
