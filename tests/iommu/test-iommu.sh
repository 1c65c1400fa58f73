#!/usr/bin/env bash
# test-iommu.sh: `ptctl iommu` against fake system trees, compared with golden files (stdout, stderr and
# exit status of the table and JSON forms). UPDATE_GOLDEN=1 rewrites the golden files instead.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PTCTL=${PTCTL:-$here/../../build/ptctl}
golden=$here/golden
fixtures=$here/fixtures
tmp=$(mktemp -d /tmp/ptctl-iommu-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0

put() { # FILE CONTENT: a sysfs-like file (with the trailing newline the kernel writes)
	mkdir -p "$(dirname "$1")"
	printf '%s\n' "$2" >"$1"
}

unit() { # ROOT NAME BASE CAP ECAP [DEVICES...]
	local r=$1 n=$2 d
	put "$r/sys/class/iommu/$n/intel-iommu/address" "$3"
	put "$r/sys/class/iommu/$n/intel-iommu/cap" "$4"
	put "$r/sys/class/iommu/$n/intel-iommu/ecap" "$5"
	put "$r/sys/class/iommu/$n/intel-iommu/version" "1:0"
	mkdir -p "$r/sys/class/iommu/$n/devices"
	shift 5
	for d in "$@"; do ln -s "../../../../devices/pci0000:00/$d" "$r/sys/class/iommu/$n/devices/$d"; done
}

group() { # ROOT ID TYPE REGIONS DEVICES...: REGIONS is the reserved_regions text, lines split by ';'
	local r=$1 g=$2 d
	put "$r/sys/kernel/iommu_groups/$g/type" "$3"
	printf '%s' "$4" | tr ';' '\n' >"$r/sys/kernel/iommu_groups/$g/reserved_regions"
	echo >>"$r/sys/kernel/iommu_groups/$g/reserved_regions"
	mkdir -p "$r/sys/kernel/iommu_groups/$g/devices"
	shift 4
	for d in "$@"; do ln -s "../../../../devices/pci0000:00/$d" "$r/sys/kernel/iommu_groups/$g/devices/$d"; done
}

irq() { # ROOT N CHIP
	put "$1/sys/kernel/irq/$2/chip_name" "$3"
}

bridge() { # ROOT ADDRESS SECONDARY_BUS: a type-1 config header, enough for scope paths to be followed
	local f=$1/sys/bus/pci/devices/$2/config
	mkdir -p "$(dirname "$f")"
	head -c 64 /dev/zero >"$f"
	printf '\x01' | dd of="$f" bs=1 seek=14 conv=notrunc status=none
	printf "\\x$(printf %02x "$3")" | dd of="$f" bs=1 seek=25 conv=notrunc status=none
}

MSI="0x00000000fee00000 0x00000000feefffff msi"

tree_server() {
	local r=$1
	unit "$r" dmar0 fed90000 d2008c40660462 f050da 0000:00:02.0
	unit "$r" dmar1 fed91000 d2078c106f0466 f020de 0000:00:14.0 0000:00:1a.0 0000:00:1c.0 0000:01:00.0
	mkdir -p "$r/sys/firmware/acpi/tables"
	cp "$fixtures/server.dmar" "$r/sys/firmware/acpi/tables/DMAR"
	group "$r" 0 DMA "$MSI" 0000:00:02.0
	group "$r" 1 DMA "0x000000007c000000 0x000000007c01ffff direct-relaxable;$MSI" 0000:00:14.0 0000:00:1a.0
	group "$r" 2 DMA "$MSI" 0000:00:1c.0 0000:01:00.0
	group "$r" 10 identity "0x000000007d800000 0x000000007fffffff direct;$MSI" 0000:01:00.0
	irq "$r" 0 IR-IO-APIC
	irq "$r" 9 IR-IO-APIC
	irq "$r" 24 DMAR-MSI
	irq "$r" 25 IR-PCI-MSIX-0000:01:00.0
	bridge "$r" 0000:00:1c.0 1
	put "$r/proc/cmdline" "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro intel_iommu=on,sm_on iommu=pt quiet"
}

tree_qemu() { # replayed from the real capture (tests/iommu/capture-qemu.sh writes fixtures/qemu/)
	local r=$1 q=$fixtures/qemu id type devs n chip
	[ -f "$q/cap" ] || { echo "test-iommu.sh: $q missing: run tests/iommu/capture-qemu.sh" >&2; return 1; }
	# shellcheck disable=SC2046
	unit "$r" dmar0 "$(cat "$q/address")" "$(cat "$q/cap")" "$(cat "$q/ecap")" $(cat "$q/unit_devices")
	put "$r/sys/class/iommu/dmar0/intel-iommu/version" "$(cat "$q/version")"
	mkdir -p "$r/sys/firmware/acpi/tables" "$r/proc"
	cp "$q/DMAR" "$r/sys/firmware/acpi/tables/DMAR"
	cp "$q/cmdline" "$r/proc/cmdline"
	cp "$q/interrupts" "$r/proc/interrupts"
	while read -r id type devs; do
		# shellcheck disable=SC2086
		group "$r" "$id" "$type" "" $devs
		cp "$q/resv/$id" "$r/sys/kernel/iommu_groups/$id/reserved_regions"
	done <"$q/groups"
	while read -r n chip; do irq "$r" "$n" "$chip"; done <"$q/irq_chips"
}

tree_none() {
	put "$1/proc/cmdline" "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro quiet"
	mkdir -p "$1/sys/class/iommu" "$1/sys/kernel/iommu_groups"
	put "$1/proc/interrupts" "           CPU0
  0:         44   IO-APIC   2-edge      timer
 24:          0   PCI-MSI 512000-edge      ahci[0000:00:1f.2]"
}

tree_firmware_only() { # VT-d in the firmware, the kernel not told to use it
	tree_none "$1"
	mkdir -p "$1/sys/firmware/acpi/tables"
	cp "$fixtures/qemu-like.dmar" "$1/sys/firmware/acpi/tables/DMAR"
}

tree_off() {
	tree_firmware_only "$1"
	put "$1/proc/cmdline" "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro intel_iommu=off"
}

tree_amd() {
	local r=$1
	mkdir -p "$r/sys/class/iommu/ivhd0/devices" "$r/sys/firmware/acpi/tables"
	: >"$r/sys/firmware/acpi/tables/IVRS"
	group "$r" 0 DMA-FQ "0x00000000fee00000 0x00000000feefffff msi;0x000000fd00000000 0x000000ffffffffff reserved" 0000:00:00.2
	group "$r" 1 DMA-FQ "0x00000000fee00000 0x00000000feefffff msi;0x000000fd00000000 0x000000ffffffffff reserved" 0000:01:00.0
	put "$r/proc/cmdline" "BOOT_IMAGE=/vmlinuz root=/dev/nvme0n1p2 ro"
}

tree_other() { # an IOMMU of another kind (virtio-iommu registers under its device name)
	local r=$1
	mkdir -p "$r/sys/class/iommu/virtio0/devices"
	group "$r" 0 DMA "0x00000000fee00000 0x00000000feefffff msi" 0000:00:03.0
	put "$r/proc/cmdline" "console=ttyS0"
}

tree_malformed() { # a truncated DMAR table and a garbled reserved_regions file next to good units
	local r=$1
	tree_server "$r"
	cp "$fixtures/truncated.dmar" "$r/sys/firmware/acpi/tables/DMAR"
	put "$r/sys/kernel/iommu_groups/2/reserved_regions" "0xfee00000 garbage"
}

check() { # NAME ARGS...: run against tree_NAME, compare with golden/NAME(.json).out
	local name=$1 tree=$tmp/$1 out want
	shift
	if [ ! -d "$tree" ]; then
		mkdir -p "$tree"
		"tree_${name//-/_}" "$tree" || { rm -rf "$tree"; fails=$((fails + 1)); return; }
	fi
	want=$golden/$name$([[ " $* " == *" --json "* ]] && echo .json).out
	out=$(
		PTCTL_ROOT=$tree "$PTCTL" iommu "$@" 2>"$tmp/stderr"
		rc=$?
		echo "--- stderr"
		cat "$tmp/stderr"
		echo "--- exit $rc"
	)
	if [ "${UPDATE_GOLDEN:-0}" = 1 ]; then
		printf '%s\n' "$out" >"$want"
		echo "updated ${want#"$here"/}"
	elif ! diff -u "$want" <(printf '%s\n' "$out") >"$tmp/diff" 2>&1; then
		echo "FAIL: iommu $name $*: output differs from ${want#"$here"/}"
		head -60 "$tmp/diff"
		fails=$((fails + 1))
	else
		echo "ok: iommu $name $*"
	fi
}

for t in server qemu none firmware-only off amd other malformed; do
	check "$t"
	check "$t" --json
done

# The JSON must be what a parser accepts, and the exit status must follow dma_remapping.
if command -v python3 >/dev/null; then
	PTCTL_ROOT=$tmp/server "$PTCTL" iommu --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["dma_remapping"] is True' ||
		{ echo "FAIL: server JSON does not parse or dma_remapping is not true"; fails=$((fails + 1)); }
fi
# Firmware strings are not trusted: OEM ids with bytes that are not UTF-8 and a terminal escape.
# The JSON stays valid UTF-8 (python decodes strictly) and shows them as \xNN; so does the table.
if command -v python3 >/dev/null; then
	cp -r "$tmp/server" "$tmp/hostile"
	python3 - "$fixtures/server.dmar" "$tmp/hostile/sys/firmware/acpi/tables/DMAR" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
d[10:16] = b"\xff\xfe\x80A\x01\xc3"
d[16:24] = b"T\xc3\xa9s\x1b[3m"
d[9] = 0
d[9] = (-sum(d)) & 0xFF
open(sys.argv[2], "wb").write(d)
PY
	PTCTL_ROOT=$tmp/hostile "$PTCTL" iommu --json >"$tmp/hostile.json"
	python3 -c '
import json, sys
d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
t = d["dmar_table"]
assert t["oem_id"] == "\\xff\\xfe\\x80A\x01\\xc3", repr(t["oem_id"])
assert t["oem_table_id"] == "T\u00e9s\x1b[3m", repr(t["oem_table_id"])' "$tmp/hostile.json" ||
		{ echo "FAIL: hostile OEM ids: the JSON is not valid UTF-8 or not escaped: $(grep oem "$tmp/hostile.json")"; fails=$((fails + 1)); }
	PTCTL_ROOT=$tmp/hostile "$PTCTL" iommu | grep -a 'OEM\|oem' | python3 -c '
import sys
b = sys.stdin.buffer.read()
b.decode("utf-8")
assert b"\x1b" not in b, b' ||
		{ echo "FAIL: hostile OEM ids reach the terminal raw"; fails=$((fails + 1)); }
fi
PTCTL_ROOT=$tmp/none "$PTCTL" iommu >/dev/null 2>&1
[ $? = 1 ] || { echo "FAIL: no IOMMU must exit 1"; fails=$((fails + 1)); }
PTCTL_ROOT=$tmp/none "$PTCTL" iommu 2>&1 >/dev/null | grep -q 'intel_iommu=on' ||
	{ echo "FAIL: no IOMMU: the error does not say intel_iommu=on"; fails=$((fails + 1)); }
"$PTCTL" iommu --help | grep -q '^OUTPUT' || { echo "FAIL: iommu --help has no OUTPUT section"; fails=$((fails + 1)); }
PTCTL_ROOT=$tmp/none "$PTCTL" iommu bogus >/dev/null 2>&1
[ $? = 2 ] || { echo "FAIL: iommu with an argument must exit 2"; fails=$((fails + 1)); }

echo "test-iommu.sh: $fails failed"
[ "$fails" = 0 ]
