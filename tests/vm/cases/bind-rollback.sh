#!/bin/bash
# `ptctl bind` when the real kernel says no: vfio-pci refuses an NVMe physical function with SR-IOV
# enabled ("Cannot bind to PF with SR-IOV enabled"), so a forced bind must roll back to nvme with
# driver_override cleared and no record left; without --force it is refused up front. Also: an
# interface that is up with only a /32 IPv4 address (no route; seen only over rtnetlink) is in use,
# and so is a port of a bridge that carries the address. release --group undoes bind --group.
# rig-timeout: 120
. /rig/lib.sh

nvme=/sys/bus/pci/devices/$RIG_NVME
expect_eq "$(driver_of "$RIG_NVME")" nvme "nvme driver at the start"
echo 2 >"$nvme/sriov_numvfs" || fail "cannot enable NVMe VFs"
trap 'echo 0 >"$nvme/sriov_numvfs"' EXIT

expect_rc 1 ptctl bind "$RIG_NVME"
expect_match "$out" 'SR-IOV is enabled \(2 VFs\)' "refusal names the VFs"
expect_eq "$(driver_of "$RIG_NVME")" nvme "nvme after the refusal"

expect_rc 1 ptctl bind --force "$RIG_NVME"
expect_match "$out" 'vfio-pci did not bind it' "the failed verification is reported"
expect_match "$out" 'rolled back' "and the rollback"
expect_eq "$(driver_of "$RIG_NVME")" nvme "nvme driver after the rollback"
expect_eq "$(cat "$nvme/driver_override")" "(null)" "driver_override after the rollback"
[ ! -e "/run/ptctl/devices/$RIG_NVME" ] || fail "the record outlived the rollback"
dmesg | grep -q 'Cannot bind to PF with SR-IOV enabled' || fail "the kernel did not say why"
echo 0 >"$nvme/sriov_numvfs"
trap - EXIT

nd=$(netdev_of "$RIG_E1000E")
[ -n "$nd" ] || fail "e1000e has no netdev"
ip link set "$nd" up && ip addr add 198.18.0.7/32 dev "$nd" || fail "cannot configure $nd"
trap 'ip addr flush dev "$nd"; ip link set "$nd" down' EXIT
grep -qw "$nd" /proc/net/route && fail "a /32 address should add no route in /proc/net/route"
expect_rc 1 ptctl bind "$RIG_E1000E"
expect_match "$out" "network interface $nd is up with addresses or routes" "in use through rtnetlink"
RIG_QUIET=1 run ptctl show --json "$RIG_E1000E"
expect_match "$(jq -r .in_use <<<"$out")" "$nd" "show says why it is in use"
expect_eq "$(driver_of "$RIG_E1000E")" e1000e "e1000e after the refusal"
ip addr flush dev "$nd"

ip link add ptbr0 type bridge && ip link set "$nd" master ptbr0 && ip link set ptbr0 up &&
	ip addr add 198.18.0.9/24 dev ptbr0 || fail "cannot build a bridge over $nd"
trap 'ip link del ptbr0; ip link set "$nd" down' EXIT
expect_rc 1 ptctl bind "$RIG_E1000E"
expect_match "$out" "$nd is a port of ptbr0" "a bridge port carrying the host's address is in use"
ip link del ptbr0
ip link set "$nd" down
trap - EXIT
expect_ok ptctl bind --dry-run "$RIG_E1000E"

# release --group undoes bind --group in one command.
ich=(0000:00:1f.0 0000:00:1f.2 0000:00:1f.3)
declare -A before
for a in "${ich[@]}"; do before[$a]=$(driver_of "$a"); done
trap 'for a in "${ich[@]}"; do ptctl release "$a" >/dev/null 2>&1; done' EXIT
expect_ok ptctl bind --group 0000:00:1f.3
for a in "${ich[@]}"; do expect_eq "$(driver_of "$a")" vfio-pci "$a after bind --group"; done
expect_ok ptctl release --group 0000:00:1f.3
for a in "${ich[@]}"; do expect_eq "$(driver_of "$a")" "${before[$a]}" "$a after release --group"; done
trap - EXIT
