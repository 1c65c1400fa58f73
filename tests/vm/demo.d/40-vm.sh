#!/bin/bash
# 40-vm.sh: the demo's VM stop: ptctl boots the Debian kernel in a KVM VM of its own (no firmware,
# no QEMU), in the background; list, a command typed on its serial console, stop.
# Sourced by tests/vm/demo.sh (which provides say, tour, step); runs on its own in the test host too.
if ! declare -F tour >/dev/null; then
	. /rig/lib.sh
	say() { printf '\n# %s\n' "$*"; }
	tour() { step ptctl "$@"; }
fi

rig_l2_initrd
say "ptctl runs small KVM virtual machines of its own: guest RAM from memfd, one thread per vCPU, the"
say "kernel entered directly in 64-bit mode, ACPI tables, a serial console and a PCI bus for devices."
say "Start one in the background with the test host's guest kernel and a tiny initramfs (a shell):"
tour vm start demo --kernel "$RIG_GUEST_KERNEL" --initrd "$RIG_GUEST_INITRD" --memory 256M --cpus 2 \
	--cmdline "console=ttyS0 quiet l2=shell"
tour vm list
log=/run/ptctl/vm/demo/console.log
if [ -f "$log" ]; then
	say "It boots (nested KVM under emulation: this takes a while); its console goes to $log."
	wait_for 300 grep -q RIG-L2-UP "$log" || say "(the guest did not come up in time)"
	step tail -n 3 "$log"
	say "Type a command on its serial console (ptctl vm console relays the terminal); then stop it:"
	(sleep 15; ptctl vm stop demo) &
	printf 'echo "the guest sees $(grep -c ^processor /proc/cpuinfo) vCPUs and $(sed -n "s/MemTotal: *//p" /proc/meminfo)"\n' |
		step ptctl vm console demo
	wait
	tour vm list
fi
