#!/bin/bash
# Benchmark (`make bench`): in one test host boot, side by side, (1) time-to-DMA-ready: ptctl's VFIO set-up +
# allocate + prefault + MAP_DMA of guest RAM (`ptctl bench dma`) against what `-device vfio-pci` adds to
# QEMU's start-up (QEMU started paused and quit, with and without the device), for 256 MiB and 1 GiB;
# (2) boot to the first userspace line (RIG-L2-INIT) of the same kernel and initramfs, ptctl vm run against
# QEMU accel=kvm. BENCH_ROUNDS rounds each (default 3), medians and ratios, the load average around them.
# BENCH_BEFORE=1 (default) also runs ptctl with the old default backing (a 4K memfd) for comparison.
# BENCH_DMA=0 leaves out part (1), BENCH_BOOT=0 part (2).
# Prints figures; asserts only that every run produced one.
# rig-timeout: 2400
. /rig/lib.sh

rounds=${BENCH_ROUNDS:-3}
before=${BENCH_BEFORE:-1}
kernel=/rig/guest/vmlinux
cmdline="console=ttyS0 quiet panic=-1 l2=hello"
rig_l2_initrd || fail "cannot assemble the nested guest's initramfs"

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ a[NR] = $1 } END { if (!NR) print "?"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "?") printf "%.2f", a / b; else print "?" }'; }

echo "bench: load average at start: $(loadavg); test host $(grep -c ^processor /proc/cpuinfo) CPUs, $(sed -n 's/MemTotal: *//p' /proc/meminfo)"
echo "bench: THP $(cat /sys/kernel/mm/transparent_hugepage/enabled); shmem THP $(cat /sys/kernel/mm/transparent_hugepage/shmem_enabled)"

restore() { [ "$(driver_of "$RIG_EDU")" = vfio-pci ] && ptctl release "$RIG_EDU" >/dev/null 2>&1; }
trap restore EXIT
ptctl bind "$RIG_EDU" >/dev/null || fail "cannot bind edu to vfio-pci"

# qemu_start DEVICE-ARGS...: seconds for QEMU to start paused (machine built, RAM mapped for DMA when a
# vfio-pci device is there) and quit from its monitor.
qemu_start() {
	local t0=$EPOCHREALTIME
	echo quit | timeout 300 qemu-system-x86_64 -machine q35,accel=kvm -cpu qemu64 -m "$mib" -nodefaults \
		-display none -S -monitor stdio "$@" >/tmp/bench-qemu.log 2>&1 || { cat /tmp/bench-qemu.log; return 1; }
	elapsed "$t0" "$EPOCHREALTIME"
}

# dma_row MIB: rounds of ptctl bench dma (ready = vfio set-up + allocate + prefault + map) and of QEMU
# with and without vfio-pci, alternating.
dma_row() {
	local mib=$1 p q n v j parts pb=() pq=() pold=() desc=""
	for ((i = 1; i <= rounds; i++)); do
		j=$(ptctl bench dma --json --device "$RIG_EDU" --size "${mib}M") || fail "ptctl bench dma ${mib}M failed"
		p=$(jq -r '(.vfio_setup_ms + .ready_ms) / 1000' <<<"$j" | xargs printf '%.3f')
		parts=$(jq -r '"set-up \(.vfio_setup_ms | round) ms, allocate \(.alloc_ms | round), prefault \(.prefault_ms | round) (\(.threads) threads), MAP_DMA \(.map_ms | round); a cold MAP_DMA alone \(.cold_map_ms | round) ms"' <<<"$j")
		desc=$(jq -r '"\(.backing) \(.page) pages (\(.why)); \(.entries) MAP_DMA; IOMMU pages \(.iommu_pages // {} | to_entries | map("\(.value)x\(.key)") | join(" "))"' <<<"$j")
		if [ "$before" = 1 ]; then
			j=$(ptctl bench dma --json --device "$RIG_EDU" --size "${mib}M" --backing memfd) ||
				fail "ptctl bench dma ${mib}M --backing memfd failed"
			pold+=("$(jq -r '(.vfio_setup_ms + .ready_ms) / 1000' <<<"$j" | xargs printf '%.3f')")
		fi
		n=$(qemu_start) || fail "QEMU without vfio-pci failed"
		v=$(qemu_start -device "vfio-pci,host=$RIG_EDU") || fail "QEMU with vfio-pci failed"
		q=$(awk -v a="$v" -v b="$n" 'BEGIN { printf "%.3f", a - b }')
		pb+=("$p")
		pq+=("$q")
		echo "bench:   ${mib}M round $i: ptctl $p s${pold:+ (4K memfd ${pold[-1]} s)}; QEMU $n s without vfio-pci, $v s with: +$q s; load $(loadavg)"
		echo "bench:     ptctl: $parts"
	done
	p=$(echo "${pb[*]}" | median)
	q=$(echo "${pq[*]}" | median)
	echo "bench: DMA-ready ${mib}M: ptctl ${pb[*]} s (median $p) | QEMU's extra start-up with vfio-pci ${pq[*]} s (median $q) | ratio ptctl/QEMU $(ratio "$p" "$q")"
	echo "bench:   ptctl got: $desc"
	[ "$before" = 1 ] && echo "bench:   old default (4K memfd): ${pold[*]} s (median $(echo "${pold[*]}" | median)), ratio to QEMU $(ratio "$(echo "${pold[*]}" | median)" "$q")"
	expect_match "$p" '^[0-9.]+$' "ptctl ready time"
}

if [ "${BENCH_DMA:-1}" = 1 ]; then
echo "bench: time-to-DMA-ready (edu behind VT-d; $rounds rounds each)"
dma_row 256
avail=$(sed -n 's/MemAvailable: *\([0-9]*\) kB/\1/p' /proc/meminfo)
if [ "$avail" -ge $((1400 * 1024)) ]; then
	dma_row 1024
else
	echo "bench: DMA-ready 1024M: skipped, only $((avail / 1024)) MiB available in the test host"
fi
# How ptctl's DMA-ready time grows with size (one round per size; the verb fits a line and says if it is not one).
sizes=64M,256M
[ "$avail" -ge $((1400 * 1024)) ] && sizes=$sizes,1G
echo "bench: sweep $sizes (load $(loadavg))"
ptctl bench dma --device "$RIG_EDU" --sizes "$sizes" | sed 's/^/bench:   /' || fail "ptctl bench dma --sizes failed"
restore
fi

# boot_once LABEL CMD...: seconds from start to the guest's first userspace line; the VMM is stopped there.
boot_once() {
	local label=$1 t0 pid log=/tmp/bench-boot.log
	shift
	: >"$log"
	t0=$EPOCHREALTIME
	"$@" </dev/null >"$log" 2>&1 &
	pid=$!
	boot_s=
	for ((k = 0; k < 6000; k++)); do
		if grep -q 'RIG-L2-INIT' "$log"; then
			boot_s=$(elapsed "$t0" "$EPOCHREALTIME")
			break
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	[ -n "$boot_s" ] || { tail -n 20 "$log"; fail "$label never reached its first userspace line"; }
}

if [ "${BENCH_BOOT:-1}" = 1 ]; then
echo "bench: boot to the first userspace line (vmlinux $(stat -c %s "$kernel") bytes, initramfs $(stat -c %s "$RIG_GUEST_INITRD") bytes, 1 vCPU, 256M; $rounds rounds each)"
bp=() bq=() bo=()
for ((i = 1; i <= rounds; i++)); do
	boot_once "ptctl vm run" ptctl vm run bench$i --kernel "$kernel" --initrd "$RIG_GUEST_INITRD" --memory 256M --cpus 1 --cmdline "$cmdline"
	bp+=("$boot_s")
	if [ "$before" = 1 ]; then
		boot_once "ptctl vm run --backing memfd" ptctl vm run benchm$i --kernel "$kernel" --initrd "$RIG_GUEST_INITRD" --memory 256M --cpus 1 --backing memfd --cmdline "$cmdline"
		bo+=("$boot_s")
	fi
	boot_once "QEMU" qemu-system-x86_64 -machine q35,accel=kvm -cpu qemu64 -smp 1 -m 256 -nodefaults -display none \
		-no-reboot -serial stdio -kernel "$kernel" -initrd "$RIG_GUEST_INITRD" -append "$cmdline"
	bq+=("$boot_s")
	echo "bench:   round $i: ptctl ${bp[-1]} s${bo:+ (4K memfd ${bo[-1]} s)}; QEMU ${bq[-1]} s; load $(loadavg)"
done
p=$(echo "${bp[*]}" | median)
q=$(echo "${bq[*]}" | median)
echo "bench: boot: ptctl ${bp[*]} s (median $p) | QEMU ${bq[*]} s (median $q) | ratio ptctl/QEMU $(ratio "$p" "$q")"
[ "$before" = 1 ] && echo "bench:   ptctl with a 4K memfd: ${bo[*]} s (median $(echo "${bo[*]}" | median)), ratio to QEMU $(ratio "$(echo "${bo[*]}" | median)" "$q")"

# Where the guest's boot time goes now: kernel messages after a pause (one more ptctl boot).
if [ "${BENCH_DMESG:-1}" = 1 ]; then
	timeout 600 ptctl -v vm run benchd --kernel "$kernel" --initrd "$RIG_GUEST_INITRD" --memory 256M --cpus 1 \
		--cmdline "console=ttyS0 quiet panic=-1 l2=vm-report" </dev/null 2>&1 | tr -d '\r' |
		grep -E '^vm-report: [+c]|guest RAM:|loaded in|^debug vm.c.*ran ' | sed 's/^/bench: /'
fi
fi
echo "bench: load average at end: $(loadavg)"
