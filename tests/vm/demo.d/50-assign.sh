#!/bin/bash
# 50-assign.sh: the demo's pass-through stop, the whole job joined: an igb VF made and configured by
# ptctl, given to a running VM of ptctl's own (ACPI hot-plug), the guest's igbvf driving it through the
# IOMMU and pinging the PF, then taken back and returned to the host.
# Sourced by tests/vm/demo.sh (which provides say, tour, step); runs on its own in the test host too.
if ! declare -F tour >/dev/null; then
	. /rig/lib.sh
	say() { printf '\n# %s\n' "$*"; }
	tour() { step ptctl "$@"; }
fi

pf=$RIG_IGB
dev=$(netdev_of "$pf")
vfmac=52:54:00:de:00:01
rig_l2_initrd
say "The whole job: a VF of the igb NIC, given to a running VM, driven by the guest's own igbvf driver."
/usr/sbin/ip link set "$dev" up
/usr/sbin/ip addr add 198.18.3.1/24 dev "$dev"
tour sriov create "$pf" 1
vf=$(basename "$(readlink "/sys/bus/pci/devices/$pf/virtfn0")")
tour sriov set "$pf" 0 mac "$vfmac"
say "A VM with no device yet (the guest waits for a NIC to appear):"
tour vm start passthru --kernel "$RIG_GUEST_KERNEL" --initrd "$RIG_GUEST_INITRD" --memory 256M \
	--cmdline "console=ttyS0 quiet panic=-1 l2=hotplug peer=198.18.3.1 self=198.18.3.2/24 vfmac=$vfmac"
log=/run/ptctl/vm/passthru/console.log
if wait_for 300 grep -q '^HP-READY' "$log"; then
	say "Assign the VF: bind's checks, vfio-pci, guest RAM mapped in the IOMMU, a hot-plug event to the guest."
	tour assign "$vf" passthru
	wait_for 120 grep -q '^HP-PING-OK' "$log"
	say "The guest found it, bound igbvf, got carrier and pinged the PF through the VF (its MSI-X into KVM):"
	step grep '^HP-' "$log"
	say "What the VM holds: the VF in slot 1, its BARs as KVM memory slots, its MSI-X vectors routed to the"
	say "guest's APIC, and guest RAM in 2M pages mapped in the IOMMU:"
	tour vm show passthru
	say "Take it back: the guest is asked to eject it, lets go, the VF returns to the host."
	tour unassign "$vf" passthru
	step grep '^HP-REMOVED' "$log"
else
	say "(the guest did not come up in time)"
fi
ptctl vm stop passthru >/dev/null 2>&1
tour sriov destroy "$pf"
/usr/sbin/ip addr del 198.18.3.1/24 dev "$dev"
