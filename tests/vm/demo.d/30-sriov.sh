#!/bin/bash
# 30-sriov.sh: the demo's SR-IOV stop: 2 VFs on the igb, a fixed MAC on one, show, destroy.
# Sourced by tests/vm/demo.sh (which provides say, tour, step); runs on its own in the test host too.
if ! declare -F tour >/dev/null; then
	. /rig/lib.sh
	say() { printf '\n# %s\n' "$*"; }
	tour() { step ptctl "$@"; }
fi

say "SR-IOV: the igb NIC at $RIG_IGB can present virtual functions (VFs), each a PCI device of its own"
say "with its own IOMMU group, ready to hand to a guest. Today it has none:"
tour sriov show "$RIG_IGB"

say "Create 2 VFs. Host VF drivers are kept off them (they are meant for guests); ptctl waits until"
say "each VF exists with its IOMMU group, and puts the old state back if that does not happen."
tour sriov create "$RIG_IGB" 2

say "Give VF 0 a fixed MAC and spoof checking. ptctl sets it over rtnetlink and reads it back to verify;"
say "iproute2 shows the same from the kernel:"
tour sriov set "$RIG_IGB" 0 mac 52:54:00:5e:00:01 spoofchk on
step /usr/sbin/ip link show "$(netdev_of "$RIG_IGB")"
tour sriov show "$RIG_IGB"

say "Bad input is refused before anything is sent (exit 2), here a multicast MAC:"
tour sriov set "$RIG_IGB" 0 mac 01:00:5e:00:00:01

say "Remove the VFs again."
tour sriov destroy "$RIG_IGB"
