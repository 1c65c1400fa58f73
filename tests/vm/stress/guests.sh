#!/bin/bash
# Pass-through guests, many times: the igb VF assigned to a nested guest of ptctl's VMM (`ptctl vm run
# --assign`), which pings the PF and runs iperf3 to it (l2.d/vf-traffic), STRESS_GUESTS times (20) in one
# boot. Every run must power off with VF-OK, move traffic that the PF counts, and give the VF back. At the
# end it prints how each run ended, so that a rare crash (a triple fault names its registers) is seen with
# its rate. STRESS_VMM=qemu runs the same guest under QEMU's vfio-pci instead: the rig's own rate, to tell a
# ptctl fault from one of the emulated machine underneath. STRESS_SECS: iperf3 seconds per run (10).
# rig-timeout: 3600
. /rig/lib.sh

N=${STRESS_GUESTS:-20}
SECS=${STRESS_SECS:-10}
VMM=${STRESS_VMM:-ptctl}
pf=$RIG_IGB
vfmac=52:54:00:5f:00:02
host_ip=198.18.0.1 guest_ip=198.18.0.2
kernel=$RIG_GUEST_KERNEL
[ -f /rig/guest/vmlinux ] && kernel=/rig/guest/vmlinux
[ -n "$pf" ] || fail "igb not found"
[ -c /dev/kvm ] || fail "/dev/kvm missing in the test host"
case $VMM in ptctl | qemu) ;; *) fail "STRESS_VMM=$VMM: ptctl or qemu" ;; esac
rig_l2_initrd || fail "cannot assemble the nested guest's initramfs"
dev=$(netdev_of "$pf")
[ -n "$dev" ] || fail "the igb PF has no netdev"

cleanup() { vf_case_cleanup "$pf" "$dev" "$host_ip" "${iperf_pid:-}"; }
trap cleanup EXIT
pf_link_up "$dev" "$host_ip"
sriov_vf0 "$pf" "$vfmac"
vf_driver0=$(driver_of "$vf")
[ "$VMM" = qemu ] && expect_ok ptctl bind "$vf"

cmdline="console=ttyS0 quiet panic=-1 l2=vf-traffic peer=$host_ip self=$guest_ip/24 vfmac=$vfmac secs=$SECS"
declare -A ends
bad=0
for ((i = 1; i <= N; i++)); do
	rx0=$(cat "/sys/class/net/$dev/statistics/rx_packets")
	iperf3 -s -B "$host_ip" -1 >iperf-server.log 2>&1 &
	iperf_pid=$!
	log=$PWD/guest-$i.log
	t0=$EPOCHREALTIME
	if [ "$VMM" = ptctl ]; then
		timeout 400 ptctl vm run "g$i" --kernel "$kernel" --initrd "$RIG_GUEST_INITRD" --memory 256M \
			--cmdline "$cmdline" --assign "$vf" </dev/null >"$log" 2>&1
	else
		timeout 400 qemu-system-x86_64 -machine q35,accel=kvm -cpu qemu64 -smp 1 -m 256 -nodefaults \
			-display none -no-reboot -serial stdio -kernel "$kernel" -initrd "$RIG_GUEST_INITRD" \
			-append "$cmdline" -device vfio-pci,host="$vf" </dev/null >"$log" 2>&1
	fi
	rc=$?
	secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	kill "$iperf_pid" 2>/dev/null
	wait "$iperf_pid" 2>/dev/null
	iperf_pid=
	rx=$(($(cat "/sys/class/net/$dev/statistics/rx_packets") - rx0))
	con=$(tr -d '\r' <"$log")
	mbit=$(sed -n 's/^VF-IPERF mbit=//p' <<<"$con")
	# How it ended: ptctl names a reboot's cause, and at the timeout's stop what a vCPU with no exit for
	# 2 s or more was doing; QEMU (-no-reboot) exits 0 either way, so VF-OK decides.
	why=$(sed -n 's/.*: the guest rebooted: \(.*\) (exit status.*/\1/p; s/.*: stopped; \(.*\) (exit status.*/stopped: \1/p' <<<"$con")
	if [ "$rc" = 0 ] && grep -q '^VF-OK' <<<"$con" && [ "$rx" -ge 100 ] &&
		[ "$(driver_of "$vf")" = "$([ "$VMM" = qemu ] && echo vfio-pci || echo "$vf_driver0")" ]; then
		end=ok
	else
		end="exit $rc${why:+, $why}"
		bad=$((bad + 1))
		echo "--- guest $i ($end), its console's last lines (a triple fault's registers among them):"
		tail -n 25 <<<"$con" | sed 's/^/  | /'
	fi
	ends[$end]=$((${ends[$end]:-0} + 1))
	echo "guest $i/$N: $end, ${mbit:-?} Mbit/s, PF +$rx rx packets, ${secs} s"
done
[ "$VMM" = qemu ] && expect_ok ptctl release "$vf"
echo "MEASURED $N pass-through guests under $VMM, load $(cut -d' ' -f1-3 /proc/loadavg):"
for e in "${!ends[@]}"; do echo "MEASURED   ${ends[$e]} x $e"; done
trap - EXIT
cleanup
[ "$bad" = 0 ] || fail "$bad of $N guests did not complete"
echo "guests: all $N completed"
