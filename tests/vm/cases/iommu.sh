#!/bin/bash
# `ptctl iommu` on QEMU's real intel-iommu (intremap=on, caching-mode=on): DMA remapping on, caching mode,
# interrupt remapping and the SAGAW widths decoded as the raw registers say, the MSI window in every group.
# rig-timeout: 120
. /rig/lib.sh

cap=$(cat /sys/class/iommu/dmar0/intel-iommu/cap)
ecap=$(cat /sys/class/iommu/dmar0/intel-iommu/ecap)
ngroups=$(ls /sys/kernel/iommu_groups | wc -l)
echo "dmar0 cap=$cap ecap=$ecap groups=$ngroups"

step ptctl iommu || fail "ptctl iommu exited $?"
RIG_QUIET=1 expect_ok ptctl iommu --json
# One jq run (each process start costs seconds under TCG): the values this case checks, as KEY=VALUE.
declare -A J
while IFS='=' read -r k v; do J[$k]=$v; done < <(jq -r '{
	dma_remapping, iommu, iommu_groups,
	units: (.units | length),
	base: .units[0].register_base,
	cm: .units[0].caching_mode,
	ir: .units[0].interrupt_remapping,
	widths: (.units[0].address_widths | map(tostring) | join(",")),
	mgaw: .units[0].max_guest_address_width,
	cap_flags: (.units[0].cap_flags | join(",")),
	scope: (.units[0].scope | join(",")),
	ir_in_use: .interrupt_remapping.in_use,
	ir_source: .interrupt_remapping.source,
	ir_flag: .interrupt_remapping.firmware_flag,
	ir_irqs: .interrupt_remapping.remapped_irqs,
	dmar_valid: .dmar_table.valid,
	oem: .dmar_table.oem_id,
	drhd_base: ([.dmar_table.structures[] | select(.type == "drhd")][0].register_base),
	msi: ([.reserved_regions[] | select(.type == "msi") | "\(.start)-\(.end) \(.groups | length)"] | join(";"))
} | to_entries[] | "\(.key)=\(.value)"' <<<"$out")
[ -n "${J[iommu]:-}" ] || fail "ptctl iommu --json did not parse: $out"

expect_eq "${J[dma_remapping]}" true "dma_remapping"
expect_eq "${J[iommu]}" intel-vt-d "iommu kind"
expect_eq "${J[iommu_groups]}" "$ngroups" "group count"
expect_eq "${J[units]}" "$(ls -d /sys/class/iommu/dmar* | wc -l)" "unit count"
expect_eq "${J[base]}" "0x$(cat /sys/class/iommu/dmar0/intel-iommu/address)" "register base"

# Decoded values against the raw registers (shell arithmetic on the spec's bit positions) and against
# what QEMU is told: caching-mode=on, intremap=on, 39- and 48-bit tables.
expect_eq "$(((0x$cap >> 7) & 1))" 1 "raw cap.CM"
expect_eq "${J[cm]}" true "caching_mode"
expect_eq "$(((0x$ecap >> 3) & 1))" 1 "raw ecap.IR"
expect_eq "${J[ir]}" true "unit interrupt_remapping"
sagaw=$(((0x$cap >> 8) & 0x1f)) widths=
for i in 0 1 2 3 4; do (((sagaw >> i) & 1)) && widths+="${widths:+,}$((30 + 9 * i))"; done
expect_eq "${J[widths]}" "$widths" "address_widths (SAGAW $sagaw)"
expect_match "$widths" '(^|,)39(,|$)' "QEMU's 3-level tables"
expect_eq "${J[mgaw]}" "$((((0x$cap >> 16) & 0x3f) + 1))" "MGAW+1"
expect_match "${J[cap_flags]}" '(^|,)CM(,|$)' "cap_flags"

# Interrupt remapping: the kernel logs it; ptctl sees it through the IR- irq chips in sysfs.
dmesg | grep -q 'DMAR-IR: Enabled IRQ remapping' || fail "the kernel did not log 'Enabled IRQ remapping'"
expect_eq "${J[ir_in_use]}" true "interrupt_remapping.in_use"
expect_eq "${J[ir_source]}" '/sys/kernel/irq/*/chip_name' "interrupt_remapping.source"
expect_eq "${J[ir_flag]}" true "DMAR INTR_REMAP flag"
[ "${J[ir_irqs]}" -gt 0 ] || fail "no remapped IRQs counted"

# The DMAR table is QEMU's and parses whole; its unit is the registered one.
expect_eq "${J[dmar_valid]}" true "dmar_table.valid"
expect_eq "${J[oem]}" BOCHS "dmar_table.oem_id"
expect_eq "${J[drhd_base]}" "${J[base]}" "DRHD base"
expect_match "${J[scope]}" 'endpoint 0000:00:1f\.2' "DRHD scope"

# The MSI window, merged into one region that every group reports.
expect_eq "${J[msi]}" "0xfee00000-0xfeefffff $ngroups" "MSI reserved region"
grep -q '^0x00000000fee00000 0x00000000feefffff msi$' "/sys/kernel/iommu_groups/$(group_of "$RIG_E1000E")/reserved_regions" ||
	fail "the kernel's own file does not list the MSI window"
