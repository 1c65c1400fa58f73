#!/bin/bash
# `make demo`: a guided tour of ptctl on the test host, printing each command before its output.
# Extend it as verbs land (SR-IOV, VMs, benchmarks); keep each stop short and explained.
# rig-timeout: 600
. /rig/lib.sh

say() { printf '\n# %s\n' "$*"; }
has_verb() { ptctl "$1" --help >/dev/null 2>&1; }
# tour VERB ARGS...: run `ptctl VERB ARGS...` if this build has the verb, else say so.
tour() {
	if has_verb "$1"; then
		step ptctl "$@"
	else
		printf '\n$ ptctl %s\n(not in this build of ptctl yet)\n' "$*"
	fi
}

say "This is a test host booted under QEMU: an emulated Intel VT-d IOMMU, an igb NIC with SR-IOV,
# an e1000e NIC, an NVMe controller and QEMU's edu DMA device. Everything below is the real kernel."
step uname -r
step lspci -nn

say "1. Is the IOMMU on? ptctl decodes the VT-d units the kernel found (DMAR table, cap/ecap)."
tour iommu

say "2. Every PCI device, with what matters for pass-through: driver, IOMMU group, SR-IOV."
tour list

say "3. One device in detail: the e1000e NIC at $RIG_E1000E."
tour show "$RIG_E1000E"

say "4. Hand it to vfio-pci. First the plan: every file ptctl would write, in order (nothing changes)."
tour bind --dry-run "$RIG_E1000E"
say "Now for real: the original driver is recorded under /run/ptctl first, and the result is verified."
tour bind "$RIG_E1000E"
step readlink "/sys/bus/pci/devices/$RIG_E1000E/driver"
step ls -l /dev/vfio

say "5. The ICH9 functions share one IOMMU group: binding one alone would leave the group unusable."
tour bind 0000:00:1f.3

say "6. Give the e1000e back to its original driver."
tour release "$RIG_E1000E"
step readlink "/sys/bus/pci/devices/$RIG_E1000E/driver"

# Further stops, one file per feature (demo.d/NN-name.sh, sourced in name order).
for stop in "${RIG_DIR:-/rig/tests/vm}"/demo.d/*.sh; do
	[ -e "$stop" ] && . "$stop"
done

say "That is the flow today. Try it yourself: tests/vm/rig shell"
exit 0
