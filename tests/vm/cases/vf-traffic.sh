#!/bin/bash
# Traffic through an igb VF passed to a nested guest with QEMU's vfio-pci: the VF made by `ptctl sriov
# create`, its MAC set by `ptctl sriov set`, bound by `ptctl bind`; the PF up with 198.18.0.1. In the guest
# igbvf binds, the link has carrier, the guest pings the PF and runs iperf3 to it. Checked on both sides:
# the guest's VF vectors and the test host's vfio-msix vectors count, the PF's counters move.
# Prints ping RTT and iperf3 Mbit/s. Leaves the host as it found it.
# rig-timeout: 240
. /rig/lib.sh

IP=/usr/sbin/ip
pf=$RIG_IGB
vfmac=52:54:00:5f:00:01
host_ip=198.18.0.1 guest_ip=198.18.0.2
[ -n "$pf" ] || fail "igb not found"
[ -c /dev/kvm ] || fail "/dev/kvm missing in the test host"
dev=$(netdev_of "$pf")
[ -n "$dev" ] || fail "the igb PF has no netdev"

cleanup() { vf_case_cleanup "$pf" "$dev" "$host_ip" "${sampler:-}" "${iperf_pid:-}"; }
trap cleanup EXIT

pf_link_up "$dev" "$host_ip"

sriov_vf0 "$pf" "$vfmac"
expect_eq "$($IP -j link show "$dev" | jq -r '.[0].vfinfo_list[0].address')" "$vfmac" "VF 0 MAC (iproute2)"
expect_ok ptctl bind "$vf"
expect_eq "$(driver_of "$vf")" vfio-pci "VF driver after bind"

stat() { cat "/sys/class/net/$dev/statistics/$1"; }
rx0=$(stat rx_packets) tx0=$(stat tx_packets)

# The test host's vfio-msix vectors exist only while the guest has MSI-X enabled: sample them as it runs.
# Each sample: the sum over CPUs of every vfio-msix line naming the VF.
vfio_irqs() {
	awk -v v="($vf)" 'NR == 1 { c = NF; next }
		index($NF, "vfio-msix") == 1 && index($NF, v) { for (i = 2; i <= c + 1; i++) s += $i; n++ }
		END { printf "%d %d\n", n, s }' /proc/interrupts
}
samples=$PWD/vfio-irqs
(while :; do vfio_irqs >>"$samples"; sleep 0.5; done) &
sampler=$!

iperf3 -s -B "$host_ip" -1 >iperf-server.log 2>&1 &
iperf_pid=$!

RIG_L2_APPEND="peer=$host_ip self=$guest_ip/24 vfmac=$vfmac secs=4" rig_l2 vf-traffic -device vfio-pci,host="$vf"
l2_rc=$?
kill "$sampler"
wait "$sampler" 2>/dev/null
sampler=
grep -q '^VF-OK' "$l2_log" || fail "the guest's checks did not pass (exit $l2_rc)"
expect_eq "$l2_rc" 0 "nested guest exit status"

# Test host side: the VF's vfio-msix vectors were there and counted while the guest ran.
read -r nvec max <<<"$(sort -k2,2n "$samples" | tail -n1)"
first=$(awk '$1 > 0 { print $2; exit }' "$samples")
echo "test host vfio-msix for $vf: up to ${nvec:-0} vectors, count ${first:-none} at first sight -> ${max:-0}"
[ "${nvec:-0}" -ge 1 ] || fail "no vfio-msix vectors for $vf in the test host's /proc/interrupts"
[ "${max:-0}" -gt "${first:-0}" ] || fail "vfio-msix vectors of $vf did not count (${first:-0} -> ${max:-0})"
[ "$(vfio_irqs)" = "0 0" ] || fail "vfio-msix vectors still present after the guest ended"

# The PF saw the traffic: the guest's packets in, the replies and ACKs out.
rx=$(($(stat rx_packets) - rx0)) tx=$(($(stat tx_packets) - tx0))
echo "PF $dev: +$rx rx packets, +$tx tx packets; the guest's VF: $(sed -n 's/^VF-COUNTERS //p' "$l2_log")"
# at least the pings, the TCP handshakes and some iperf3 segments (a loaded machine moves few: 775 seen)
[ "$rx" -ge 100 ] || fail "PF rx packets moved by only $rx"
[ "$tx" -ge 10 ] || fail "PF tx packets moved by only $tx"
wait "$iperf_pid"
iperf_rc=$?
iperf_pid=
expect_eq "$iperf_rc" 0 "iperf3 server exit status"
grep -q 'receiver' iperf-server.log || { cat iperf-server.log; fail "the iperf3 server saw no test"; }

rtt=$(sed -n 's/^VF-PING avg_ms=//p' "$l2_log")
mbit=$(sed -n 's/^VF-IPERF mbit=//p' "$l2_log")
echo "MEASURED igb VF via QEMU vfio-pci (nested guest -> PF): ping avg ${rtt} ms, iperf3 ${mbit} Mbit/s"

trap - EXIT
cleanup
expect_eq "$(cat "/sys/bus/pci/devices/$pf/sriov_numvfs")" 0 "sriov_numvfs after the case"
$IP -br addr show "$dev" | grep -q "$host_ip" && fail "$host_ip still on $dev"
echo "vf-traffic: all checks passed"
