#!/bin/bash
# A short run of stress/devices.sh (`make stress` runs all of it: 200 round trips over three devices
# and the kill tests of bind --group and release --group too): one bind/release round trip each over
# e1000e, edu and an igb VF, and ptctl SIGKILLed before every change of bind and release (e1000e) and
# of sriov create and destroy (igb), each followed by the documented recovery: nothing stranded,
# every record consistent with sysfs. Seen: 61 s of rig time (load 5), 143 s (load 15).
# Then one run of stress/guests.sh (`make stress`: 20): a pass-through guest that pings and runs iperf3
# over an igb VF, with traffic checked on both sides (about 40 s more).
# rig-timeout: 420
STRESS_ROUNDS=${STRESS_ROUNDS:-1} STRESS_KILL=${STRESS_KILL:-"e1000e sriov"} bash "$RIG_DIR/stress/devices.sh" || exit
STRESS_GUESTS=${STRESS_GUESTS:-1} exec bash "$RIG_DIR/stress/guests.sh"
