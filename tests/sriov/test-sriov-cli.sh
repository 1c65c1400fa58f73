#!/usr/bin/env bash
# test-sriov-cli.sh: `ptctl sriov` on a fake root: show (table and JSON), input errors (exit 2, nothing
# written), in-use refusal, dry runs, and a create whose VFs never appear (timeout, then rollback).
set -u
PTCTL=${PTCTL:-build/ptctl}
root=$(mktemp -d /tmp/ptctl-sriov-cli-XXXXXX)
trap 'rm -rf "$root"' EXIT
export PTCTL_ROOT=$root
fails=0

check() { # WHAT EXPECTED ACTUAL
	if [ "$2" != "$3" ]; then
		echo "FAIL: $1: expected '$2', got '$3'"
		fails=$((fails + 1))
	fi
}
has() { # WHAT NEEDLE HAYSTACK
	case $3 in
	*"$2"*) ;;
	*) echo "FAIL: $1: '$2' not in: $3"; fails=$((fails + 1)) ;;
	esac
}
run() { out=$("$PTCTL" "$@" 2>&1); rc=$?; }

# --- the tree: an igb PF with 2 VFs (one held open through vfio), an nvme PF without VFs ---
br=$root/sys/devices/pci0000:00/0000:00:01.0
dev() { # ADDR GROUP DRIVER
	mkdir -p "$br/$1" "$root/sys/bus/pci/devices" "$root/sys/kernel/iommu_groups/$2"
	ln -s "../../../devices/pci0000:00/0000:00:01.0/$1" "$root/sys/bus/pci/devices/$1"
	ln -s "../../../../kernel/iommu_groups/$2" "$br/$1/iommu_group"
	[ -z "$3" ] || ln -s "../../../../bus/pci/drivers/$3" "$br/$1/driver"
}
dev 0000:01:00.0 5 igb
echo 7 >"$br/0000:01:00.0/sriov_totalvfs"
echo 2 >"$br/0000:01:00.0/sriov_numvfs"
echo 0 >"$br/0000:01:00.0/sriov_drivers_autoprobe"
mkdir -p "$br/0000:01:00.0/net/enp1s0" && echo 3 >"$br/0000:01:00.0/net/enp1s0/ifindex"
for i in 0 1; do
	vf=0000:01:10.$((2 * i))
	dev "$vf" $((20 + i)) "$([ $i = 1 ] && echo vfio-pci)"
	ln -s "../$vf" "$br/0000:01:00.0/virtfn$i"
	ln -s ../0000:01:00.0 "$br/$vf/physfn"
done
dev 0000:02:00.0 6 nvme
echo 2 >"$br/0000:02:00.0/sriov_totalvfs"
echo 0 >"$br/0000:02:00.0/sriov_numvfs"
echo 1 >"$br/0000:02:00.0/sriov_drivers_autoprobe"
mkdir -p "$root/proc/4242/fd" "$root/run"
echo qemu-system-x86 >"$root/proc/4242/comm"
ln -s /dev/vfio/21 "$root/proc/4242/fd/7"

# --- golden files: table and JSON as people and scripts see them (UPDATE_GOLDEN=1 rewrites them) ---
golden=$(cd "$(dirname "$0")" && pwd)/golden
mkdir -p "$golden"
gold() { # NAME EXPECTED-EXIT ARGS...
	local name=$1 want=$2 got
	shift 2
	got=$("$PTCTL" "$@" 2>&1; echo "exit $?")
	check "$name exit" "exit $want" "${got##*$'\n'}"
	if [ "${UPDATE_GOLDEN:-0}" = 1 ]; then
		printf '%s\n' "$got" >"$golden/$name"
	elif [ "$got" != "$(cat "$golden/$name" 2>/dev/null)" ]; then
		echo "FAIL: $name differs from $golden/$name (UPDATE_GOLDEN=1 to accept):"
		diff -u "$golden/$name" <(printf '%s\n' "$got")
		fails=$((fails + 1))
	fi
}
gold show-igb.txt 0 sriov show 0000:01:00.0
gold show-igb.json 0 --json sriov show 0000:01:00.0
gold show-nvme.txt 0 sriov show 0000:02:00.0
# --json holds in dry runs too: the plan as JSON, never the text lines.
gold create-dry-run.json 0 --json --dry-run sriov create 01:00.0 4 --force
gold destroy-dry-run.json 0 --json --dry-run sriov destroy 01:00.0 --force
gold set-dry-run.json 0 --json --dry-run sriov set 0000:01:00.0 1 mac 52:54:00:00:00:01 vlan 10 qos 2
for a in "sriov create 01:00.0 4 --force" "sriov destroy 01:00.0 --force" "sriov set 0000:01:00.0 1 trust on"; do
	# shellcheck disable=SC2086
	"$PTCTL" --json --dry-run $a 2>/dev/null | python3 -c 'import json, sys; json.load(sys.stdin)' ||
		{ echo "FAIL: --json --dry-run $a: not JSON"; fails=$((fails + 1)); }
done
gold create-dry-run.txt 0 --dry-run sriov create 01:00.0 4 --force
gold destroy-in-use.txt 1 sriov destroy 0000:01:00.0
gold set-bad-mac.txt 2 sriov set 0000:01:00.0 0 mac ff:ff:ff:ff:ff:ff
gold set-bad-vf.txt 2 sriov set 0000:01:00.0 2 trust on
gold set-nvme.txt 2 sriov set 0000:02:00.0 0 trust on
gold create-too-many.txt 2 sriov create 0000:01:00.0 9
gold create-usage.txt 2 sriov create 0000:01:00.0

# --- show ---
run sriov show 0000:01:00.0
check "show exit" 0 "$rc"
has "show total" "total vfs:" "$out"
has "show VF row" "0000:01:10.2" "$out"
run --json sriov show 01:00.0
check "show --json exit" 0 "$rc"
check "json num_vfs" 2 "$(jq .num_vfs <<<"$out")"
check "json autoprobe" false "$(jq .drivers_autoprobe <<<"$out")"
check "json netdev" '"enp1s0"' "$(jq .netdev <<<"$out")"
check "json vf addresses" '"0000:01:10.0","0000:01:10.2"' "$(jq -c '[.vfs[].address]' <<<"$out" | tr -d '[]')"
check "json vf groups" '[20,21]' "$(jq -c '[.vfs[].iommu_group]' <<<"$out")"
check "json vf1 driver" '"vfio-pci"' "$(jq '.vfs[1].driver' <<<"$out")"
check "json vf0 not in use" null "$(jq '.vfs[0].in_use' <<<"$out")"
has "json vf1 in use" "pid 4242 (qemu-system-x86)" "$(jq -r '.vfs[1].in_use' <<<"$out")"
check "json settings null under a root" null "$(jq '.vfs[0].mac' <<<"$out")"
has "json says why" "PTCTL_ROOT" "$(jq -r .vf_settings_unavailable <<<"$out")"
check "json keys" '["address","driver","drivers_autoprobe","iommu_group","netdev","num_vfs","total_vfs","vf_settings_unavailable","vfs"]' \
	"$(jq -c 'keys' <<<"$out")"
check "json vf keys" '["address","driver","in_use","iommu_group","link_state","mac","max_tx_rate","min_tx_rate","netdev","qos","spoofchk","trust","vf","vlan"]' \
	"$(jq -c '.vfs[0] | keys' <<<"$out")"
run --json sriov show 0000:02:00.0
check "nvme show" 0 "$rc"
has "nvme: no netdev" "no network interface" "$(jq -r .vf_settings_unavailable <<<"$out")"

# --- bad input: exit 2, nothing written ---
pfstate() { echo "numvfs=$(<"$br/0000:01:00.0/sriov_numvfs") autoprobe=$(<"$br/0000:01:00.0/sriov_drivers_autoprobe")"; }
before=$(pfstate)
run sriov show 0000:09:00.0
check "missing device" 2 "$rc"
has "missing device message" "no such PCI device" "$out"
run sriov show 0000:01:10.0
check "a VF is not a PF" 2 "$rc"
run sriov create 0000:01:00.0 8
check "too many VFs" 2 "$rc"
has "too many VFs message" "at most 7" "$out"
run sriov create 0000:01:00.0 -1
check "negative count" 2 "$rc"
run sriov create 0000:01:00.0 0
check "zero count" 2 "$rc"
run sriov create 0000:01:00.0 2 --timeout x
check "bad timeout" 2 "$rc"
run sriov set 0000:01:00.0 0 mac 01:00:5e:00:00:01
check "multicast MAC" 2 "$rc"
has "MAC message" "unicast" "$out"
run sriov set 0000:01:00.0 0 mac 00:00:00:00:00:00
check "zero MAC" 2 "$rc"
run sriov set 0000:01:00.0 0 mac 52:54:00:12:34
check "short MAC" 2 "$rc"
run sriov set 0000:01:00.0 0 vlan 4096
check "VLAN 4096" 2 "$rc"
run sriov set 0000:01:00.0 0 vlan 10 qos 8
check "QoS 8" 2 "$rc"
run sriov set 0000:01:00.0 0 qos 3
check "qos without vlan" 2 "$rc"
run sriov set 0000:01:00.0 0 rate 200:100
check "rate MIN > MAX" 2 "$rc"
run sriov set 0000:01:00.0 0 spoofchk maybe
check "spoofchk maybe" 2 "$rc"
run sriov set 0000:01:00.0 0 state up
check "state up" 2 "$rc"
run sriov set 0000:01:00.0 0 color red
check "unknown setting" 2 "$rc"
run sriov set 0000:01:00.0 5 trust on
check "VF index out of range" 2 "$rc"
has "VF index message" "has 2 VFs (0-1)" "$out"
run sriov set 0000:02:00.0 0 trust on
check "nvme has no VFs" 2 "$rc"
echo 2 >"$br/0000:02:00.0/sriov_numvfs"
run sriov set 0000:02:00.0 0 trust on
check "nvme set refused" 2 "$rc"
has "nvme set says why" "network PFs only" "$out"
echo 0 >"$br/0000:02:00.0/sriov_numvfs"
check "nothing written by bad input" "$before" "$(pfstate)"

# --- in use: refused (exit 1), nothing written; a dry run with --force shows the writes ---
run sriov destroy 0000:01:00.0
check "destroy in use" 1 "$rc"
has "in-use message" "VF 0000:01:10.2 is in use" "$out"
has "in-use says what to do" "--force" "$out"
run sriov create 0000:01:00.0 4
check "change in use" 1 "$rc"
check "nothing written when in use" "$before" "$(pfstate)"
run --dry-run sriov create 0000:01:00.0 4 --force --autoprobe
check "dry run" 0 "$rc"
check "dry run writes" "would write 1 to /sys/bus/pci/devices/0000:01:00.0/sriov_drivers_autoprobe
would write 0 to /sys/bus/pci/devices/0000:01:00.0/sriov_numvfs
would write 4 to /sys/bus/pci/devices/0000:01:00.0/sriov_numvfs" "$out"
check "dry run wrote nothing" "$before" "$(pfstate)"
run --dry-run sriov set 0000:01:00.0 1 mac 52:54:00:00:00:01 vlan 10 qos 2
check "set dry run" 0 "$rc"
has "set dry run text" "would set on enp1s0 (PF 0000:01:00.0, ifindex 3) VF 1: mac 52:54:00:00:00:01 vlan 10 qos 2" "$out"

# --- VFs that never appear (no kernel behind the tree): timeout, then 2 VFs and autoprobe restored ---
rm "$root/proc/4242/fd/7"
start=$SECONDS
run sriov create 0000:01:00.0 3 --timeout 1 --autoprobe
check "timeout exit" 1 "$rc"
has "timeout message" "did not deliver the VFs within 1 s" "$out"
has "timeout says restored" "2 VFs and autoprobe off restored" "$out"
check "count and autoprobe restored" "$before" "$(pfstate)"
[ $((SECONDS - start)) -le 5 ] || { echo "FAIL: timeout took $((SECONDS - start)) s"; fails=$((fails + 1)); }
[ -e "$root/run/ptctl/lock" ] || { echo "FAIL: the change did not take the lock"; fails=$((fails + 1)); }

# --- help pages ---
for v in show create destroy set; do
	run sriov "$v" --help
	check "help $v" 0 "$rc"
	has "help $v synopsis" "ptctl sriov $v" "$out"
done

if [ "$fails" = 0 ]; then
	echo "test-sriov-cli: all passed"
else
	echo "test-sriov-cli: $fails failed"
	exit 1
fi
