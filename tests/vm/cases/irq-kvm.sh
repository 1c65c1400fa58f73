#!/bin/bash
# Interrupts into KVM on the real kernel: edu's MSI through VFIO -> eventfd -> KVM irqfd -> MSI route ->
# a vCPU's local APIC (tests/vm/tools/irq-kvm.c), and `ptctl irq` on devices whose drivers hold IRQs.
# rig-timeout: 120
. /rig/lib.sh

edu=$RIG_EDU
[ -n "$edu" ] || fail "edu device not found"
dev=/sys/bus/pci/devices/$edu
orig=$(driver_of "$edu")

release() {
	[ "$(driver_of "$edu")" = vfio-pci ] && echo "$edu" >/sys/bus/pci/drivers/vfio-pci/unbind
	echo >"$dev/driver_override"
	[ -z "$orig" ] || echo "$edu" >/sys/bus/pci/drivers_probe
}
trap release EXIT

if [ "$orig" != vfio-pci ]; then
	[ -z "$orig" ] || echo "$edu" >"$dev/driver/unbind"
	echo vfio-pci >"$dev/driver_override"
	echo "$edu" >/sys/bus/pci/drivers_probe
fi
expect_eq "$(driver_of "$edu")" vfio-pci "edu driver"

step irq-kvm "$edu" || fail "irq-kvm reported failures"

# ptctl irq show on a device with MSI-X vectors held by its driver (e1000e requests them when its
# interface goes up; before that they are allocated but have no handler, /proc/irq/N or count).
nic=$(netdev_of "$RIG_E1000E")
[ -n "$nic" ] || fail "e1000e has no network interface"
was_up=$(/usr/sbin/ip -br link show dev "$nic" | awk '{print $2}')
/usr/sbin/ip link set dev "$nic" up || fail "ip link set $nic up failed"
trap 'release; [ "$was_up" = UP ] || /usr/sbin/ip link set dev "$nic" down' EXIT
step ptctl irq show "$RIG_E1000E" || fail "ptctl irq show $RIG_E1000E failed"
json=$(ptctl irq show "$RIG_E1000E" --json) || fail "ptctl irq show --json failed"
n=$(jq length <<<"$json")
[ "$n" -ge 2 ] || fail "e1000e: expected its MSI-X vectors, got $n IRQs"
expect_eq "$(jq -r '[.[].type] | unique | join(",")' <<<"$json")" msix "e1000e IRQ types"
irqs=$(jq -r '.[].irq' <<<"$json")
for i in $irqs; do
	expect_eq "$(jq -r ".[] | select(.irq == $i) | .affinity" <<<"$json")" \
		"$(cat /proc/irq/$i/smp_affinity_list)" "IRQ $i affinity"
done

# Affinity: dry run changes nothing; a real run moves every vector; then put them back.
old=$(for i in $irqs; do cat /proc/irq/$i/smp_affinity_list; done | sort -u)
step ptctl irq affinity "$RIG_E1000E" 1 --dry-run || fail "affinity --dry-run failed"
expect_eq "$(for i in $irqs; do cat /proc/irq/$i/smp_affinity_list; done | sort -u)" "$old" "after --dry-run"
step ptctl irq affinity "$RIG_E1000E" 1 || fail "ptctl irq affinity $RIG_E1000E 1 failed"
for i in $irqs; do
	expect_eq "$(cat /proc/irq/$i/smp_affinity_list)" 1 "IRQ $i smp_affinity_list"
done
step ptctl irq affinity "$RIG_E1000E" "$(head -n1 <<<"$old")" || fail "restoring the affinity failed"

# nvme's I/O queue vectors are managed (the rig's nvme has an admin vector and one I/O vector per CPU):
# the kernel refuses to move them (6.1 says EIO, 6.12 EPERM), ptctl exits 1 naming the IRQ, and the admin
# vector, moved first, is put back: every affinity is as before.
nv=$(ptctl irq show "$RIG_NVME" --json) || fail "ptctl irq show $RIG_NVME failed"
before=$(jq -r '.[] | "\(.irq)=\(.affinity)"' <<<"$nv")
echo "nvme before: $before"
[ "$(jq length <<<"$nv")" -ge 2 ] || fail "nvme: expected an admin and I/O queue vectors, got $(jq length <<<"$nv")"
io_irqs=$(jq -r '.[1:][] | .irq' <<<"$nv" | paste -sd'|' -)
expect_rc 1 ptctl irq affinity "$RIG_NVME" 1
expect_match "$out" "IRQ ($io_irqs): cannot set its affinity to 1: .*restored" "nvme refusal names an I/O vector"
after=$(ptctl irq show "$RIG_NVME" --json | jq -r '.[] | "\(.irq)=\(.affinity)"')
expect_eq "$after" "$before" "nvme affinities after the refused change"

expect_rc 2 ptctl irq affinity "$RIG_E1000E" 7
echo PASS
