#!/bin/bash
# `ptctl vm run --nic`: the option's validation (exit 2, the reason named, nothing started), and on this
# machine's /dev/kvm an e1000 on a real tap in a private network namespace: a tap ptctl created is gone
# when the VM ends, one that existed before stays. The guest is a fake bzImage that powers off at once.
set -u
PTCTL=${PTCTL:-build/ptctl}
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export PTCTL_ROOT=$tmp/root
mkdir -p "$PTCTL_ROOT/dev/net" "$PTCTL_ROOT/proc"
cp /proc/meminfo "$PTCTL_ROOT/proc/meminfo"
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
put() { printf "$(echo "$3" | sed 's/../\\x&/g')" | dd of="$1" bs=1 seek=$(($2)) conv=notrunc status=none; }

# A bzImage header (protocol 2.15, 64-bit entry) and a payload that prints its command line and powers off
# through ACPI when the line starts with 'p' (the payload of tests/vm-runtime/test-vm-cli.sh).
k=$tmp/fake-bzImage
head -c $((4096 + 0x200)) /dev/zero >"$k"
put "$k" 0x1f1 07; put "$k" 0x1fe 55aa; put "$k" 0x200 eb66; put "$k" 0x202 48647253; put "$k" 0x206 0f02
put "$k" 0x211 01; put "$k" 0x22c ffffff7f; put "$k" 0x230 00002000; put "$k" 0x234 01; put "$k" 0x236 0100
put "$k" 0x238 ff070000; put "$k" 0x258 0000000100000000; put "$k" 0x260 00001000
payload=8bb6280200004889f731c9803c0f007404ffc1ebf666baf8038a1ef36eb00aee80fb70750a66ba040666b8003466ef80fb72750766ba6400b0feeef4ebfd
printf "$(echo "$payload" | sed 's/../\\x&/g')" >>"$k"
# syssize and the payload's place (offset 0x200, its length): the loader checks them against the file.
plen=$((${#payload} / 2))
put "$k" 0x1f4 "$(printf '%02x%02x0000' $(((0x200 + plen + 15) / 16 % 256)) $(((0x200 + plen + 15) / 16 / 256)))"
put "$k" 0x248 00020000; put "$k" 0x24c "$(printf '%02x000000' "$plen")"

# expect_usage PATTERN NIC-SPEC: refused with exit 2 and a message matching PATTERN
expect_usage() {
	local out rc
	out=$("$PTCTL" vm run t1 --kernel "$k" --memory 64M --nic "$2" </dev/null 2>&1)
	rc=$?
	[ "$rc" = 2 ] || fail "--nic '$2': exit $rc, wanted 2 ($out)"
	echo "$out" | grep -q -- "$1" || fail "--nic '$2': message lacks '$1': $out"
}
expect_usage "unknown NIC model" e1001
expect_usage "no NIC model" ""
expect_usage "not an interface name" "e1000,tap=bad/name"
expect_usage "not an interface name" "e1000,tap=0123456789abcdef"
expect_usage "not a MAC address" "e1000,mac=02:00:00:00:01"
expect_usage "unicast" "e1000,mac=03:00:00:00:00:01"
expect_usage "unknown NIC option" "e1000,model=x"
out=$("$PTCTL" vm run t1 --kernel "$k" --nic e1000,tap=same --nic virtio,tap=same 2>&1)
rc=$?
[ "$rc" = 2 ] && echo "$out" | grep -q "already another NIC's" || fail "one tap for two NICs: exit $rc: $out"
out=$("$PTCTL" vm run t1 --kernel "$k" $(for i in 1 2 3 4 5 6 7 8 9; do echo --nic e1000; done) 2>&1)
rc=$?
[ "$rc" = 2 ] && echo "$out" | grep -q "at most 8" || fail "nine NICs: exit $rc: $out"

# The VM part needs KVM and a private network namespace: without them, a skip (77) naming what is missing.
need=0
if ! [ -c /dev/kvm ] || ! [ -w /dev/kvm ]; then echo "SKIP(kvm): no usable /dev/kvm: the VM part did not run"; need=1; fi
if ! [ -c /dev/net/tun ] || ! unshare -n true 2>/dev/null; then
	echo "SKIP(netns): no /dev/net/tun or no private network namespace (needs root): the VM part did not run"
	need=1
fi
if [ "$need" = 1 ]; then
	[ "$fails" = 0 ] || exit 1
	exit 77
fi
ln -s /dev/kvm "$PTCTL_ROOT/dev/kvm"
ln -s /dev/net/tun "$PTCTL_ROOT/dev/net/tun"
# In a private network namespace: the tap ptctl creates, then one that was there before.
unshare -n bash -s "$PTCTL" "$k" >"$tmp/ns.log" 2>&1 <<'NS'
PTCTL=$1 k=$2
out=$(timeout 60 "$PTCTL" vm run t1 --kernel "$k" --memory 64M --cmdline "p up" --nic e1000,tap=e1k0,mac=02:00:00:00:00:07 </dev/null 2>&1)
rc=$?
[ "$rc" = 0 ] && [ "$out" = "p up" ] || echo "FAIL: e1000 on a new tap: exit $rc: $out"
ip link show e1k0 >/dev/null 2>&1 && echo "FAIL: the tap ptctl created outlived the VM"
ip tuntap add dev keep0 mode tap || echo "FAIL: cannot create a tap to attach to"
out=$(timeout 60 "$PTCTL" vm run t1 --kernel "$k" --memory 64M --cmdline "p again" --nic e1000,tap=keep0 --nic e1000 </dev/null 2>&1)
rc=$?
[ "$rc" = 0 ] && [ "$out" = "p again" ] || echo "FAIL: e1000 on an existing tap: exit $rc: $out"
ip link show keep0 >/dev/null 2>&1 || echo "FAIL: the tap that existed before went away"
[ -z "$(ip -o link show type tun 2>/dev/null | grep -v keep0)" ] || echo "FAIL: a generated tap outlived the VM: $(ip -o link show)"
echo done
NS
grep -q '^done$' "$tmp/ns.log" || fail "the namespace part did not finish: $(cat "$tmp/ns.log")"
grep '^FAIL' "$tmp/ns.log" && fails=$((fails + 1))
[ "$fails" = 0 ] && echo "test-nic-cli: ok"
[ "$fails" = 0 ]
