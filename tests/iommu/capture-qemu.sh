#!/usr/bin/env bash
# capture-qemu.sh: boots the test host (tests/vm/rig) and records what QEMU's intel-iommu
# (intremap=on, caching-mode=on) really shows into tests/iommu/fixtures/qemu/, for the golden tests.
# Run on the development machine: tests/iommu/capture-qemu.sh. Inside the test host it prints the files.
# rig-timeout: 60
set -u

if [ -e /rig/lib.sh ]; then
	dump() { # NAME FILE: text files verbatim, between markers
		echo "=== BEGIN $1"
		cat "$2"
		echo "=== END $1"
	}
	d=/sys/class/iommu/dmar0/intel-iommu
	for f in cap ecap version address; do dump "$f" "$d/$f"; done
	echo "=== BEGIN DMAR.b64"
	base64 /sys/firmware/acpi/tables/DMAR
	echo "=== END DMAR.b64"
	dump cmdline /proc/cmdline
	dump interrupts /proc/interrupts
	echo "=== BEGIN irq_chips"
	for i in /sys/kernel/irq/*; do echo "${i##*/} $(cat "$i/chip_name")"; done
	echo "=== END irq_chips"
	echo "=== BEGIN groups"
	for g in /sys/kernel/iommu_groups/*; do
		echo "${g##*/} $(cat "$g/type") $(ls "$g/devices" | tr '\n' ' ')"
	done
	echo "=== END groups"
	for g in /sys/kernel/iommu_groups/*; do dump "resv-${g##*/}" "$g/reserved_regions"; done
	echo "=== BEGIN unit_devices"
	ls /sys/class/iommu/dmar0/devices
	echo "=== END unit_devices"
	exit 0
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
dest=$here/fixtures/qemu
log=$(mktemp /tmp/ptctl-capture-XXXXXX)
trap 'rm -f "$log"' EXIT
"$top/tests/vm/rig" exec "$here/capture-qemu.sh" | tr -d '\r' >"$log" || { cat "$log"; exit 1; }
rm -rf "$dest"
mkdir -p "$dest/resv"
awk -v dest="$dest" '
	/^=== BEGIN / { name = $3; file = dest "/" name; sub(/^resv-/, "resv/", name); file = dest "/" name; printf "" > file; next }
	/^=== END / { close(file); file = ""; next }
	file != "" { print >> file }
' "$log"
base64 -d "$dest/DMAR.b64" >"$dest/DMAR" && rm "$dest/DMAR.b64"
ls -la "$dest"
