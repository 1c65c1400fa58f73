#!/bin/bash
# make bench: the hot-plug case with its peer: after ptctl's assign/unassign checks, QEMU's device_add /
# device_del of the same igb VF in the same test host boot (same guest kernel, initramfs and script), and
# the time from the command to the guest's igbvf netdev for both, with the ratio ptctl/QEMU.
# rig-timeout: 1200
export HOTPLUG_PEER=1
exec bash "${RIG_DIR:-/rig/tests/vm}/cases/hotplug.sh"
