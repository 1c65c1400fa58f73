#!/bin/bash
# MSI-X through VFIO on the real kernel: e1000e's five vectors on vfio-pci, one eventfd each, de-assigning
# one, and each bridged into KVM on its own GSI (tests/vm/tools/irq-msix.c). e1000e goes back to its driver.
# rig-timeout: 90
. /rig/lib.sh

nic=$RIG_E1000E
[ -n "$nic" ] || fail "e1000e device not found"
dev=/sys/bus/pci/devices/$nic
orig=$(driver_of "$nic")
expect_eq "$orig" e1000e "e1000e driver before"

restore() {
	[ "$(driver_of "$nic")" = vfio-pci ] && echo "$nic" >/sys/bus/pci/drivers/vfio-pci/unbind
	echo >"$dev/driver_override"
	echo "$nic" >/sys/bus/pci/drivers_probe
}
trap restore EXIT

echo "$nic" >"$dev/driver/unbind"
echo vfio-pci >"$dev/driver_override"
echo "$nic" >/sys/bus/pci/drivers_probe
expect_eq "$(driver_of "$nic")" vfio-pci "e1000e on vfio-pci"

step irq-msix "$nic" || fail "irq-msix reported failures"

restore
trap - EXIT
wait_for 10 test -n "$(netdev_of "$nic")" || fail "e1000e did not come back with a network interface"
expect_eq "$(driver_of "$nic")" e1000e "e1000e driver after"
echo PASS
