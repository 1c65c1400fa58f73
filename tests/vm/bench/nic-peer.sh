#!/bin/bash
# make bench: ptctl bench nic on an igb VF twice in the same test host boot, with ptctl's own VMM and
# with QEMU as the VMM (e1000, virtio-net on a tap with vhost off and on, vfio-pci), same guest kernel
# and userspace, same wire; prints per path both figures and their ratio, and the load average.
# BENCH_DURATION (s per direction, default 10) is passed from the host as a kernel parameter if set.
# rig-timeout: 3000
. /rig/lib.sh

pf=$RIG_IGB
vf=$(RIG_VF_AUTOPROBE=0 vf_create "$pf" 1) || fail "cannot create a VF on $pf"
trap 'vf_destroy "$pf"' EXIT
kernel=/rig/guest/vmlinux
[ -f "$kernel" ] || kernel=$RIG_GUEST_KERNEL
d=${bench_duration:-10}

echo "bench: load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "\$ ptctl bench nic --vf $vf --duration $d --kernel $kernel --json"
ptctl bench nic --vf "$vf" --duration "$d" --kernel "$kernel" --json --svg /tmp/ptctl.svg >/tmp/ptctl.json
echo "\$ ptctl bench nic --vf $vf --duration $d --kernel $kernel --json --vmm qemu"
ptctl bench nic --vf "$vf" --duration "$d" --kernel "$kernel" --json --vmm qemu --svg /tmp/qemu.svg >/tmp/qemu.json
echo "bench: load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
for f in ptctl qemu; do
	jq -e . /tmp/$f.json >/dev/null || fail "$f: no JSON"
	echo "bench-json $f $(jq -c . /tmp/$f.json)"
done

fig() { jq -r --arg p "$2" '.paths[] | select(.path == $p) | if .status == "ok" then (.mbit_s | tostring) else .status end' "/tmp/$1.json"; }
printf 'bench: %-12s %14s %14s %11s\n' path "ptctl Mbit/s" "QEMU Mbit/s" ptctl/QEMU
for p in native emulated virtio vhost passthrough; do
	a=$(fig ptctl "$p") b=$(fig qemu "$p")
	r=-
	[[ $a =~ ^[0-9.]+$ && $b =~ ^[0-9.]+$ ]] && r=$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b }')
	printf 'bench: %-12s %14s %14s %11s\n' "$p" "$a" "$b" "$r"
done
for f in ptctl qemu; do
	echo "bench: $f ratios: $(jq -c .ratios /tmp/$f.json)"
	echo "bench: $f per path: $(jq -c '[.paths[] | {path, tx_mbit_s, rx_mbit_s, rtt_ms, vm_exits_per_mb, guest_irqs_per_mb, vmm_cpu_percent, reason}]' /tmp/$f.json)"
done
exit 0
