# Helpers for rig cases (bash, sourced inside the test host: `. /rig/lib.sh`): assertions that name what
# failed, `step` for showing commands, device lookups, SR-IOV and driver helpers, and nested guests (L2).

# Known devices (exported by the test host's init; looked up again when sourced elsewhere).
rig_find() { # VID:DID -> first PCI address with that id
	local d v i
	for d in /sys/bus/pci/devices/*; do
		read -r v <"$d/vendor"
		read -r i <"$d/device"
		[ "$v:$i" = "0x${1%%:*}:0x${1##*:}" ] && { echo "${d##*/}"; return 0; }
	done
	return 1
}
: "${RIG_IGB:=$(rig_find 8086:10c9)}" "${RIG_E1000E:=$(rig_find 8086:10d3)}"
: "${RIG_EDU:=$(rig_find 1234:11e8)}" "${RIG_NVME:=$(rig_find 1b36:0010)}"
export RIG_IGB RIG_E1000E RIG_EDU RIG_NVME
: "${RIG_GUEST_KERNEL:=/rig/guest/vmlinuz}" "${RIG_GUEST_INITRD:=/rig/guest/initrd.img}"

# --- output and assertions ---------------------------------------------------------------------------

# fail MSG: end the case with a failure, naming where it happened.
fail() {
	local i
	for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
		[ "${BASH_SOURCE[i]}" = "${BASH_SOURCE[0]}" ] || break
	done
	echo "FAIL: $* (${RIG_CASE:-${BASH_SOURCE[i]:-?}} line ${BASH_LINENO[i - 1]:-?})" >&2
	exit 1
}

# step CMD...: print the command, then run it (its output follows); returns its exit status.
step() {
	printf '\n$ %s\n' "$*"
	"$@"
}

# Run a command, keeping its output in $out and its status in $rc (shown unless RIG_QUIET=1).
run() {
	out=$("$@" 2>&1)
	rc=$?
	[ "${RIG_QUIET:-0}" = 1 ] || { printf '$ %s\n' "$*"; [ -z "$out" ] || printf '%s\n' "$out"; }
	return 0
}

expect_eq() { # ACTUAL EXPECTED [WHAT]
	[ "$1" == "$2" ] || fail "${3:-value}: expected '$2', got '$1'"
}

expect_ne() { # ACTUAL UNEXPECTED [WHAT]
	[ "$1" != "$2" ] || fail "${3:-value}: did not expect '$2'"
}

expect_match() { # STRING ERE [WHAT]
	[[ $1 =~ $2 ]] || fail "${3:-output}: '$1' does not match /$2/"
}

expect_ok() { # CMD...: must exit 0
	run "$@"
	[ "$rc" = 0 ] || fail "'$*' exited $rc, expected success"
}

expect_fail() { # CMD...: must exit non-zero (output in $out)
	run "$@"
	[ "$rc" != 0 ] || fail "'$*' succeeded, expected a failure"
}

expect_rc() { # N CMD...: must exit exactly N (output in $out)
	local want=$1
	shift
	run "$@"
	[ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want"
}

# wait_for SECONDS CMD...: poll every 0.2 s until CMD succeeds; non-zero if it never does.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.2
	done
}

# --- devices -------------------------------------------------------------------------------------------

driver_of() { # ADDR -> bound driver name, or nothing
	local l=/sys/bus/pci/devices/$1/driver
	[ -e "$l" ] && basename "$(readlink "$l")"
	return 0
}

group_of() { # ADDR -> IOMMU group number
	basename "$(readlink "/sys/bus/pci/devices/$1/iommu_group")"
}

netdev_of() { # ADDR -> first network interface of the device, or nothing
	ls "/sys/bus/pci/devices/$1/net" 2>/dev/null | head -n1
}

# pf_link_up DEV ADDRESS: the PF's netdev up with ADDRESS/24 and a carrier (20 s at most). Remembers
# whether the link was up for pf_link_restore DEV ADDRESS, which takes the address off and puts it back.
pf_link_up() {
	pf_was_up=$(($(cat "/sys/class/net/$1/flags") & 1))
	/usr/sbin/ip link set "$1" up
	/usr/sbin/ip addr add "$2/24" dev "$1" || fail "cannot add $2 to $1"
	wait_for 20 grep -q 1 "/sys/class/net/$1/carrier" || fail "$1 (PF) has no carrier"
}

pf_link_restore() { # DEV ADDRESS
	/usr/sbin/ip addr del "$2/24" dev "$1" 2>/dev/null
	[ "${pf_was_up:-1}" = 1 ] || /usr/sbin/ip link set "$1" down
}

# sriov_vf0 PF MAC: one VF made by ptctl sriov create, its MAC set by ptctl sriov set; its address in $vf.
sriov_vf0() {
	expect_ok ptctl sriov create "$1" 1
	vf=$(basename "$(readlink "/sys/bus/pci/devices/$1/virtfn0")")
	[ -n "$vf" ] && [ "$vf" != . ] || fail "no virtfn0 after sriov create"
	expect_ok ptctl sriov set "$1" 0 mac "$2"
}

# vf_case_cleanup PF DEV ADDRESS [PID...]: the end of a case that used pf_link_up DEV ADDRESS and sriov_vf0 PF:
# ends the background PIDs given (empty ones are passed over) and waits for them, gives $vf back if it is
# still on vfio-pci, removes the VFs and restores the PF's link.
vf_case_cleanup() {
	local pf=$1 dev=$2 addr=$3 p
	shift 3
	for p; do [ -z "$p" ] || kill "$p" 2>/dev/null; done
	[ $# = 0 ] || wait 2>/dev/null
	[ -z "${vf:-}" ] || [ "$(driver_of "$vf")" != vfio-pci ] || ptctl release "$vf" >/dev/null
	ptctl sriov destroy "$pf" >/dev/null
	pf_link_restore "$dev" "$addr"
}

# vf_create PF N: create N VFs with driver autoprobe as given by RIG_VF_AUTOPROBE (default 1); prints
# the VF addresses once they all exist.
vf_create() {
	local pf=/sys/bus/pci/devices/$1 i
	echo "${RIG_VF_AUTOPROBE:-1}" >"$pf/sriov_drivers_autoprobe" || return 1
	echo 0 >"$pf/sriov_numvfs" && echo "$2" >"$pf/sriov_numvfs" || return 1
	for ((i = 0; i < $2; i++)); do
		wait_for 10 test -e "$pf/virtfn$i" || return 1
		basename "$(readlink "$pf/virtfn$i")"
	done
}

vf_destroy() { # PF
	echo 0 >"/sys/bus/pci/devices/$1/sriov_numvfs"
}

# --- nested guests (L2) ----------------------------------------------------------------------------------

# rig_l2_initrd: make sure $RIG_GUEST_INITRD exists (for VMMs other than rig_l2's QEMU, e.g. ptctl vm run).
rig_l2_initrd() {
	[ -f "$RIG_GUEST_INITRD" ] && return 0
	cat /rig/guest/initrd-base.img /rig/guest/initrd-tail.img >"$RIG_GUEST_INITRD.tmp" &&
		mv "$RIG_GUEST_INITRD.tmp" "$RIG_GUEST_INITRD"
}

# rig_l2 NAME [QEMU ARGS...]: boot the nested guest under KVM in the test host; it runs tests/vm/l2.d/NAME.
# Output is streamed with an "L2| " prefix and kept in $l2_log; returns the script's exit status, or 1 if
# the guest never came up or never reported. RIG_L2_APPEND adds kernel parameters (name=value pairs reach
# the L2 script as environment variables), RIG_L2_MEM (MiB, default 256), RIG_L2_TIMEOUT (s, default 180
# times RIG_SCALE: the test host's slowness factor, 1-4).
rig_l2() {
	local name=$1
	shift
	l2_log=/tmp/l2-$name.$$.log
	# the nested guest's initramfs: its cached base with this run's l2.d scripts on top (made on first use)
	if [ ! -f "$RIG_GUEST_INITRD" ]; then
		cat /rig/guest/initrd-base.img /rig/guest/initrd-tail.img >"$RIG_GUEST_INITRD.tmp" &&
			mv "$RIG_GUEST_INITRD.tmp" "$RIG_GUEST_INITRD" || return 1
	fi
	# QEMU boots the PVH ELF image directly: the bzImage's decompressor would run emulated
	local kernel=$RIG_GUEST_KERNEL
	[ -f /rig/guest/vmlinux ] && [ "$kernel" = /rig/guest/vmlinuz ] && kernel=/rig/guest/vmlinux
	local -a cmd=(qemu-system-x86_64 -machine q35,accel=kvm -cpu qemu64 -smp 1 -m "${RIG_L2_MEM:-256}"
		-nodefaults -display none -no-reboot -serial stdio
		-kernel "$kernel" -initrd "$RIG_GUEST_INITRD"
		-append "console=ttyS0 quiet panic=-1 l2=$name ${RIG_L2_APPEND:-}" "$@")
	echo "\$ ${cmd[*]}"
	timeout "${RIG_L2_TIMEOUT:-$((180 * ${RIG_SCALE:-1}))}" "${cmd[@]}" </dev/null 2>&1 | tr -d '\r' | tee "$l2_log" | sed 's/^/L2| /'
	grep -q '^RIG-L2-UP' "$l2_log" || { echo "rig_l2: the nested guest never reached its init" >&2; return 1; }
	local rc
	rc=$(sed -n 's/^RIG-L2-EXIT \([0-9]*\).*/\1/p' "$l2_log" | tail -n1)
	[ -n "$rc" ] || { echo "rig_l2: the nested guest stopped without reporting its exit status" >&2; return 1; }
	return "$rc"
}
