#!/usr/bin/env bash
# test-cli-usage.sh: usage errors go to stderr with exit 2 and nothing on stdout (`ptctl`, `ptctl sriov`,
# an unknown verb); help that was asked for goes to stdout with exit 0; every verb that prints a result
# takes --json (`vm run` and `vm console` are the console itself, and `vm stop` prints no result).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PTCTL=${PTCTL:-$here/../../build/ptctl}
tmp=$(mktemp -d /tmp/ptctl-usage-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export PTCTL_ROOT=$tmp
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

usage_error() { # ARGS...: exit 2, stdout empty, stderr says something
	"$PTCTL" "$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	[ "$rc" = 2 ] || fail "ptctl $*: exit $rc, expected 2"
	[ ! -s "$tmp/out" ] || fail "ptctl $*: a usage error printed on stdout: $(head -3 "$tmp/out")"
	[ -s "$tmp/err" ] || fail "ptctl $*: nothing on stderr"
}
asked_help() { # ARGS...: exit 0, on stdout
	"$PTCTL" "$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	[ "$rc" = 0 ] || fail "ptctl $*: exit $rc, expected 0"
	[ -s "$tmp/out" ] || fail "ptctl $*: help not on stdout"
}

usage_error
usage_error sriov
usage_error vm
usage_error irq
usage_error nosuchverb
usage_error bind
usage_error sriov create 01:00.0 many
asked_help --help
asked_help sriov --help
asked_help help
asked_help bind --help

no_json=" vm run vm stop vm console "
"$PTCTL" --help | sed -n '/^VERBS/,/^$/p' | sed -n 's/^    \([a-z]*\( [a-z]*\)\?\)  .*/\1/p' | sed 's/ *$//' >"$tmp/verbs"
[ "$(wc -l <"$tmp/verbs")" -ge 15 ] || fail "could not read the verb list: $(cat "$tmp/verbs")"
while read -r v; do
	# shellcheck disable=SC2086
	"$PTCTL" $v --help | grep -q -- '--json' && continue
	[[ $no_json == *" $v "* ]] || fail "ptctl $v does not take --json"
done <"$tmp/verbs"

[ "$fails" = 0 ] && echo "test-cli-usage: all passed"
exit $((fails > 0))
