#!/usr/bin/env bash
# test-irq-verb.sh: `ptctl irq show` and `ptctl irq affinity` against a fake root: table and JSON
# output against golden files, exit statuses, writes (and their rollback) in /proc/irq/N/.
set -u
here=$(cd "$(dirname "$0")" && pwd)
PTCTL=${PTCTL:-$here/../../build/ptctl}
root=$(mktemp -d /tmp/ptctl-irq-verb-XXXXXX)
trap 'rm -rf "$root"' EXIT
export PTCTL_ROOT=$root
fails=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
put() { mkdir -p "$root$(dirname "$1")"; printf '%s\n' "$2" >"$root$1"; }

build_tree() {
	rm -rf "${root:?}"/*
	put /sys/devices/system/cpu/online 0-3
	cat >"$root/interrupts.tmp" <<'EOT'
           CPU0       CPU1       CPU2       CPU3       
 16:          5          0          1          0   IO-APIC  16-fasteoi   ehci_hcd:usb1, i801_smbus
 40:        100          0         20          3  IR-PCI-MSIX-0000:03:00.0    0-edge      vfio-msix[0](0000:03:00.0)
 41:          0          7          0          0  IR-PCI-MSIX-0000:03:00.0    1-edge      vfio-msix[1](0000:03:00.0)
NMI:          0          0          0          0   Non-maskable interrupts
EOT
	mkdir -p "$root/proc" && mv "$root/interrupts.tmp" "$root/proc/interrupts"
	put /sys/bus/pci/devices/0000:03:00.0/irq 16
	put /sys/bus/pci/devices/0000:03:00.0/msi_irqs/40 msix
	put /sys/bus/pci/devices/0000:03:00.0/msi_irqs/41 msix
	put /sys/bus/pci/devices/0000:00:1f.3/irq 16
	put /sys/bus/pci/devices/0000:00:02.0/irq 0
	for i in 16 40 41; do put /proc/irq/$i/smp_affinity_list 0-3; done
	put /proc/irq/40/effective_affinity_list 0
	put /proc/irq/41/effective_affinity_list 2
}

# golden NAME EXPECTED-RC CMD...: stdout must equal golden/NAME, the exit status EXPECTED-RC.
golden() {
	local name=$1 want=$2 out rc
	shift 2
	out=$("$@" 2>"$root/stderr")
	rc=$?
	[ "$rc" = "$want" ] || fail "$*: exit $rc, expected $want ($(cat "$root/stderr"))"
	if [ "${UPDATE_GOLDEN:-0}" = 1 ]; then
		printf '%s\n' "$out" >"$here/golden/$name"
	elif ! diff -u "$here/golden/$name" <(printf '%s\n' "$out"); then
		fail "$*: output differs from golden/$name"
	fi
}

# status EXPECTED-RC STDERR-ERE CMD...
status() {
	local want=$1 re=$2 rc err
	shift 2
	"$@" >/dev/null 2>"$root/stderr"
	rc=$?
	err=$(cat "$root/stderr")
	[ "$rc" = "$want" ] || fail "$*: exit $rc, expected $want ($err)"
	[[ $err =~ $re ]] || fail "$*: stderr '$err' does not match /$re/"
}

aff() { cat "$root/proc/irq/$1/smp_affinity_list"; }

build_tree
golden show.txt 0 "$PTCTL" irq show 0000:03:00.0
golden show.json 0 "$PTCTL" irq show 03:00.0 --json
golden show-intx.txt 0 "$PTCTL" irq show 00:1f.3
golden show-none.json 0 "$PTCTL" --json irq show 00:02.0
golden affinity-dry.txt 0 "$PTCTL" irq affinity 0000:03:00.0 3,1-2 --dry-run
[ "$(aff 40)/$(aff 41)" = "0-3/0-3" ] || fail "--dry-run changed the affinity: $(aff 40)/$(aff 41)"
golden affinity.json 0 "$PTCTL" irq affinity 0000:03:00.0 1-2 --json
[ "$(aff 40)/$(aff 41)" = "1-2/1-2" ] || fail "affinity not written: $(aff 40)/$(aff 41)"

# Bad input: exit 2, nothing written.
status 2 "not a PCI address" "$PTCTL" irq show 03:00
status 2 "no such PCI device" "$PTCTL" irq show 0000:09:00.0
status 2 "not a list of online CPUs" "$PTCTL" irq affinity 0000:03:00.0 4
status 2 "not a list of online CPUs" "$PTCTL" irq affinity 0000:03:00.0 1-
status 2 "expected 2 arguments" "$PTCTL" irq affinity 0000:03:00.0
status 2 "unknown option" "$PTCTL" irq show --bogus 0000:03:00.0
[ "$(aff 40)/$(aff 41)" = "1-2/1-2" ] || fail "bad input changed the affinity"

# Failure: no IRQs; an IRQ that vanished mid-way (its affinity file is gone) -> the first is restored.
status 1 "has no host IRQs" "$PTCTL" irq affinity 0000:00:02.0 1
rm "$root/proc/irq/41/smp_affinity_list"
status 1 "IRQ 41: cannot set its affinity to 3: .*no handler.*restored" "$PTCTL" irq affinity 0000:03:00.0 3
[ "$(aff 40)" = "1-2" ] || fail "IRQ 40 not restored: $(aff 40)"

if [ "$fails" = 0 ]; then echo "test-irq-verb: all passed"; else echo "test-irq-verb: $fails failed"; fi
[ "$fails" = 0 ]
