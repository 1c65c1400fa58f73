#!/bin/bash
# Nested KVM works in the test host: QEMU with accel=kvm boots the nested guest (L2) to its init and
# runs tests/vm/l2.d/hello there. The pattern every nested-guest case follows.
# rig-timeout: 240
. /rig/lib.sh

[ -c /dev/kvm ] || fail "/dev/kvm missing in the test host"
t0=$SECONDS
rig_l2 hello || fail "nested guest: exit $?"
grep -q '^l2: .* vCPU' "$l2_log" || fail "the hello script's report is missing"
echo "nested guest booted and finished in $((SECONDS - t0)) s"
