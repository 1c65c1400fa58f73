#!/bin/bash
# `ptctl list` and `ptctl show` against the real kernel: the same devices, ids, classes, drivers and IOMMU
# groups as lspci and /sys/kernel/iommu_groups, SR-IOV counts and VFs' physical function, MSI/MSI-X counts.
# rig-timeout: 120
. /rig/lib.sh
set -o pipefail

# One line per device: address ids class(base+sub) driver group.
from_ptctl() {
	ptctl list --json | jq -r '.[] | "\(.address) \(.ids) \(.class[0:4]) \(.driver // "-") \(.iommu_group // "-")"'
}
from_lspci() {
	local slot rest grp
	lspci -Dnvmmk | awk -v RS= -F'\n' '{
		drv = "-"
		for (i = 1; i <= NF; i++) {
			k = $i; sub(/:\t.*/, "", k); v = $i; sub(/^[^\t]*\t/, "", v)
			f[k] = v
			if (k == "Driver") drv = v
		}
		print f["Slot"], f["Vendor"] ":" f["Device"], f["Class"], drv
	}' | while read -r slot rest; do
		grp=-
		[ -e "/sys/bus/pci/devices/$slot/iommu_group" ] && grp=$(group_of "$slot")
		echo "$slot $rest $grp"
	done
}
# Every group's members as the kernel lists them.
groups_from_sysfs() {
	local g d
	for g in /sys/kernel/iommu_groups/*; do
		for d in "$g"/devices/*; do echo "${d##*/} ${g##*/}"; done
	done | sort
}

compare() {
	from_ptctl >ptctl.txt || fail "ptctl list --json failed"
	from_lspci | sort >lspci.txt
	echo "ptctl list: $(wc -l <ptctl.txt) devices, lspci: $(wc -l <lspci.txt)"
	diff -u lspci.txt ptctl.txt || fail "ptctl list disagrees with lspci -nnk ($1)"
	awk '$5 != "-" { print $1, $5 }' ptctl.txt | sort >groups.txt
	diff -u <(groups_from_sysfs) groups.txt || fail "IOMMU groups disagree with /sys/kernel/iommu_groups ($1)"
}

step ptctl list
compare "at boot"
[ "$(wc -l <ptctl.txt)" -ge 12 ] || fail "too few devices listed"

# SR-IOV physical functions and their limits.
RIG_QUIET=1 run ptctl list --json
pf() { jq -r --arg a "$1" '.[] | select(.address == $a) | "\(.sriov_num_vfs)/\(.sriov_total_vfs)"' <<<"$out"; }
expect_eq "$(pf "$RIG_IGB")" 0/7 "igb VFs (num/total)"
expect_eq "$(pf "$RIG_NVME")" 0/2 "nvme VFs (num/total)"
expect_eq "$(pf "$RIG_E1000E")" null/null "e1000e is not an SR-IOV PF"

# VFs appear with their physical function, each in its own group, on igbvf.
vfs=$(vf_create "$RIG_IGB" 2) || fail "cannot create igb VFs"
echo "VFs: $vfs"
trap 'vf_destroy "$RIG_IGB"' EXIT
wait_for 10 test -n "$(driver_of "${vfs##*$'\n'}")" || fail "igbvf did not bind the last VF"
step ptctl list
compare "with 2 igb VFs"
RIG_QUIET=1 run ptctl list --json
expect_eq "$(pf "$RIG_IGB")" 2/7 "igb VFs after creating 2"
for vf in $vfs; do
	expect_eq "$(jq -r --arg a "$vf" '.[] | select(.address == $a) | "\(.physfn) \(.ids) \(.driver)"' <<<"$out")" \
		"$RIG_IGB 8086:10ca igbvf" "VF $vf"
done
vf_destroy "$RIG_IGB"
trap - EXIT

# show: the group's members and config-space facts, as lspci reads them.
msix_count() { lspci -vv -s "$1" | sed -n 's/.*MSI-X: Enable[+-] Count=\([0-9]*\).*/\1/p'; }
step ptctl show "$RIG_E1000E"
run ptctl show --json "$RIG_E1000E"
expect_eq "$(jq -r .msix_vectors <<<"$out")" "$(msix_count "$RIG_E1000E")" "e1000e MSI-X vectors"
expect_eq "$(jq -r '.netdevs | join(",")' <<<"$out")" "$(netdev_of "$RIG_E1000E")" "e1000e netdevs"
expect_eq "$(jq -r .driver <<<"$out")" e1000e "e1000e driver"
run ptctl show --json 0000:00:1f.3
expect_eq "$(jq -r '[.group_members[].address] | sort | join(" ")' <<<"$out")" \
	"$(ls /sys/bus/pci/devices/0000:00:1f.3/iommu_group/devices | sort | tr '\n' ' ' | sed 's/ $//')" \
	"ICH9 SMBus group members"
expect_eq "$(jq -r .viable <<<"$out")" false "the ICH9 group on host drivers is not viable for VFIO"

# Bad input is exit 2 with one line naming the object.
expect_rc 2 ptctl show 0000:99:00.0
expect_match "$out" '0000:99:00\.0' "error names the address"
expect_rc 2 ptctl show not-an-address
