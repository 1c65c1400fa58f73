#!/bin/bash
# Guest RAM backing chosen per host, on the real kernel: anonymous THP by default (the test host has THP
# "always"), 2M hugetlb when enough pages are reserved, THP again when the pool is short; each DMA-mapped
# into a VFIO container in one MAP_DMA with 2M IOMMU pages; a VM records what backs its RAM and why.
# Asserts behaviour only (the figures are `make bench`'s).
# rig-timeout: 90
# rig-needs: bind release vm
. /rig/lib.sh

hp=/proc/sys/vm/nr_hugepages
hp_old=$(cat "$hp")
restore() {
	echo "$hp_old" >"$hp"
	ptctl vm stop gm-smoke >/dev/null 2>&1
	[ "$(driver_of "$RIG_EDU")" = vfio-pci ] && ptctl release "$RIG_EDU" >/dev/null 2>&1
}
trap restore EXIT
expect_ok ptctl bind "$RIG_EDU"

# Default: anonymous memory with 2M transparent huge pages, and the reason names the host's settings.
expect_ok ptctl bench dma --json --device "$RIG_EDU" --size 16M --threads 2 --no-cold
j=$out
expect_eq "$(jq -r .backing <<<"$j")" anon "default backing"
expect_eq "$(jq -r .page <<<"$j")" 2M "default page size"
expect_match "$(jq -r .why <<<"$j")" 'transparent huge pages always.*no huge pages reserved' "why"
expect_eq "$(jq -r .entries <<<"$j")" 1 "MAP_DMA calls for one region"
# THP is best effort, but a fresh test host has the memory: most of it must be huge, in the IOMMU too.
expect_eq "$(jq -r '.huge_bytes >= .size / 2' <<<"$j")" true "RAM backed by huge pages ($(jq -r .huge_bytes <<<"$j") bytes)"
expect_eq "$(jq -r '(.iommu_pages["2M"] // 0) >= 4' <<<"$j")" true "2M IOMMU pages ($(jq -c .iommu_pages <<<"$j"))"

# A full pool of reserved 2M pages wins: every page huge, exactly 8 2M IOMMU pages.
echo $((hp_old + 10)) >"$hp"
[ "$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)" -ge 8 ] || fail "the test host could not reserve 8 huge pages"
expect_ok ptctl bench dma --json --device "$RIG_EDU" --size 16M --threads 2 --no-cold
j=$out
expect_eq "$(jq -r .backing <<<"$j")" hugetlb-2m "backing with a full pool"
expect_eq "$(jq -r .huge_bytes <<<"$j")" 16777216 "hugetlb bytes"
expect_eq "$(jq -c .iommu_pages <<<"$j")" '{"2M":8}' "IOMMU pages over hugetlb"

# A partial pool (5 of the 8 pages) is passed over, and the reason says by how much.
echo $((hp_old + 5)) >"$hp"
expect_ok ptctl bench dma --json --device "$RIG_EDU" --size 16M --threads 2 --no-cold
expect_eq "$(jq -r .backing <<<"$out")" anon "backing with a partial pool"
expect_match "$(jq -r .why <<<"$out")" '5 of 8 2M huge pages free' "why with a partial pool"
echo "$hp_old" >"$hp"
expect_ok ptctl release "$RIG_EDU"

# A VM records what backs its RAM (for vm show) while it runs.
expect_ok ptctl vm start gm-smoke --kernel "$RIG_GUEST_KERNEL" --memory 128M --cmdline "console=ttyS0 quiet"
info=/run/ptctl/vm/gm-smoke/info
cat "$info"
expect_eq "$(sed -n 's/^ram_backing=//p' "$info")" anon "VM RAM backing"
expect_eq "$(sed -n 's/^ram_page_size=//p' "$info")" 2097152 "VM RAM page size"
expect_match "$(sed -n 's/^ram_why=//p' "$info")" 'transparent huge pages' "VM RAM why"
# ... and vm show says it, with the reason.
expect_ok ptctl vm show --json gm-smoke
expect_eq "$(jq -r '.ram.backing + " " + (.ram.page_size | tostring)' <<<"$out")" "anon 2097152" "vm show RAM backing"
expect_match "$(jq -r .ram.why <<<"$out")" 'transparent huge pages' "vm show why"
expect_ok ptctl vm show gm-smoke
expect_match "$out" 'backing anon, 2M pages' "vm show table"
expect_ok ptctl vm stop gm-smoke
echo PASS
