#!/bin/bash
# ptctl's emulated e1000 (Intel 82540EM) under the Debian guest kernel's own e1000 driver: `ptctl vm run
# --nic e1000,tap=...` in the test host, the driver binds, carrier comes up, the guest pings the tap's
# address and moves iperf3 traffic both ways; checked on both sides (the guest's interface counters and
# its IO-APIC interrupt count; the tap's counters here). Prints the Mbit/s.
# rig-timeout: 120
. /rig/lib.sh

[ -c /dev/kvm ] || fail "/dev/kvm missing in the test host"
rig_l2_initrd || fail "cannot assemble the nested guest's initramfs"
tap=e1k0 host=198.18.1.1 guest=198.18.1.2 mac=02:00:00:00:e1:01
log=/tmp/e1000-vm.log
cleanup() {
	[ -n "${srv:-}" ] && kill "$srv" 2>/dev/null
	[ -n "${vm:-}" ] && kill "$vm" 2>/dev/null
}
trap cleanup EXIT
ip link show "$tap" >/dev/null 2>&1 && fail "$tap exists before the case"

# ptctl creates the tap (and removes it at the end, or when killed): give it its address once it exists.
echo "\$ ptctl vm run e1k --nic e1000,tap=$tap,mac=$mac --kernel $RIG_GUEST_KERNEL --initrd $RIG_GUEST_INITRD --memory 256M"
ptctl vm run e1k --nic "e1000,tap=$tap,mac=$mac" --kernel "$RIG_GUEST_KERNEL" --initrd "$RIG_GUEST_INITRD" \
	--memory 256M --cmdline "console=ttyS0 quiet panic=-1 l2=e1000 peer=$host self=$guest" </dev/null >"$log" 2>&1 &
vm=$!
wait_for 30 ip link show "$tap" || fail "ptctl did not create $tap"
expect_ok ip addr add "$host/24" dev "$tap"
st=/sys/class/net/$tap/statistics
iperf3 -s -B "$host" >/tmp/e1000-iperf3.log 2>&1 &
srv=$!
# The guest pings and runs iperf3 to the end; the counters are read before ptctl takes the tap away.
while kill -0 "$vm" 2>/dev/null && ! grep -q '^e1000-l2: stats' "$log"; do
	rx=$(cat $st/rx_bytes 2>/dev/null || echo "$rx") tx=$(cat $st/tx_bytes 2>/dev/null || echo "$tx")
	sleep 0.5
done
rx=$(cat $st/rx_bytes 2>/dev/null || echo "${rx:-0}") tx=$(cat $st/tx_bytes 2>/dev/null || echo "${tx:-0}")
wait "$vm"
rc=$?
vm=
tr -d '\r' <"$log" | sed 's/^/vm| /'
expect_eq "$rc" 0 "ptctl vm run's exit status (the guest powers off after its script)"
grep -q '^RIG-L2-EXIT 0' "$log" || fail "the guest's script did not finish"
ip link show "$tap" >/dev/null 2>&1 && fail "the tap ptctl created outlived the VM"

expect_match "$(grep '^e1000-l2: dev=' "$log")" "mac=$mac pci=0000:00:" "the guest's e1000 driver bound the device with our MAC"
expect_match "$(grep '^e1000-l2: carrier=' "$log")" 'carrier=1 speed=1000' "carrier and speed in the guest"
grep -q '^e1000-l2: ping ok' "$log" || fail "the guest could not ping $host"
mtx=$(sed -n 's/^e1000-l2: iperf-tx //p' "$log" | head -n1)
mrx=$(sed -n 's/^e1000-l2: iperf-rx //p' "$log" | head -n1)
[ -n "$mtx" ] && [ -n "$mrx" ] || fail "iperf3 did not report both directions (tx '${mtx:-}', rx '${mrx:-}')"
stats=$(grep '^e1000-l2: stats' "$log")
gtx=$(echo "$stats" | sed -n 's/.* tx_bytes=\([0-9]*\).*/\1/p')
grx=$(echo "$stats" | sed -n 's/.* rx_bytes=\([0-9]*\).*/\1/p')
expect_match "$stats" 'rx_errors=0 tx_errors=0' "the guest's error counters"
# Both sides saw the traffic: at least 100 kB each way (a loaded machine runs the nested guest's exits
# very slowly: 0.3 Mbit/s was seen at load 12), and the tap counted what the guest counted.
[ "${gtx:-0}" -gt 100000 ] && [ "${grx:-0}" -gt 100000 ] || fail "the guest moved too little: tx ${gtx:-?} rx ${grx:-?} bytes"
[ "$rx" -ge $((gtx * 9 / 10)) ] || fail "the tap received $rx bytes, the guest sent $gtx"
[ "$tx" -ge $((grx * 9 / 10)) ] || fail "the tap sent $tx bytes, the guest received $grx"
irq=$(grep '^e1000-l2: irq' "$log" | head -n1)
# INTA of slot s is GSI 16 + s % 8 (vm_pci_intx_gsi, the DSDT's _PRT): level-triggered (fasteoi).
slot=$(grep '^e1000-l2: dev=' "$log" | sed -n 's/.*pci=0000:00:\([0-9a-f]*\)\.0.*/\1/p')
gsi=$((16 + 0x${slot:-0} % 8))
expect_match "$irq" " $gsi: .*IO-APIC +$gsi-fasteoi" "the guest's interrupt for the NIC (level, GSI $gsi through the IO-APIC)"
nirq=$(echo "$irq" | awk '{ s = 0; for (i = 4; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; else break; print s }')
[ "${nirq:-0}" -gt 10 ] || fail "the guest counted ${nirq:-no} interrupts for the NIC"
echo "benchmark: e1000 (ptctl, emulated 82540EM, nested KVM in the test host): guest->host $mtx Mbit/s, host->guest $mrx Mbit/s; $nirq interrupts; tap rx $rx tx $tx bytes"
exit 0
