#!/usr/bin/env bash
# test-vfio-cli.sh: `ptctl vfio probe` and `ptctl bench dma` up to the point where the kernel is needed,
# on a fake tree: bad usage (exit 2), the device on the wrong driver or none, no group, no VFIO (exit 1),
# each error naming the device first and saying what to do. The kernel side runs in the rig.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PTCTL=${PTCTL:-$here/../../build/ptctl}
tmp=$(mktemp -d /tmp/ptctl-vfio-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0

dev() { # ADDR [DRIVER] [GROUP]
	local d=$tmp/sys/devices/pci0000:00/$1
	mkdir -p "$d" "$tmp/sys/bus/pci/devices"
	ln -s "../../../devices/pci0000:00/$1" "$tmp/sys/bus/pci/devices/$1"
	if [ -n "${2:-}" ]; then
		mkdir -p "$tmp/sys/bus/pci/drivers/$2"
		ln -s "../../../bus/pci/drivers/$2" "$d/driver"
	fi
	if [ -n "${3:-}" ]; then
		mkdir -p "$tmp/sys/kernel/iommu_groups/$3/devices"
		ln -s "../../../kernel/iommu_groups/$3" "$d/iommu_group"
	fi
}
dev 0000:01:00.0 e1000e 3
dev 0000:02:00.0 "" 4
dev 0000:03:00.0 vfio-pci ""
dev 0000:04:00.0 vfio-pci 5

# expect RC REGEX ARGS...: exit status and stderr
expect() {
	local rc=$1 re=$2 err got
	shift 2
	err=$(PTCTL_ROOT=$tmp "$PTCTL" "$@" 2>&1 >/dev/null)
	got=$?
	if [ "$got" != "$rc" ] || ! [[ $err =~ $re ]]; then
		echo "FAIL: ptctl $*: exit $got (want $rc), stderr: $err (want /$re/)"
		fails=$((fails + 1))
	else
		echo "ok: ptctl $* -> $rc"
	fi
}

expect 2 "expected one PCI address" vfio probe
expect 2 "'nope' is not a PCI address" vfio probe nope
expect 2 "unknown option" vfio probe --frobnicate 01:00.0
expect 2 "0000:09:00.0: no such PCI device" vfio probe 09:00.0
expect 1 "^ptctl: 0000:01:00.0: bound to e1000e, not vfio-pci \(bind it with \`ptctl bind 0000:01:00.0\`\)" \
	vfio probe 01:00.0
expect 1 "0000:02:00.0: not bound to any driver, VFIO needs vfio-pci" vfio probe 02:00.0
expect 1 "0000:03:00.0: no IOMMU group \(is the IOMMU on\?" vfio probe 03:00.0
expect 1 "0000:04:00.0: /dev/vfio/vfio is missing \(load the vfio-pci module\)" vfio probe 04:00.0
mkdir -p "$tmp/dev/vfio" && : >"$tmp/dev/vfio/vfio"
expect 1 "0000:04:00.0: the VFIO container cannot be used: unsupported API" vfio probe --json 04:00.0

expect 2 "--device ADDRESS is required" bench dma
expect 2 "--page must be 4k, 2m or 1g, not '3m'" bench dma --device 04:00.0 --page 3m
expect 2 "--threads must be 1..64, not '0'" bench dma --device 04:00.0 --threads 0
expect 2 "--size '12X' is not a size" bench dma --device 04:00.0 --size 12X
expect 2 "--size must be a multiple of the page size" bench dma --device 04:00.0 --size 3M --page 2m
expect 2 "unexpected argument 'extra'" bench dma --device 04:00.0 extra
expect 2 "--backing must be anon, memfd, hugetlb-2m, hugetlb-1g or auto, not 'hugetlb-4m'" bench dma --device 04:00.0 --backing hugetlb-4m
expect 2 "--sizes '64M,,x': give 1 to 8 sizes" bench dma --device 04:00.0 --sizes 64M,,x
expect 2 "--sizes '1,2,3,4,5,6,7,8,9': give 1 to 8 sizes" bench dma --device 04:00.0 --sizes 1,2,3,4,5,6,7,8,9
expect 2 "--size must be a multiple of the page size \\(1G\\)" bench dma --device 04:00.0 --sizes 1G,1536M --backing hugetlb-1g
expect 1 "0000:01:00.0: bound to e1000e, not vfio-pci" bench dma --device 01:00.0

# The help pages document every JSON key.
help=$("$PTCTL" vfio probe --help)
for k in device driver iommu_group regions mmap_areas msix_mappable irqs page_sizes dma_avail iova_ranges hot_reset; do
	[[ $help == *"$k"* ]] || { echo "FAIL: vfio probe --help does not mention $k"; fails=$((fails + 1)); }
done
help=$("$PTCTL" bench dma --help)
for k in cold_map_gb_per_s prefault_gb_per_s map_gb_per_s unmap_gb_per_s phys_runs entries backing why huge_bytes iommu_pages ready_gb_per_s vfio_setup_ms alloc_ms --sizes --no-cold; do
	[[ $help == *"$k"* ]] || { echo "FAIL: bench dma --help does not mention $k"; fails=$((fails + 1)); }
done

echo "test-vfio-cli: $fails failure(s)"
[ "$fails" = 0 ]
