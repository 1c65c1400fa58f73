# fake-bzimage.sh: a bzImage of a few hundred bytes for `ptctl vm run` on a real /dev/kvm, without
# Linux. Its 64-bit entry point prints the command line it finds through the zero page and then powers
# off (first letter p), resets through the i8042 (r) or halts with interrupts off (anything else).
# Sourced: defines put, payload (the entry point's code, hex) and fake_bzimage FILE.

# put FILE OFFSET HEXBYTES: write bytes at an offset
put() { printf "$(echo "$3" | sed 's/../\\x&/g')" | dd of="$1" bs=1 seek=$(($2)) conv=notrunc status=none; }

payload=8bb6280200004889f731c9803c0f007404ffc1ebf666baf8038a1ef36eb00aee80fb70750a66ba040666b8003466ef80fb72750766ba6400b0feeef4ebfd

# fake_bzimage FILE: 8 sectors of setup with a protocol 2.15 header, then 0x200 bytes before the
# 64-bit entry point (payload).
fake_bzimage() {
	local k=$1 plen=$((${#payload} / 2))
	head -c $((4096 + 0x200)) /dev/zero >"$k"
	put "$k" 0x1f1 07          # setup_sects
	put "$k" 0x1fe 55aa        # boot_flag
	put "$k" 0x200 eb66        # jump past the header (ends at 0x268)
	put "$k" 0x202 48647253    # "HdrS"
	put "$k" 0x206 0f02        # version 2.15
	put "$k" 0x211 01          # loadflags: LOADED_HIGH
	put "$k" 0x22c ffffff7f    # initrd_addr_max
	put "$k" 0x230 00002000    # kernel_alignment 2M
	put "$k" 0x234 01          # relocatable
	put "$k" 0x236 0100        # xloadflags: XLF_KERNEL_64
	put "$k" 0x238 ff070000    # cmdline_size
	put "$k" 0x258 0000000100000000 # pref_address 16M
	put "$k" 0x260 00001000    # init_size 1M
	printf "$(echo "$payload" | sed 's/../\\x&/g')" >>"$k"
	# syssize (16-byte units after the setup) and the payload's place: the loader checks them against the file.
	put "$k" 0x1f4 "$(printf '%02x%02x0000' $(((0x200 + plen + 15) / 16 % 256)) $(((0x200 + plen + 15) / 16 / 256)))"
	put "$k" 0x248 00020000    # payload_offset 0x200 (from the start of the protected-mode kernel)
	put "$k" 0x24c "$(printf '%02x000000' "$plen")"
}
