#!/bin/bash
# A short run of stress/devices.sh (`make stress` runs all of it: 200 round trips over three devices
# and the kill tests of bind --group and release --group too): one bind/release round trip each over
# e1000e, edu and an igb VF, and ptctl SIGKILLed before every change of bind and release (e1000e) and
# of sriov create and destroy (igb), each followed by the documented recovery: nothing stranded,
# every record consistent with sysfs. Seen: 61 s of rig time (load 5), 143 s (load 15).
# rig-timeout: 240
STRESS_ROUNDS=${STRESS_ROUNDS:-1} STRESS_KILL=${STRESS_KILL:-"e1000e sriov"} exec bash "$RIG_DIR/stress/devices.sh"
