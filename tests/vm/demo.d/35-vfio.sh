#!/bin/bash
# 35-vfio.sh: the demo's VFIO stop: QEMU's edu DMA device on vfio-pci, what VFIO offers, real DMA through
# the VT-d IOMMU, and the device's MSI delivered into a KVM vCPU. Sourced by tests/vm/demo.sh.
if ! declare -F tour >/dev/null; then
	. /rig/lib.sh
	say() { printf '\n# %s\n' "$*"; }
	tour() { step ptctl "$@"; }
fi

say "VFIO: QEMU's edu device at $RIG_EDU has a DMA engine and an MSI. Hand it to vfio-pci and look at"
say "what userspace gets: BARs, config space, IRQ indexes, the IOMMU's usable IOVA ranges and DMA limit."
tour bind "$RIG_EDU"
tour vfio probe "$RIG_EDU"

say "Map memory at IOVA = guest-physical, have the device DMA into it and back through VT-d, and check"
say "that DMA to an unmapped IOVA is blocked (the kernel logs a DMAR fault):"
printf '\n$ edu-dma %s   (the checks it made)\n' "$RIG_EDU"
edu-dma "$RIG_EDU" 2>&1 | grep -E '^(ok|FAIL)'

say "Interrupts into KVM: edu's MSI -> eventfd -> KVM irqfd -> MSI route -> the vector pending in a"
say "vCPU's local APIC, without a trip through userspace; removing the route stops it:"
printf '\n$ irq-kvm %s   (the checks it made)\n' "$RIG_EDU"
irq-kvm "$RIG_EDU" 2>&1 | grep -E '^(ok|FAIL)'

say "How fast guest memory becomes DMA-able (prefault, MAP_DMA, UNMAP_DMA):"
tour bench dma --device "$RIG_EDU" --size 32M

tour release "$RIG_EDU"
