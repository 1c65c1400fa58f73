#!/usr/bin/env bash
# test-cfg-cli.sh: `ptctl config check|show`, `ptctl apply --dry-run` and `ptctl status` on fake trees, with
# golden files for the table and JSON output (UPDATE_GOLDEN=1 rewrites them).
set -u
PTCTL=${PTCTL:-build/ptctl}
here=$(cd "$(dirname "$0")" && pwd)
golden=$here/golden
root=$(mktemp -d /tmp/ptctl-cfg-cli-XXXXXX)
trap 'rm -rf "$root"' EXIT
export PTCTL_ROOT=$root
fails=0

check() { # WHAT EXPECTED ACTUAL
	if [ "$2" != "$3" ]; then
		echo "FAIL: $1: expected '$2', got '$3'"
		fails=$((fails + 1))
	fi
}
gold() { # NAME EXPECTED-EXIT ARGS...
	local name=$1 want=$2 got
	shift 2
	got=$("$PTCTL" "$@" 2>&1; echo "exit $?")
	got=${got//$here/TESTS}
	check "$name exit" "exit $want" "${got##*$'\n'}"
	if [ "${UPDATE_GOLDEN:-0}" = 1 ]; then
		printf '%s\n' "$got" >"$golden/$name"
	elif [ "$got" != "$(cat "$golden/$name" 2>/dev/null)" ]; then
		echo "FAIL: $name differs from $golden/$name (UPDATE_GOLDEN=1 to accept):"
		diff -u "$golden/$name" <(printf '%s\n' "$got")
		fails=$((fails + 1))
	fi
}

gold show.txt 0 config show --config "$here/configs/good"
gold show.json 0 --json config show --config "$here/configs/good"
gold check-good.txt 0 config check --config "$here/configs/good"
gold check-broken.txt 2 config check --config "$here/configs/broken"
gold show-broken.txt 2 config show --config "$here/configs/broken"
gold show-none.txt 0 config show
gold vms.txt 0 config vms --config "$here/configs/good"
gold vms-autostart.txt 0 config vms --autostart --names --config "$here/configs/good"
gold vms.json 0 --json config vms --config "$here/configs/good"
# vm run --from-config: the [VM] section through the command line's own option code
gold vm-from-config-none.txt 2 vm run nosuch --from-config --config "$here/configs/good"
gold vm-from-config-mixed.txt 2 vm run vm1 --from-config --cpus 2 --config "$here/configs/good"
gold vm-config-alone.txt 2 vm run vm1 --kernel /k --config "$here/configs/good"
gold vm-from-config-absent.txt 1 vm run vm1 --from-config --config "$here/configs/good"

# The standard directories under the root: /etc wins over /usr/lib for the same name.
mkdir -p "$root/etc/ptctl" "$root/usr/lib/ptctl"
cp "$here/configs/good/nic.conf" "$root/usr/lib/ptctl/nic.conf"
printf '[Device]\nAddress=0000:00:05.0\nDriver=vfio-pci\n' >"$root/etc/ptctl/nic.conf"
out=$("$PTCTL" --json config show)
check "etc masks usr/lib" '["/etc/ptctl/nic.conf"]' "$(jq -c .files <<<"$out")"
check "one object" 1 "$(jq '.objects | length' <<<"$out")"

# plan and status against fakesys's sample host (built by the vfio fixture program)
tree=$(mktemp -d /tmp/ptctl-cfg-tree-XXXXXX)
trap 'rm -rf "$root" "$tree"' EXIT
"${BUILD:-build}/tests/vfio/fixture-scenario" "$tree" || { echo "FAIL: fixture"; exit 1; }
export PTCTL_ROOT=$tree
sleep 1 # file times have 1 s granularity on some file systems: the marker must be newer than the tree
touch "$tree/.marker"
gold status.txt 0 status --config "$here/configs/host"
gold status.json 0 --json status --config "$here/configs/host"
gold plan-dry-run.txt 0 --dry-run apply --config "$here/configs/host"
gold plan-dry-run.json 0 --json --dry-run apply --config "$here/configs/host"
gold plan-object.txt 0 --dry-run apply --object 0000:01:10.0 --config "$here/configs/host"
gold plan-object-none.txt 0 --dry-run apply --object 0000:03:00.0 --config "$here/configs/host"
gold status-invalid.txt 0 status --config "$here/configs/host-invalid"
gold apply-invalid.txt 2 apply --config "$here/configs/host-invalid"
gold apply-broken.txt 2 apply --config "$here/configs/broken"
# Nothing was written by any of it.
check "no file written in the tree" "" "$(find "$tree" -newer "$tree/.marker" \( -type f -o -type l \) | grep -v '/\.marker$')"

[ "$fails" = 0 ] && echo "test-cfg-cli: all passed"
exit $((fails > 0))
