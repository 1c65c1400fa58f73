#!/bin/bash
# The test host itself: VT-d on with interrupt remapping, the rig's devices present on their drivers,
# vfio and KVM usable. If this fails, every other case's result is suspect.
# rig-timeout: 60
. /rig/lib.sh

step ls /sys/class/iommu
expect_match "$(ls /sys/class/iommu)" '^dmar[0-9]+' "DMAR units"
[ "$(ls /sys/kernel/iommu_groups | wc -l)" -gt 5 ] || fail "IOMMU groups are not populated"
grep -q 'DMAR-IR: Enabled IRQ remapping' <(dmesg) || fail "interrupt remapping is not enabled"

for v in RIG_IGB RIG_E1000E RIG_EDU RIG_NVME; do
	[ -n "${!v}" ] || fail "$v: device not found"
	echo "$v=${!v} driver=$(driver_of "${!v}") group=$(group_of "${!v}")"
done
expect_eq "$(driver_of "$RIG_IGB")" igb "igb driver"
expect_eq "$(driver_of "$RIG_E1000E")" e1000e "e1000e driver"
expect_eq "$(driver_of "$RIG_NVME")" nvme "nvme driver"
expect_eq "$(driver_of "$RIG_EDU")" "" "edu driver"
expect_eq "$(cat /sys/bus/pci/devices/$RIG_IGB/sriov_totalvfs)" 7 "igb sriov_totalvfs"
expect_eq "$(cat /sys/bus/pci/devices/$RIG_NVME/sriov_totalvfs)" 2 "nvme sriov_totalvfs"

for m in vfio_pci vfio_iommu_type1 kvm kvm_amd igbvf; do
	grep -q "^$m " /proc/modules || fail "module $m is not loaded"
done
[ -c /dev/vfio/vfio ] || fail "/dev/vfio/vfio missing"
[ -c /dev/kvm ] || fail "/dev/kvm missing"
step ip -br link
step lspci -nn
