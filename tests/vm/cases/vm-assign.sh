#!/bin/bash
# A guest of ptctl's own VMM drives an assigned device (`ptctl vm run|start --assign`):
#  1. an igb VF (sriov create + set mac) in a background VM: while it runs, release/bind/sriov destroy are
#     refused naming the VM, list says "assigned to", vm show has its BARs, MSI-X vectors and memory map;
#     then the VMM is killed with SIGKILL: the VF stays on vfio-pci with its record, `release` returns it;
#  2. a second VM with the same VF: igbvf binds, the guest pings the PF and runs iperf3 to it for 10 s; its
#     MSI-X vectors count, and so do the test host's vfio-msix ones; the VF is back where it was after;
#  3. the e1000e PF with the guest on INTx (pci=nomsi): e1000e binds and pings through the resampling irqfd,
#     the test host's vfio-intx line counts; e1000e has its device back after;
#  4. the peer: the same VF under QEMU's vfio-pci, same kernel and script. Prints ping RTT, iperf3 Mbit/s and
#     the time from the command to the guest's first userspace line for both, and the ratios ptctl/QEMU.
# Five nested boots: about 2 minutes on an idle machine, much longer under load.
# rig-timeout: 900
# rig-needs: vm show
. /rig/lib.sh

pf=$RIG_IGB
nic=$RIG_E1000E
vfmac=52:54:00:5f:00:02
host_ip=198.18.0.1 guest_ip=198.18.0.2 nic_ip=198.18.0.3
base="console=ttyS0 quiet panic=-1"
# Both VMMs boot the same kernel image: the PVH/ELF vmlinux (no decompressor run under emulation).
kernel=$RIG_GUEST_KERNEL
[ -f /rig/guest/vmlinux ] && kernel=/rig/guest/vmlinux
[ -n "$pf" ] && [ -n "$nic" ] || fail "igb or e1000e not found"
[ -c /dev/kvm ] || fail "/dev/kvm missing in the test host"
rig_l2_initrd || fail "cannot assemble the nested guest's initramfs"
dev=$(netdev_of "$pf")
[ -n "$dev" ] || fail "the igb PF has no netdev"
nic_driver0=$(driver_of "$nic")

cleanup() {
	ptctl vm stop vk >/dev/null 2>&1
	[ "$(driver_of "$nic")" != vfio-pci ] || ptctl release "$nic"
	vf_case_cleanup "$pf" "$dev" "$host_ip" "${sampler:-}" "${iperf_pid:-}"
}
trap cleanup EXIT

pf_link_up "$dev" "$host_ip"
sriov_vf0 "$pf" "$vfmac"
vf_driver0=$(driver_of "$vf")
echo "VF $vf on '${vf_driver0:-no driver}', e1000e $nic on '$nic_driver0'"

# Host-side interrupt lines of a device: "number-of-lines sum-over-CPUs" for handler names kind(ADDR).
host_irqs() {
	awk -v k="$1" -v a="($2)" 'NR == 1 { c = NF; next }
		index($NF, k) == 1 && index($NF, a) { for (i = 2; i <= c + 1; i++) s += $i; n++ }
		END { printf "%d %d\n", n, s }' /proc/interrupts
}
sample_start() { # KIND ADDR: sample host_irqs every 0.5 s into $samples
	samples=$PWD/samples.$1
	: >"$samples"
	(while :; do host_irqs "$1" "$2" >>"$samples"; sleep 0.5; done) &
	sampler=$!
}
sample_stop() { # prints "max-lines first-nonzero-count max-count"
	kill "$sampler" 2>/dev/null
	wait "$sampler" 2>/dev/null
	sampler=
	read -r n max <<<"$(sort -k2,2n "$samples" | tail -n1)"
	echo "${n:-0} $(awk '$1 > 0 { print $2; exit }' "$samples") ${max:-0}"
}
# run_vm NAME CMDLINE ARGS...: ptctl vm run in the foreground; console in $vm_log, status in $vm_rc, seconds
# from the command to the guest's first userspace line (RIG-L2-UP) in $vm_up.
run_vm() {
	local name=$1 cmdline=$2 t0 line
	shift 2
	vm_log=$PWD/vm-$name.log
	echo "\$ ptctl vm run $name --kernel $kernel --initrd $RIG_GUEST_INITRD --memory 256M --cmdline '$cmdline' $*"
	t0=$EPOCHREALTIME
	{
		timeout 400 ptctl vm run "$name" --kernel "$kernel" --initrd "$RIG_GUEST_INITRD" --memory 256M \
			--cmdline "$cmdline" "$@" </dev/null 2>&1
		echo "VM-RC $?"
	} | tr -d '\r' | while IFS= read -r line; do
		[[ $line == RIG-L2-UP* ]] && echo "VM-UP $t0 $EPOCHREALTIME"
		echo "$line"
	done >"$vm_log"
	sed '/^VM-/d; s/^/vm| /' "$vm_log"
	vm_rc=$(sed -n 's/^VM-RC //p' "$vm_log")
	vm_up=$(awk '/^VM-UP/ { printf "%.2f", $3 - $2 }' "$vm_log")
}
record=/run/ptctl/assigned/$vf

# ---- 0. --dry-run: the VM built on the real KVM and freed, the VF's bind planned, nothing moved ----
expect_ok ptctl --dry-run vm run vd --kernel "$kernel" --initrd "$RIG_GUEST_INITRD" --memory 256M --assign "$vf"
echo "$out" | sed 's/^/dry-run| /'
expect_match "$out" "result: +dry run: the VM was built and freed, nothing changed" "the dry run's result"
expect_match "$out" "$vf +override +/sys/bus/pci/devices/$vf/driver_override +vfio-pci" "the dry run's plan for the VF"
[ -z "$vf_driver0" ] || expect_match "$out" "$vf +unbind +[^ ]*/drivers/$vf_driver0/unbind" "the dry run's plan for the VF"
expect_eq "$(driver_of "$vf")" "$vf_driver0" "VF driver after the dry run"
[ ! -e "$record" ] && [ ! -e /run/ptctl/vm/vd ] || fail "the dry run left a record"

# ---- 1. A running VM holds the VF; its VMM is killed ----
expect_ok ptctl vm start vk --kernel "$kernel" --initrd "$RIG_GUEST_INITRD" --memory 256M \
	--cmdline "$base l2=idle secs=900" --assign "$vf"
expect_eq "$(driver_of "$vf")" vfio-pci "VF driver while assigned"
[ -f "$record" ] || fail "no record $record"
expect_match "$(cat "$record")" "vm=vk" "the assignment record"
# A guest that never comes up is stopped first: its VMM then says in the log what its vCPU was doing.
wait_for 300 grep -q '^IDLE-UP' /run/ptctl/vm/vk/console.log || {
	ptctl vm stop vk
	sed 's/^/vk| /' /run/ptctl/vm/vk/console.log | tr -d '\r' | tail -n 40
	fail "the idle guest never came up"
}
sed 's/^/vk| /' /run/ptctl/vm/vk/console.log | tr -d '\r' | grep -E 'IDLE|igbvf' | head -n 20
grep -q "^IDLE-NIC .* igbvf $vfmac" /run/ptctl/vm/vk/console.log || fail "the guest has no igbvf netdev with MAC $vfmac"
expect_rc 1 ptctl release "$vf"
expect_match "$out" "$vf: assigned to VM vk \(pid [0-9]+\), which is running" "release refused, naming the VM"
expect_rc 1 ptctl bind "$vf"
expect_match "$out" "assigned to VM vk" "bind refused, naming the VM"
expect_rc 1 ptctl sriov destroy "$pf"
expect_match "$out" "assigned to VM vk" "sriov destroy refused, naming the VM"
expect_eq "$(cat "/sys/bus/pci/devices/$pf/sriov_numvfs")" 1 "VFs after the refused destroy"
expect_eq "$(ptctl --json list | jq -r --arg a "$vf" '.[] | select(.address == $a) | .assigned_to')" vk "list: assigned_to"
expect_match "$(ptctl show "$vf")" "assigned to: +vk" "show: assigned to"
expect_ok ptctl vm show vk
RIG_QUIET=1 expect_ok ptctl --json vm show vk
show=$out
expect_eq "$(jq -r --arg a "$vf" '.devices[] | select(.address == $a) | .interrupt_mode' <<<"$show")" msix "interrupt mode"
expect_eq "$(jq -r '[.devices[].interrupts[] | select(.type == "msix" and .gsi != null and .guest_vector >= 32)] | length' <<<"$show")" 3 \
	"MSI-X vectors the guest enabled, each on a GSI with a vector"
expect_eq "$(jq -r '[.devices[].interrupts[] | select(.host_irq != null)] | length' <<<"$show")" 3 "host IRQs of the vectors"
expect_eq "$(jq -r '[.devices[].bars[] | select(.decoding and .kvm_slots > 0)] | length' <<<"$show")" 2 "BARs mapped as KVM slots"
expect_eq "$(jq -r '.memory_map[0].iommu_mapped' <<<"$show")" true "guest RAM mapped in the IOMMU"
[ "$(jq -r '.memory_map[0].host_physical_runs' <<<"$show")" -ge 1 ] || fail "no host-physical runs in vm show"
pid=$(jq -r .pid <<<"$show")
kill -KILL "$pid"
wait_for 30 sh -c "! ptctl vm list | grep -q '^vk  *running'" || fail "vk still running after SIGKILL"
expect_eq "$(driver_of "$vf")" vfio-pci "VF driver after the VMM was killed"
[ -f "$record" ] || fail "the record went with the killed VMM"
expect_eq "$(ptctl --json list | jq -r --arg a "$vf" '.[] | select(.address == $a) | .assigned_to')" null "list after the VMM died"
expect_ok ptctl release "$vf"
expect_eq "$(driver_of "$vf")" "$vf_driver0" "VF driver after release"
[ ! -e "$record" ] || fail "release left $record"

# ---- 2. A second VM takes the VF and moves traffic ----
stat() { cat "/sys/class/net/$dev/statistics/$1"; }
rx0=$(stat rx_packets)
iperf3 -s -B "$host_ip" -1 >iperf-server.log 2>&1 &
iperf_pid=$!
sample_start vfio-msix "$vf"
run_vm vf1 "$base l2=vf-traffic peer=$host_ip self=$guest_ip/24 vfmac=$vfmac secs=10" --assign "$vf"
read -r hn hfirst hmax <<<"$(sample_stop)"
expect_eq "$vm_rc" 0 "ptctl VM exit status (the guest powered off)"
grep -q '^VF-OK' "$vm_log" || fail "the guest's checks did not pass"
echo "test host vfio-msix for $vf: $hn vectors, count ${hfirst:-none} at first sight -> $hmax"
[ "$hn" -ge 1 ] || fail "no vfio-msix vectors for $vf in the test host's /proc/interrupts"
[ "$hmax" -gt "${hfirst:-0}" ] || fail "vfio-msix vectors of $vf did not count"
# Ping and iperf3 (10 s of TCP, however slow the emulated machine makes it) are some hundreds at least.
rx=$(($(stat rx_packets) - rx0))
echo "PF $dev: +$rx rx packets"
[ "$rx" -ge 100 ] || fail "the PF received only $rx packets"
wait "$iperf_pid"
expect_eq "$?" 0 "iperf3 server exit status"
iperf_pid=
expect_eq "$(driver_of "$vf")" "$vf_driver0" "VF driver after the VM"
[ ! -e "$record" ] || fail "the VM left $record"
ptctl_rtt=$(sed -n 's/^VF-PING avg_ms=//p' "$vm_log") ptctl_mbit=$(sed -n 's/^VF-IPERF mbit=//p' "$vm_log")
ptctl_up=$vm_up

# ---- 3. The e1000e PF on INTx ----
sample_start vfio-intx "$nic"
run_vm nic1 "$base pci=nomsi l2=nic-ping drv=e1000e peer=$host_ip self=$nic_ip/24" --assign "$nic"
read -r hn hfirst hmax <<<"$(sample_stop)"
expect_eq "$vm_rc" 0 "ptctl VM exit status (e1000e)"
grep -q '^NIC-OK' "$vm_log" || fail "the e1000e guest's checks did not pass"
echo "test host vfio-intx for $nic: $hn line(s), count ${hfirst:-none} at first sight -> $hmax"
[ "$hn" -ge 1 ] && [ "$hmax" -gt "${hfirst:-0}" ] || fail "the test host's vfio-intx line of $nic did not count"
expect_eq "$(driver_of "$nic")" "$nic_driver0" "e1000e driver after the VM"
[ ! -e "/run/ptctl/assigned/$nic" ] || fail "the VM left /run/ptctl/assigned/$nic"

# ---- 4. The peer: QEMU's vfio-pci with the same VF, kernel, initramfs, script, memory and vCPU ----
expect_ok ptctl bind "$vf"
iperf3 -s -B "$host_ip" -1 >iperf-server2.log 2>&1 &
iperf_pid=$!
qemu_log=$PWD/vm-qemu.log
t0=$EPOCHREALTIME
{
	timeout $((120 * ${RIG_SCALE:-1})) qemu-system-x86_64 -machine q35,accel=kvm -cpu qemu64 -smp 1 -m 256 -nodefaults -display none \
		-no-reboot -serial stdio -kernel "$kernel" -initrd "$RIG_GUEST_INITRD" \
		-append "$base l2=vf-traffic peer=$host_ip self=$guest_ip/24 vfmac=$vfmac secs=10" \
		-device vfio-pci,host="$vf" </dev/null 2>&1
	echo "VM-RC $?"
} | tr -d '\r' | while IFS= read -r line; do
	[[ $line == RIG-L2-UP* ]] && echo "VM-UP $t0 $EPOCHREALTIME"
	echo "$line"
done >"$qemu_log"
sed '/^VM-/d; s/^/qemu| /' "$qemu_log" | grep -E 'VF-|RIG-L2|FAIL|error' | head -n 20
wait "$iperf_pid" 2>/dev/null
iperf_pid=
expect_ok ptctl release "$vf"
if grep -q '^VF-OK' "$qemu_log"; then
	qemu_rtt=$(sed -n 's/^VF-PING avg_ms=//p' "$qemu_log") qemu_mbit=$(sed -n 's/^VF-IPERF mbit=//p' "$qemu_log")
	qemu_up=$(awk '/^VM-UP/ { printf "%.2f", $3 - $2 }' "$qemu_log")
else
	sed 's/^/qemu| /' "$qemu_log" | tail -n 30
	echo "the QEMU peer did not complete: no comparison"
fi
echo "MEASURED igb VF pass-through, nested guest -> PF, load $(cut -d' ' -f1-3 /proc/loadavg):"
echo "MEASURED   ptctl vm run --assign: ping avg ${ptctl_rtt:-?} ms, iperf3 ${ptctl_mbit:-?} Mbit/s, command -> first userspace line ${ptctl_up:-?} s"
echo "MEASURED   QEMU vfio-pci:         ping avg ${qemu_rtt:-?} ms, iperf3 ${qemu_mbit:-?} Mbit/s, command -> first userspace line ${qemu_up:-?} s"
if [ -n "${qemu_mbit:-}" ]; then
	awk -v a="$ptctl_mbit" -v b="$qemu_mbit" -v c="$ptctl_rtt" -v d="$qemu_rtt" -v e="$ptctl_up" -v f="$qemu_up" \
		'BEGIN { printf "MEASURED   ratio ptctl/QEMU: iperf3 %.2f (higher is better), ping RTT %.2f, time to userspace %.2f (lower is better)\n", a / b, c / d, e / f }'
fi

trap - EXIT
cleanup
expect_eq "$(cat "/sys/bus/pci/devices/$pf/sriov_numvfs")" 0 "sriov_numvfs after the case"
echo "vm-assign: all checks passed"
