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

# The standard directories under the root: /etc wins over /usr/lib for the same name.
mkdir -p "$root/etc/ptctl" "$root/usr/lib/ptctl"
cp "$here/configs/good/nic.conf" "$root/usr/lib/ptctl/nic.conf"
printf '[Device]\nAddress=0000:00:05.0\nDriver=vfio-pci\n' >"$root/etc/ptctl/nic.conf"
out=$("$PTCTL" --json config show)
check "etc masks usr/lib" '["/etc/ptctl/nic.conf"]' "$(jq -c .files <<<"$out")"
check "one object" 1 "$(jq '.objects | length' <<<"$out")"

[ "$fails" = 0 ] && echo "test-cfg-cli: all passed"
exit $((fails > 0))
