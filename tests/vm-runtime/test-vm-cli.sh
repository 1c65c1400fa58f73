#!/bin/bash
# `ptctl vm run|start|list|stop|console` on this machine's /dev/kvm, with a fake bzImage whose 64-bit
# entry point prints the command line it finds through the zero page and then powers off (p), resets
# through the i8042 (r) or halts (anything else). Proves the CLI, the exit statuses, the boot plumbing
# (header parsing, load address, zero page, cmdline) and the control socket without booting Linux.
set -u
PTCTL=${PTCTL:-build/ptctl}
fails=0
if ! [ -c /dev/kvm ] || ! [ -w /dev/kvm ]; then
	echo "SKIP(kvm): no usable /dev/kvm"
	exit 77
fi
tmp=$(mktemp -d)
trap 'for p in $(cat "$tmp"/pids 2>/dev/null); do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
export PTCTL_ROOT=$tmp/root
mkdir -p "$PTCTL_ROOT/dev" "$PTCTL_ROOT/proc"
ln -s /dev/kvm "$PTCTL_ROOT/dev/kvm"
cp /proc/meminfo "$PTCTL_ROOT/proc/meminfo"

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
. "$(dirname "${BASH_SOURCE[0]}")/../lib/fake-bzimage.sh"
k=$tmp/fake-bzImage
fake_bzimage "$k"

# The same payload as an uncompressed vmlinux: ELF64 header, one PT_LOAD at 16M holding the entry point.
elf=$tmp/fake-vmlinux
head -c 4096 /dev/zero >"$elf"
put "$elf" 0x00 7f454c46020101   # ELF, 64-bit, little-endian
put "$elf" 0x10 02003e0001000000 # ET_EXEC, EM_X86_64, version 1
put "$elf" 0x18 0000000100000000 # e_entry 16M (physical, as vmlinux has it)
put "$elf" 0x20 4000000000000000 # e_phoff
put "$elf" 0x34 400038000100     # e_ehsize, e_phentsize, e_phnum 1
put "$elf" 0x40 0100000005000000 # PT_LOAD, R+X
put "$elf" 0x48 0010000000000000 # p_offset 0x1000
put "$elf" 0x50 00000081ffffffff # p_vaddr
put "$elf" 0x58 0000000100000000 # p_paddr 16M
put "$elf" 0x60 "$(printf '%02x' $((${#payload} / 2)))00000000000000" # p_filesz: the payload
put "$elf" 0x68 0000010000000000 # p_memsz 64K
printf "$(echo "$payload" | sed 's/../\\x&/g')" >>"$elf"

# expect_run STATUS OUTPUT-PATTERN ARGS...: ptctl vm run with the fake kernel
expect_run() {
	local want=$1 pat=$2 out rc
	shift 2
	out=$(timeout 60 "$PTCTL" vm run "$@" --kernel "$k" --memory 64M </dev/null 2>&1)
	rc=$?
	[ "$rc" = "$want" ] || fail "vm run $*: exit $rc, wanted $want; output: $out"
	echo "$out" | grep -q -- "$pat" || fail "vm run $*: output lacks '$pat': $out"
}

expect_run 0 '^p powered off$' t1 --cmdline "p powered off"
expect_run 0 '^p two vcpus$' t1 --cmdline "p two vcpus" --cpus 2
expect_run 0 '^p prefaulted$' t1 --cmdline "p prefaulted" --prefault --cpus 2
expect_run 3 'the guest rebooted: i8042 reset pulse (exit status 3)' t1 --cmdline "r reboot"
out=$(timeout 60 "$PTCTL" vm run t1 --kernel "$elf" --memory 64M --cmdline "p from an ELF vmlinux" </dev/null 2>&1)
rc=$?
[ "$rc" = 0 ] && [ "$out" = "p from an ELF vmlinux" ] || fail "vmlinux ELF: exit $rc: $out"
# A vmlinux whose segment lies past the file's end is refused before anything runs.
cp "$elf" "$tmp/bad-elf"
put "$tmp/bad-elf" 0x60 0000100000000000 # p_filesz 1M: past the end
out=$("$PTCTL" vm run t1 --kernel "$tmp/bad-elf" --memory 64M 2>&1)
rc=$?
[ "$rc" = 2 ] && echo "$out" | grep -q "past the end" || fail "truncated vmlinux: exit $rc: $out"
expect_run 4 'panicked' t1 --cmdline $'x\nKernel panic - not syncing: test\n---[ end Kernel panic - not syncing: test ]---'
out=$("$PTCTL" vm run t1 --kernel "$tmp/root/proc/meminfo" 2>&1)
rc=$?
[ "$rc" = 2 ] && echo "$out" | grep -q "not a bzImage\|too short" || fail "a text file as kernel: exit $rc: $out"
head -c 65536 /dev/zero >"$tmp/zeros"
out=$("$PTCTL" vm run t1 --kernel "$tmp/zeros" 2>&1)
rc=$?
[ "$rc" = 2 ] && echo "$out" | grep -q "not a bzImage" || fail "zeros as kernel: exit $rc: $out"
# initrd placement: the command line sees it fit; too small a guest does not
head -c 100000 /dev/urandom >"$tmp/initrd"
expect_run 0 '^p initrd$' t1 --cmdline "p initrd" --initrd "$tmp/initrd"
truncate -s 20000000 "$tmp/big-initrd"
out=$("$PTCTL" vm run t1 --kernel "$k" --memory 16M --initrd "$tmp/big-initrd" 2>&1)
rc=$?
[ "$rc" = 2 ] && echo "$out" | grep -q "do not fit" || fail "oversized initrd: exit $rc ($out)"

# Not regular files: a FIFO (opening it would block forever), a pipe, a device, a directory. Exit 2,
# the path named, at once; vm start leaves no VM behind holding the name.
mkfifo "$tmp/fifo"
for bad in "$tmp/fifo" /dev/null "$tmp"; do
	out=$(timeout 10 "$PTCTL" vm run t1 --kernel "$bad" --memory 64M </dev/null 2>&1)
	rc=$?
	[ "$rc" = 2 ] && echo "$out" | grep -q "t1: $bad: " || fail "--kernel $bad: exit $rc: $out"
	out=$(timeout 10 "$PTCTL" vm run t1 --kernel "$k" --initrd "$bad" --memory 64M </dev/null 2>&1)
	rc=$?
	[ "$rc" = 2 ] && echo "$out" | grep -q "t1: $bad: " || fail "--initrd $bad: exit $rc: $out"
	[ "$bad" = "$tmp" ] || echo "$out" | grep -q "not a regular file" || fail "--initrd $bad: $out"
done
out=$(timeout 10 "$PTCTL" vm run t1 --kernel "$k" --initrd <(echo x) --memory 64M </dev/null 2>&1)
[ $? = 2 ] && echo "$out" | grep -q "not a regular file" || fail "a pipe as initrd: $out"
out=$(timeout 10 "$PTCTL" vm start fifo --kernel "$tmp/fifo" --memory 64M </dev/null 2>&1)
rc=$?
[ "$rc" = 2 ] && echo "$out" | grep -q "not a regular file" || fail "vm start with a FIFO kernel: exit $rc: $out"
"$PTCTL" vm list | grep -q '^fifo' && fail "vm start with a FIFO kernel left a VM listed"
# A truncated bzImage (cut inside its payload) and one with no payload are refused before the VM runs.
head -c $((4096 + 0x200 + 4)) "$k" >"$tmp/truncated"
out=$(timeout 10 "$PTCTL" vm run t1 --kernel "$tmp/truncated" --memory 64M </dev/null 2>&1)
[ $? = 2 ] && echo "$out" | grep -q "truncated" || fail "a truncated bzImage: $out"
cp "$k" "$tmp/nopayload" && put "$tmp/nopayload" 0x24c 00000000
out=$(timeout 10 "$PTCTL" vm run t1 --kernel "$tmp/nopayload" --memory 64M </dev/null 2>&1)
[ $? = 2 ] && echo "$out" | grep -q "no kernel payload" || fail "a bzImage without a payload: $out"

# Background VM: start, list, a second start of the same name, console log, console, stop.
out=$("$PTCTL" vm start bg --kernel "$k" --memory 64M --cmdline "h in the background" 2>&1) || fail "vm start: $out"
pid=$(echo "$out" | sed -n 's/.*(pid \([0-9]*\)).*/\1/p')
[ -n "$pid" ] && echo "$pid" >>"$tmp/pids"
list=$("$PTCTL" vm list)
echo "$list" | grep -q '^bg  *running  *'"$pid" || fail "vm list does not show bg running: $list"
json=$("$PTCTL" vm list --json)
echo "$json" | grep -q '"memory": 67108864' || fail "vm list --json: $json"
out=$("$PTCTL" vm start bg --kernel "$k" --memory 64M 2>&1)
rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q "already running" || fail "second start of bg: exit $rc: $out"
for i in 1 2 3 4 5 6 7 8 9 10; do grep -q "in the background" "$PTCTL_ROOT/run/ptctl/vm/bg/console.log" && break; sleep 0.2; done
grep -q "^h in the background" "$PTCTL_ROOT/run/ptctl/vm/bg/console.log" || fail "console log: $(cat "$PTCTL_ROOT/run/ptctl/vm/bg/console.log")"
# vm show: the memory map (no devices on the bus but the host bridge), as JSON and as tables.
json=$("$PTCTL" --json vm show bg)
echo "$json" | grep -q '"gpa_start": *"0x0"' && echo "$json" | grep -q '"iommu_mapped": *false' &&
	echo "$json" | grep -q '"devices": *\[ *\]' || fail "vm show --json: $json"
out=$("$PTCTL" vm show bg)
echo "$out" | grep -q '^bg: pid '"$pid"', 1 vCPU' && echo "$out" | grep -q 'GPA-START' || fail "vm show: $out"
out=$("$PTCTL" vm show nosuch 2>&1)
[ $? = 1 ] && echo "$out" | grep -q "nosuch: not running" || fail "vm show of no VM: $out"
# An attached console stays until the VM ends; stop it from another process meanwhile.
(sleep 1; "$PTCTL" vm stop bg) &
out=$(timeout 20 "$PTCTL" vm console bg </dev/null 2>&1)
rc=$?
wait
[ "$rc" = 0 ] || fail "vm console: exit $rc: $out"
# vm stop returns when the VMM lets go of its lock; the process exits right after.
for i in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the VM process $pid survived vm stop"
# What the VMM says after the start (how the guest ended) goes to the console log, after the guest's lines.
grep -Eq '^bg: stopped.* \(exit status 5\)$' "$PTCTL_ROOT/run/ptctl/vm/bg/console.log" ||
	fail "the end of a background VM is not in its console log: $(cat "$PTCTL_ROOT/run/ptctl/vm/bg/console.log")"
"$PTCTL" vm list | grep -q '^bg' && fail "bg still listed after stop"
out=$("$PTCTL" vm stop bg 2>&1)
[ $? = 1 ] && echo "$out" | grep -q "not running" || fail "stop of a stopped VM: $out"

# vm start --json: the result as JSON (name, pid, console log), then stopped as usual.
json=$("$PTCTL" --json vm start bj --kernel "$k" --memory 64M --cmdline "h json" 2>&1) || fail "vm start --json: $json"
jpid=$(echo "$json" | python3 -c 'import json, sys; d = json.load(sys.stdin); assert d["name"] == "bj"; print(d["pid"])') ||
	fail "vm start --json: not the JSON record: $json"
[ -n "$jpid" ] && echo "$jpid" >>"$tmp/pids"
"$PTCTL" vm stop bj || fail "vm stop bj"

# --dry-run (vm run and vm start): the VM built and freed, the plan printed, nothing left behind. A NIC
# needs /dev/net/tun: missing from the root first, then there.
out=$("$PTCTL" --dry-run vm run dr --kernel "$k" --memory 64M --nic virtio 2>&1)
[ $? = 1 ] && grep -q '^ptctl: dr: --nic virtio: cannot open /dev/net/tun: No such file or directory (load the tun module)$' <<<"$out" ||
	fail "--dry-run vm run --nic with no /dev/net/tun: $out"
mkdir -p "$PTCTL_ROOT/dev/net" && ln -s /dev/net/tun "$PTCTL_ROOT/dev/net/tun"
out=$("$PTCTL" --dry-run vm run dr --kernel "$k" --memory 64M --cmdline "p dry" --nic virtio --nic e1000,tap=dr9 2>&1)
[ $? = 0 ] && grep -q '^result: *dry run: the VM was built and freed, nothing changed$' <<<"$out" &&
	grep -Eq '^ +e1000 +dr9$' <<<"$out" && grep -Eq '^backing: +[a-z]' <<<"$out" ||
	fail "--dry-run vm run: $out"
json=$("$PTCTL" --json --dry-run vm start dr --kernel "$k" --memory 64M --cpus 2 2>&1) || fail "--dry-run vm start --json: $json"
python3 -c 'import json, sys; d = json.load(sys.stdin); assert d["name"] == "dr" and d["cpus"] == 2 and d["memory"] == 64 << 20 and d["devices"] == [] and d["result"].startswith("dry run")' <<<"$json" ||
	fail "--dry-run vm start --json: not the plan: $json"
[ ! -e "$PTCTL_ROOT/run/ptctl/vm/dr" ] || fail "a dry run left $PTCTL_ROOT/run/ptctl/vm/dr"
ip link show dr9 >/dev/null 2>&1 && fail "a dry run made the tap dr9"
out=$("$PTCTL" --dry-run vm run dr --kernel "$tmp" --memory 64M 2>&1)
[ $? = 2 ] || fail "--dry-run vm run with a folder as the kernel: $out"
out=$("$PTCTL" --json vm run dr --kernel "$k" --memory 64M 2>&1)
[ $? = 2 ] && grep -q -- '--json goes with --dry-run' <<<"$out" || fail "vm run --json without --dry-run: $out"

# Foreground VM stopped from outside: exit status 5. The fake kernel's 'h' prints, then halts with
# interrupts off: a guest with no exit, which the stop names after 2 s of it.
"$PTCTL" vm run fg --kernel "$k" --memory 64M --cmdline "h foreground" </dev/null >"$tmp/fg.out" 2>&1 &
fgpid=$!
echo "$fgpid" >>"$tmp/pids"
for i in $(seq 50); do "$PTCTL" vm list | grep -q '^fg  *running' && break; sleep 0.1; done
sleep 2.5
"$PTCTL" vm stop fg || fail "vm stop fg"
wait "$fgpid"
rc=$?
[ "$rc" = 5 ] || fail "foreground VM after vm stop: exit $rc: $(cat "$tmp/fg.out")"
grep -Eq '^fg: stopped; vCPU 0 had made no exit for [0-9.]+ s: halted in the guest \([0-9.]+ of [0-9.]+ s on a CPU, rip=0x[0-9a-f]+\) \(exit status 5\)$' "$tmp/fg.out" ||
	fail "foreground VM stopped while halted: not named: $(cat "$tmp/fg.out")"

# assign / unassign: refusals that change nothing (the real hot-plug is proven in the rig: cases/hotplug.sh).
out=$("$PTCTL" assign 0000:ff:00.0 nosuch 2>&1)
[ $? = 1 ] && echo "$out" | grep -q "not running" || fail "assign to a VM that is not running: $out"
out=$("$PTCTL" assign zz nosuch 2>&1)
[ $? = 2 ] && echo "$out" | grep -q "not a PCI address" || fail "assign of a malformed address: $out"
out=$("$PTCTL" assign 0000:ff:00.0 ../x 2>&1)
[ $? = 2 ] && echo "$out" | grep -q "not a VM name" || fail "assign to a path as VM name: $out"
out=$("$PTCTL" unassign 0000:ff:00.0 nosuch --timeout 0 2>&1)
[ $? = 2 ] || fail "unassign --timeout 0: $out"
out=$("$PTCTL" vm start hp --kernel "$k" --memory 64M --cmdline "h hot-plug target" 2>&1) || fail "vm start hp: $out"
out=$("$PTCTL" --dry-run vm run hp --kernel "$k" --memory 64M 2>&1)
[ $? = 1 ] && grep -q "hp: a VM of that name is already running" <<<"$out" || fail "--dry-run of a running VM's name: $out"
out=$("$PTCTL" assign 0000:ff:00.0 hp --dry-run --json 2>&1)
[ $? = 0 ] && echo "$out" | grep -q '"plan"' || fail "assign --dry-run --json: $out"
out=$("$PTCTL" assign 0000:ff:00.0 hp 2>&1)
[ $? = 2 ] && echo "$out" | grep -q "no such PCI device" || fail "assign of a device that does not exist (exit 2, as bind): $out"
[ -z "$(ls "$PTCTL_ROOT/run/ptctl/assigned" 2>/dev/null)" ] || fail "a record was left: $(ls "$PTCTL_ROOT/run/ptctl/assigned")"
out=$("$PTCTL" unassign 0000:ff:00.0 hp 2>&1)
[ $? = 1 ] && echo "$out" | grep -q "not assigned to VM hp" || fail "unassign of a device the VM does not have: $out"
"$PTCTL" vm stop hp >/dev/null || fail "vm stop hp"

if [ "$fails" = 0 ]; then
	echo "test-vm-cli: all passed"
else
	echo "test-vm-cli: $fails failed"
	exit 1
fi
