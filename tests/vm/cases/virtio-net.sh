#!/bin/bash
# ptctl's virtio-net-pci in a nested guest, twice: `--nic virtio,tap=...` (the VMM's own data path; the
# tap created by ptctl and gone after) and `--nic vhost,tap=...` (vhost-net; on a tap the test host made,
# left in place). Each time the guest's virtio_net binds, has carrier, pings the tap's address, runs
# iperf3 for a few seconds, and its MSI-X queue vectors and counters move; the tap's counters in the test
# host move too. Prints ping RTT and Mbit/s for both data paths.
# rig-timeout: 300
# rig-needs: vm
. /rig/lib.sh

IP=/usr/sbin/ip
host_ip=198.18.2.1 guest_ip=198.18.2.2
[ -c /dev/kvm ] || fail "/dev/kvm missing in the test host"
[ -c /dev/vhost-net ] || fail "/dev/vhost-net missing in the test host (vhost_net not loaded)"
rig_l2_initrd || fail "cannot assemble the nested guest's initramfs"

cleanup() {
	[ -z "${sampler:-}" ] || kill "$sampler" 2>/dev/null
	[ -z "${iperf_pid:-}" ] || kill "$iperf_pid" 2>/dev/null
	[ -z "${vm_pid:-}" ] || kill "$vm_pid" 2>/dev/null
	wait 2>/dev/null
	$IP link del ptvn1 2>/dev/null
	$IP link del ptvn0 2>/dev/null
}
trap cleanup EXIT

# run_nic MODEL TAP MAC: boots the guest with that NIC; samples the tap's counters while it runs.
run_nic() {
	local model=$1 tap=$2 mac=$3 log=/tmp/vn-$1.log samples=$PWD/tap-$1 l
	echo "\$ ptctl vm run vn-$model --nic $model,tap=$tap,mac=$mac ..."
	timeout $((180 * ${RIG_SCALE:-1})) ptctl vm run "vn-$model" --kernel "$RIG_GUEST_KERNEL" --initrd "$RIG_GUEST_INITRD" \
		--memory 256M --cpus 1 --nic "$model,tap=$tap,mac=$mac" \
		--cmdline "console=ttyS0 quiet panic=-1 l2=virtio-traffic peer=$host_ip self=$guest_ip/24 mac=$mac secs=3" \
		</dev/null >"$log" 2>&1 &
	vm_pid=$!
	# The tap exists once the VMM built the NIC: give it the host's address (if it is not the host's own).
	wait_for $((30 * ${RIG_SCALE:-1})) test -e "/sys/class/net/$tap" || { cat "$log"; fail "$tap did not appear"; }
	$IP -br addr show "$tap" | grep -q "$host_ip" || $IP addr add "$host_ip/24" dev "$tap" ||
		fail "cannot add $host_ip to $tap"
	# The guest waits for the address to answer pings before it starts iperf3.
	iperf3 -s -B "$host_ip" -1 >iperf-$model.log 2>&1 &
	iperf_pid=$!
	(while [ -e "/sys/class/net/$tap" ]; do
		echo "$(cat /sys/class/net/$tap/statistics/rx_bytes 2>/dev/null) $(cat /sys/class/net/$tap/statistics/tx_packets 2>/dev/null)"
		sleep 0.5
	done >"$samples") &
	sampler=$!
	wait "$vm_pid"
	vm_rc=$?
	vm_pid=
	tr -d '\r' <"$log" | sed 's/^/vm| /'
	kill "$sampler" 2>/dev/null
	wait "$sampler" 2>/dev/null
	sampler=
	kill "$iperf_pid" 2>/dev/null
	wait "$iperf_pid" 2>/dev/null
	iperf_pid=
	grep -q '^VN-OK' "$log" || fail "$model: the guest's checks did not pass (ptctl exit $vm_rc)"
	expect_eq "$vm_rc" 0 "$model: ptctl vm run exit status (guest powered off)"
	grep -q 'receiver' iperf-$model.log || { cat iperf-$model.log; fail "$model: the iperf3 server saw no test"; }
	# Test host side: the tap's counters (rx = frames from the guest, tx = frames to it).
	read -r rx0 tx0 <<<"$(awk 'NF == 2 { print; exit }' "$samples")"
	read -r rx1 tx1 <<<"$(awk 'NF == 2 { l = $0 } END { print l }' "$samples")"
	echo "$model: tap $tap rx_bytes ${rx0:-?} -> ${rx1:-?}, tx_packets ${tx0:-?} -> ${tx1:-?}"
	[ $((${rx1:-0} - ${rx0:-0})) -ge 100000 ] || fail "$model: tap $tap received only $((${rx1:-0} - ${rx0:-0})) bytes"
	[ $((${tx1:-0} - ${tx0:-0})) -ge 20 ] || fail "$model: tap $tap sent only $((${tx1:-0} - ${tx0:-0})) frames"
	rtt=$(sed -n 's/^VN-PING avg_ms=//p' "$log" | tr -d '\r')
	mbit=$(sed -n 's/^VN-IPERF mbit=//p' "$log" | tr -d '\r')
	echo "MEASURED ptctl virtio-net ($model) nested guest -> test host over a tap: ping avg ${rtt} ms, iperf3 ${mbit} Mbit/s"
	eval "mbit_$model=\$mbit"
}

# 1. The VMM's own data path on a tap ptctl creates and removes.
$IP link del ptvn0 2>/dev/null
run_nic virtio ptvn0 52:54:00:7e:00:01
[ -e /sys/class/net/ptvn0 ] && fail "ptvn0 (created by ptctl) still exists after the VM ended"

# 2. vhost-net on a persistent tap of the test host's own: attached, used, left in place.
$IP tuntap add ptvn1 mode tap || fail "cannot create tap ptvn1"
$IP addr add "$host_ip/24" dev ptvn1
run_nic vhost ptvn1 52:54:00:7e:00:02
[ -e /sys/class/net/ptvn1 ] || fail "ptvn1 (the test host's) was removed by ptctl"
$IP link del ptvn1

echo "benchmark: iperf3 guest -> test host, 1 vCPU, nested KVM under TCG (same boot):"
echo "benchmark:   virtio (ptctl's own data path) ${mbit_virtio:-?} Mbit/s"
echo "benchmark:   vhost  (vhost-net)             ${mbit_vhost:-?} Mbit/s"
trap - EXIT
cleanup
exit 0
