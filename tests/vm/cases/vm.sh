#!/bin/bash
# ptctl's own VM runtime boots the Debian kernel in the test host (nested KVM), three times: 1 vCPU
# reporting what it saw then rebooting, 2 vCPUs on huge pages powering off, a panic; each with its own exit
# status, and the time from the command to RIG-L2-UP printed. The boot-time comparison with QEMU is
# make bench's (tests/vm/bench/guestmem.sh: alternating rounds, medians); make check's smoke of it is
# vm-assign.sh's ptctl/QEMU time to userspace.
# Three nested boots: about 20 s each on an idle machine, minutes under load.
# rig-timeout: 600
. /rig/lib.sh

[ -c /dev/kvm ] || fail "/dev/kvm missing in the test host"
rig_l2_initrd || fail "cannot assemble the nested guest's initramfs"
base="console=ttyS0 quiet panic=-1"

# vm_boot NAME CPUS SCRIPT [EXTRA CMDLINE]: ptctl vm run; console in $vm_log, status in $vm_rc and the
# seconds from start to RIG-L2-UP in $vm_up.
vm_boot() {
	local name=$1 cpus=$2 script=$3 extra=${4:-} t0 line
	vm_log=/tmp/vm-$name.log
	echo "\$ ptctl vm run $name --kernel $RIG_GUEST_KERNEL --initrd $RIG_GUEST_INITRD --memory 256M --cpus $cpus ${vm_hugepages:+$vm_hugepages }--cmdline '$base l2=$script $extra'"
	vm_up=
	t0=$EPOCHREALTIME
	{
		timeout 180 ptctl vm run "$name" --kernel "$RIG_GUEST_KERNEL" --initrd "$RIG_GUEST_INITRD" \
			--memory 256M --cpus "$cpus" ${vm_hugepages:-} --cmdline "$base l2=$script $extra" </dev/null 2>&1
		echo "VM-RC $?"
	} | tr -d '\r' | while IFS= read -r line; do
		if [[ $line == RIG-L2-UP* ]]; then
			echo "VM-UP $t0 $EPOCHREALTIME"
			h=/sys/kernel/mm/hugepages/hugepages-2048kB
			echo "VM-HP $(cat $h/nr_hugepages) $(cat $h/free_hugepages) $(cat $h/resv_hugepages)"
		fi
		echo "$line"
	done >"$vm_log"
	sed '/^VM-/d; s/^/vm| /' "$vm_log"
	vm_rc=$(sed -n 's/^VM-RC //p' "$vm_log")
	vm_up=$(awk '/^VM-UP/ { printf "%.2f", $3 - $2 }' "$vm_log")
	echo "$name: command -> RIG-L2-UP ${vm_up:-?} s"
}

# 1 vCPU: what the guest saw, then a reboot (reboot=k: through the i8042).
vm_boot one 1 vm-reboot reboot=k
report=$(grep '^vm-report: cpus' "$vm_log" | head -n1)
expect_eq "$vm_rc" 3 "exit status after the guest rebooted"
grep -q '^vm-reboot: rebooting' "$vm_log" || fail "the guest's script did not run to its reboot"
grep -q ': the guest rebooted: i8042 reset pulse (exit status 3)$' "$vm_log" || fail "ptctl did not name the i8042 as the reset"
expect_match "$report" 'cpus=1 online=0 ' "vCPUs the guest saw"
mem_kb=$(echo "$report" | sed -n 's/.*mem_kb=\([0-9]*\).*/\1/p')
# MemTotal is RAM minus what the kernel keeps for itself: 256 MiB = 262144 kB, a little less is seen.
[ "${mem_kb:-0}" -gt 200000 ] && [ "$mem_kb" -le 262144 ] || fail "memory the guest saw: ${mem_kb:-none} kB"
expect_match "$report" 'acpi=.*APIC.*DSDT.*FACP.*MCFG' "ACPI tables the guest found"
expect_match "$report" '0000:00:00.0=0x1b36:0x0008' "host bridge on the guest's PCI bus"
grep -q '^vm-report: irq .*IO-APIC.*ttyS0' "$vm_log" || fail "the serial console is not interrupt driven"
up_first=$vm_up

# 2 vCPUs on 2M huge pages: both online, then power-off through ACPI (l2-init's poweroff -f).
hp=/proc/sys/vm/nr_hugepages
hp_old=$(cat "$hp")
echo $((hp_old + 128)) >"$hp"
[ "$(cat "$hp")" -ge $((hp_old + 128)) ] || fail "the test host could not reserve 128 huge pages"
vm_hugepages="--hugepages 2m"
vm_boot two 2 vm-report
up_two=$vm_up
vm_hugepages=
read -r hp_nr hp_free hp_resv <<<"$(sed -n 's/^VM-HP //p' "$vm_log")"
echo "$hp_old" >"$hp"
# While it ran, its 128 pages were either in use or reserved for it.
[ $((${hp_nr:-0} - ${hp_free:-0} + ${hp_resv:-0})) -ge 128 ] ||
	fail "the VM did not take its RAM from the huge pages (nr ${hp_nr:-?} free ${hp_free:-?} reserved ${hp_resv:-?})"
expect_eq "$vm_rc" 0 "exit status after the guest powered off"
grep -q '^RIG-L2-EXIT 0' "$vm_log" || fail "the guest's script did not finish"
expect_match "$(grep '^vm-report: cpus' "$vm_log" | head -n1)" 'cpus=2 online=0-1 ' "vCPUs the guest saw"

# A panic (sysrq c) with panic=-1: the reset that follows is the panic's.
vm_boot pn 1 vm-panic
expect_eq "$vm_rc" 4 "exit status after the guest panicked"
grep -q 'Kernel panic - not syncing' "$vm_log" || fail "no panic message on the console"
# Successive nested boots in one test host drift by up to 2x either way (seen: 10.4, 14.9, 22.0 s).
echo "boot: command -> RIG-L2-UP under ptctl vm run: one ${up_first:-?} s, two ${up_two:-?} s, pn ${vm_up:-?} s"
exit 0
