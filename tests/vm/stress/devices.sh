#!/bin/bash
# Devices are never stranded: bind/release round trips over e1000e, edu and an igb VF, then ptctl
# killed (SIGKILL) before every single change it makes in bind, release, bind --group,
# release --group, sriov create and sriov destroy (the PTCTL_TEST_PAUSE_AT hook stops it there),
# each kill checked and followed by the documented recovery (`ptctl release ADDRESS` for every
# record in /run/ptctl/devices; `ptctl sriov destroy PF`): zero devices stranded, every record
# consistent with sysfs. `make stress` runs it whole; cases/stress-smoke.sh runs a short version.
# Knobs: STRESS_ROUNDS (200), STRESS_DEVICES (e1000e edu vf), STRESS_KILL (the kill sets:
# e1000e edu vf group sriov).
# rig-timeout: 3600
. /rig/lib.sh

ROUNDS=${STRESS_ROUNDS:-200}
DEVICES=${STRESS_DEVICES:-e1000e edu vf}
KILL=${STRESS_KILL:-e1000e edu vf group sriov}
ICH=(0000:00:1f.0 0000:00:1f.2 0000:00:1f.3)
recdir=/run/ptctl/devices
kills=0 trips=0
declare -A orig

override_of() { cat "/sys/bus/pci/devices/$1/driver_override"; }

# Remembers where each device starts: the state every recovery must return it to.
remember() {
	local a
	for a in "$@"; do
		orig[$a]=$(driver_of "$a")
		[ "$(override_of "$a")" = "(null)" ] || fail "$a has a driver_override at the start"
		[ ! -e "$recdir/$a" ] || fail "$a has a record at the start"
	done
}

# The invariant at any moment: a device away from its starting state has a record, and every
# record's original_driver is that starting driver.
consistent() { # WHEN ADDR...
	local when=$1 a want
	shift
	for a in "$@"; do
		if [ "$(driver_of "$a")" != "${orig[$a]}" ] || [ "$(override_of "$a")" != "(null)" ]; then
			[ -e "$recdir/$a" ] || fail "$when: $a stranded: driver '$(driver_of "$a")', override '$(override_of "$a")', no record"
		fi
		if [ -e "$recdir/$a" ]; then
			want="original_driver=${orig[$a]}"
			grep -qx "$want" "$recdir/$a" || fail "$when: the record of $a does not say $want: $(tr '\n' ' ' <"$recdir/$a")"
		fi
	done
}

# Back where it started, no record, no override.
settled() { # WHEN ADDR...
	local when=$1 a
	shift
	for a in "$@"; do
		expect_eq "$(driver_of "$a")" "${orig[$a]}" "$when: driver of $a"
		expect_eq "$(override_of "$a")" "(null)" "$when: driver_override of $a"
		[ ! -e "$recdir/$a" ] || fail "$when: the record of $a outlived the change"
	done
}

# The documented recovery after a killed bind or release.
recover() {
	local f
	for f in "$recdir"/*; do
		[ -e "$f" ] || continue
		case $f in *.tmp.*) rm -f "$f"; continue ;; esac
		ptctl release "${f##*/}" >/dev/null 2>"$tmpd/err" || fail "recovery: ptctl release ${f##*/}: $(cat "$tmpd/err")"
	done
}

# paused N CMD...: runs CMD with the hook at change N. Returns 0 if it stopped there (it is then
# killed), 1 if it ran to the end without reaching change N (its status in $rc).
paused() {
	local n=$1 pid s i
	shift
	PTCTL_TEST_PAUSE_AT=$n "$@" >/dev/null 2>"$tmpd/err" &
	pid=$!
	for ((i = 0; i < 600; i++)); do
		s=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || break
		[ "$s" = T ] && break
		[ "$s" = Z ] && break
		sleep 0.05
	done
	if [ "$s" = T ]; then
		kill -KILL "$pid"
		wait "$pid" 2>/dev/null
		kills=$((kills + 1))
		return 0
	fi
	wait "$pid"
	rc=$?
	return 1
}

# kill_each WHAT SETUP OP ADDR...: for N = 1, 2, ...: SETUP, OP killed before its Nth change, the
# invariant, the recovery, everything settled; until OP runs to the end without reaching N.
kill_each() {
	local what=$1 setup=$2 op=$3 n
	shift 3
	for ((n = 1; n < 100; n++)); do
		[ -z "$setup" ] || { $setup >/dev/null 2>&1 || fail "$what: setup '$setup' failed"; }
		if ! paused "$n" $op; then
			[ "$rc" = 0 ] || fail "$what: '$op' failed without a kill: $(cat "$tmpd/err")"
			recover
			settled "$what: after a complete run" "$@"
			echo "$what: killed before each of its $((n - 1)) changes, recovered every time"
			return 0
		fi
		consistent "$what: killed before change $n" "$@"
		recover
		settled "$what: recovered from a kill before change $n" "$@"
	done
	fail "$what: more than 100 changes?"
}

tmpd=$(mktemp -d)
# The real kernel's sysfs reads cleanly with the shared attribute parsers: no device, no field unreadable.
ptctl list >/dev/null 2>"$tmpd/list.err" || fail "ptctl list: $(cat "$tmpd/list.err")"
[ ! -s "$tmpd/list.err" ] || fail "ptctl list found unreadable attributes on the real kernel: $(cat "$tmpd/list.err")"
ptctl --json list | jq -e 'all(.[]; has("unreadable") | not)' >/dev/null || fail "list --json marks something unreadable"
vf=
cleanup() {
	recover 2>/dev/null
	[ -z "$RIG_IGB" ] || echo 0 >"/sys/bus/pci/devices/$RIG_IGB/sriov_numvfs"
	rm -rf "$tmpd"
}
trap cleanup EXIT

if [[ " $DEVICES $KILL " == *" vf "* ]]; then
	vf=$(RIG_VF_AUTOPROBE=1 vf_create "$RIG_IGB" 1) || fail "cannot create an igb VF"
	wait_for 10 test -e "/sys/bus/pci/devices/$vf/driver" || fail "igbvf did not take $vf"
fi
declare -A addr=([e1000e]=$RIG_E1000E [edu]=$RIG_EDU [vf]=$vf)
remember "$RIG_E1000E" "$RIG_EDU" ${vf:+"$vf"} "${ICH[@]}"

# Round trips: the three devices one after another, ROUNDS times.
t0=$SECONDS
for ((i = 1; i <= ROUNDS; i++)); do
	for d in $DEVICES; do
		a=${addr[$d]}
		ptctl bind "$a" >/dev/null 2>"$tmpd/err" || fail "round $i: bind $d ($a): $(cat "$tmpd/err")"
		[ "$(driver_of "$a")" = vfio-pci ] || fail "round $i: $d on '$(driver_of "$a")' after bind"
		consistent "round $i after bind" "$a"
		ptctl release "$a" >/dev/null 2>"$tmpd/err" || fail "round $i: release $d ($a): $(cat "$tmpd/err")"
		settled "round $i after release" "$a"
		trips=$((trips + 1))
	done
done
echo "round trips: $trips bind/release pairs over ($DEVICES) in $((SECONDS - t0)) s, every one back on its driver"

bind_one() { ptctl bind "$1"; }
for d in $KILL; do
	case $d in
	e1000e | edu | vf)
		a=${addr[$d]}
		kill_each "bind $d" "" "ptctl bind $a" "$a"
		kill_each "release $d" "bind_one $a" "ptctl release $a" "$a"
		;;
	group)
		kill_each "bind --group" "" "ptctl bind --group ${ICH[2]}" "${ICH[@]}"
		kill_each "release --group" "ptctl bind --group ${ICH[2]}" "ptctl release --group ${ICH[2]}" "${ICH[@]}"
		;;
	sriov)
		pf=/sys/bus/pci/devices/$RIG_IGB
		[ -z "$vf" ] || { echo 0 >"$pf/sriov_numvfs"; vf=; }
		sriov_ok() { # WHEN: sriov_numvfs is 0 or 2, and exactly that many VFs exist
			local n links
			n=$(cat "$pf/sriov_numvfs")
			links=$(ls -d "$pf"/virtfn* 2>/dev/null | wc -l)
			[ "$n" = 0 ] || [ "$n" = 2 ] || fail "$1: sriov_numvfs is $n"
			[ "$links" = "$n" ] || fail "$1: sriov_numvfs $n but $links VFs"
		}
		for op in create destroy; do
			for ((n = 1; n < 20; n++)); do
				if [ $op = destroy ]; then ptctl sriov create "$RIG_IGB" 2 >/dev/null || fail "setup: sriov create"; fi
				args=("$op" "$RIG_IGB")
				[ $op = destroy ] || args+=(2)
				if ! paused "$n" ptctl sriov "${args[@]}"; then
					[ "$rc" = 0 ] || fail "sriov $op failed without a kill: $(cat "$tmpd/err")"
					ptctl sriov destroy "$RIG_IGB" >/dev/null || fail "sriov destroy after a complete $op"
					echo "sriov $op: killed before each of its $((n - 1)) changes, recovered every time"
					break
				fi
				sriov_ok "sriov $op killed before change $n"
				ptctl sriov destroy "$RIG_IGB" >/dev/null 2>"$tmpd/err" || fail "recovery after sriov $op killed at $n: $(cat "$tmpd/err")"
				expect_eq "$(cat "$pf/sriov_numvfs")" 0 "sriov_numvfs after recovery"
			done
		done
		;;
	esac
done
echo "kills: $kills, each followed by its recovery; zero devices stranded"
