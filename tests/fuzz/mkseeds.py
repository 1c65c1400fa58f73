#!/usr/bin/env python3
"""tests/fuzz/mkseeds.py: writes the hand-made seed inputs of tests/fuzz/corpus/ (the files are in the
tree; this script says how they were made and remakes them: python3 tests/fuzz/mkseeds.py). Seeds are
small valid inputs of each format, so the fuzzer starts past the first checks."""
import os, struct

top = os.path.dirname(os.path.abspath(__file__))

def put(target, name, data):
    d = os.path.join(top, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)

# --- vfio-caps: first byte selects the parser (0 walker: then fixed size, first offset) ---
def cap(cid, ver, nxt, body):
    return struct.pack('<HHI', cid, ver, nxt) + body

# VFIO_IOMMU_GET_INFO: argsz, flags (CAPS=2 | PGSIZES=1), iova_pgsizes, cap_offset, pad
iova = cap(1, 1, 0x48, struct.pack('<II', 2, 0) + struct.pack('<QQ', 0, 0xfedfffff) + struct.pack('<QQ', 0xfef00000, 2**64 - 1))
avail = cap(3, 1, 0, struct.pack('<II', 65535, 0))
info = struct.pack('<IIQII', 0, 3, 0x40201000, 0x18, 0)
buf = info + iova
buf += b'\0' * (0x48 - len(buf)) + avail
buf = struct.pack('<I', len(buf)) + buf[4:]
put('vfio-caps', 'iommu-info', bytes([1]) + buf)
put('vfio-caps', 'walk-iommu-info', bytes([0, 24]) + struct.pack('<H', 0x18) + buf)
# VFIO_DEVICE_GET_REGION_INFO with a sparse mmap cap (2 areas) and a type cap
sparse = cap(1, 1, 0x50, struct.pack('<II', 2, 0) + struct.pack('<QQQQ', 0, 0x2000, 0x3000, 0x1000))
rtype = cap(2, 1, 0, struct.pack('<II', 1, 1))
reg = struct.pack('<IIIIQQ', 0, 0xf, 0, 0x20, 0x4000, 0)
rbuf = reg + sparse
rbuf += b'\0' * (0x50 - len(rbuf)) + rtype
rbuf = struct.pack('<I', len(rbuf)) + rbuf[4:]
put('vfio-caps', 'region-info', bytes([2]) + rbuf)
# VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: argsz, flags, count, then {group_id, segment, bus, devfn}
hr = struct.pack('<III', 12 + 2 * 8, 0, 2) + struct.pack('<IHBB', 7, 0, 3, 0x0a) + struct.pack('<IHBB', 8, 0, 3, 0x0b)
put('vfio-caps', 'hot-reset-info', bytes([3]) + hr)

# --- bzimage / boot: a minimal 64-bit bzImage (protocol 2.15), setup 4 sectors, a small payload ---
def bzimage(kernel_len=0x1000, version=0x020f):
    b = bytearray(0x1000)
    b[0x1f1] = 3                                   # setup_sects: 4 sectors with the boot sector
    struct.pack_into('<I', b, 0x1f4, (0x1000 - 0x800 + kernel_len + 15) // 16)   # syssize (the file past setup)
    struct.pack_into('<H', b, 0x1fe, 0xaa55)
    b[0x200], b[0x201] = 0xeb, 0x66
    b[0x202:0x206] = b'HdrS'
    struct.pack_into('<H', b, 0x206, version)
    b[0x211] = 0x01                                # LOADED_HIGH
    struct.pack_into('<I', b, 0x22c, 0x7fffffff)
    struct.pack_into('<I', b, 0x230, 0x200000)
    b[0x234] = 1
    struct.pack_into('<H', b, 0x236, 0x1)          # XLF_KERNEL_64
    struct.pack_into('<I', b, 0x238, 2047)
    struct.pack_into('<I', b, 0x248, 0x100)        # payload offset/length inside the protected-mode part
    struct.pack_into('<I', b, 0x24c, 0x200)
    struct.pack_into('<Q', b, 0x258, 0x1000000)
    struct.pack_into('<I', b, 0x260, 0x400000)
    return bytes(b) + b'\xf4' * kernel_len        # hlt
for t in ('bzimage', 'boot'):
    put(t, 'bzimage-2.15', bzimage())
    put(t, 'bzimage-2.12-big-init', bzimage(0x3000, 0x020c)[:0x260] + struct.pack('<I', 0x3000000) + bzimage(0x3000, 0x020c)[0x264:])

# a vmlinux: ELF64 x86-64 ET_EXEC with two PT_LOAD segments (text, then data + bss) at 16 MiB
def vmlinux():
    eh = struct.pack('<16sHHIQQQIHHHHHH', b'\x7fELF\x02\x01\x01' + b'\0' * 9, 2, 62, 1, 0x1000200, 64, 0, 0,
                     64, 56, 2, 64, 0, 0)
    ph1 = struct.pack('<IIQQQQQQ', 1, 5, 0x1000, 0x1000000, 0x1000000, 0x1000, 0x1000, 0x1000)
    ph2 = struct.pack('<IIQQQQQQ', 1, 6, 0x2000, 0x1001000, 0x1001000, 0x800, 0x3000, 0x1000)
    b = bytearray(eh + ph1 + ph2)
    b += b'\0' * (0x1000 - len(b)) + b'\xf4' * 0x1000 + b'\x11' * 0x800
    return bytes(b)
put('boot', 'vmlinux', vmlinux())
put('boot', 'vmlinux-with-initrd', vmlinux() + b'initrd' * 0x200 + b'\x01')

# --- pci-config: flags byte, then accesses: kind, addr (4), length code, data (4) ---
def op(kind, addr, lc, data):
    return struct.pack('<BIBI', kind, addr, lc, data)
CW, CR, EW, ER, MW, MR, PW, PR = range(8)
def conf1(dev, reg):
    return 0x80000000 | dev << 11 | reg
dev = 2  # where vm_pci_add puts the first device after the host bridge is found by the guest anyway
seq = b''
for d in range(0, 4):
    seq += op(CR, conf1(d, 0), 2, 0)                     # vendor/device of slots 0-3
# size BAR0 of every slot, then program it and enable memory + bus master
for d in range(0, 4):
    seq += op(CW, conf1(d, 0x10), 2, 0xffffffff) + op(CR, conf1(d, 0x10), 2, 0)
    seq += op(CW, conf1(d, 0x10), 2, 0xc0000000) + op(CW, conf1(d, 0x04), 1, 0x0006)
# walk the capability list of slot 1 through ECAM, enable MSI-X (bit 15 of its message control)
seq += op(ER, 1 << 15 | 0x34, 0, 0) + op(ER, 1 << 15 | 0x70, 2, 0) + op(EW, 1 << 15 | 0x72, 1, 0x8000)
# BAR3 (64-bit) of slot 1 at 0xc0100000, MSI-X table there: address/data/unmask of vector 0
seq += op(EW, 1 << 15 | 0x1c, 2, 0xc0100000) + op(EW, 1 << 15 | 0x20, 2, 0) + op(EW, 1 << 15 | 0x04, 1, 0x0006)
seq += op(MW, 0xc0100000, 2, 0xfee00000) + op(MW, 0xc0100004, 2, 0) + op(MW, 0xc0100008, 2, 0x31) + op(MW, 0xc010000c, 2, 0)
seq += op(MR, 0xc0102000, 2, 0)                                       # PBA
seq += op(ER, 1 << 15 | 0x100, 2, 0) + op(ER, 1 << 15 | 0x140, 2, 0)  # extended capabilities
put('pci-config', 'enumerate-and-msix', bytes([0]) + seq)
hostile = bytearray(256)
struct.pack_into('<HHHH', hostile, 0, 0x8086, 0x10ca, 0, 0x0010)
hostile[0x34] = 0x40
hostile[0x40], hostile[0x41] = 0x11, 0x40                           # MSI-X pointing at itself: a loop
struct.pack_into('<H', hostile, 0x42, 0x07ff)                       # 2048 vectors
put('pci-config', 'hostile-loop', bytes([1]) + bytes(hostile) + seq)
put('pci-config', 'io-ports', bytes([0]) + op(PR, 0xcf8, 2, 0) + op(PW, 0x3f8, 0, 0x41) + op(PR, 0x3fd, 0, 0)
    + op(PW, 0xcf9, 0, 0x06) + op(PR, 0xcfe, 1, 0))

# --- virtqueue: size code, features, guest RAM with the rings at 0 / 16*num / after avail ---
def virtq_ram(num, chains, indirect_table=None, event_idx=False):
    desc_sz = 16 * num
    avail = desc_sz
    used = (avail + 6 + 2 * num + 3) & ~3
    ram = bytearray(used + 6 + 8 * num + 0x2000)
    buf = len(ram) - 0x1800                      # data buffers live after the rings
    d = 0
    heads = []
    for segs in chains:                            # segs: list of (len, writable)
        heads.append(d)
        for i, (ln, wr) in enumerate(segs):
            nxt = d + 1 if i + 1 < len(segs) else 0
            flags = (1 if i + 1 < len(segs) else 0) | (2 if wr else 0)
            struct.pack_into('<QIHH', ram, 16 * d, buf, ln, flags, nxt)
            buf += ln
            d += 1
    if indirect_table:
        heads.append(d)
        tbl = buf
        for i, (ln, wr) in enumerate(indirect_table):
            nxt = i + 1 if i + 1 < len(indirect_table) else 0
            flags = (1 if i + 1 < len(indirect_table) else 0) | (2 if wr else 0)
            struct.pack_into('<QIHH', ram, tbl + 16 * i, tbl + 0x100 + 0x40 * i, ln, flags, nxt)
        struct.pack_into('<QIHH', ram, 16 * d, tbl, 16 * len(indirect_table), 4, 0)
        d += 1
    struct.pack_into('<HH', ram, avail, 0, len(heads))
    for i, h in enumerate(heads):
        struct.pack_into('<H', ram, avail + 4 + 2 * i, h)
    return bytes(ram)
put('virtqueue', 'tx-rx-chains', bytes([2, 0]) + virtq_ram(4, [[(64, False), (1500, True)], [(32, False)]]))
put('virtqueue', 'indirect-event-idx', bytes([3, 3]) + virtq_ram(8, [[(16, False)]], [(12, False), (64, True), (64, True)]))

# --- virtio-pci: 32 KiB of guest RAM at GPA 0x100000, then ops: kind, offset (2), length code, value (4) ---
# kinds: 0/1 common cfg write/read, 2/3 BAR 0 write/read, 4/5 config space write/read, 6 notify queue
VP_RAM = 0x100000
def vp_op(kind, off, size, val=0):
    return struct.pack('<BHBI', kind, off, {1: 0, 2: 1, 4: 2, 8: 3}[size], val & 0xffffffff)
def vp_common(off, size, val):
    return vp_op(0, off, size, val)
def vp_queue(q, num, base, vector):
    o = vp_common(0x16, 2, q) + vp_common(0x18, 2, num)
    for reg, addr in ((0x20, base), (0x28, base + 0x1000), (0x30, base + 0x2000)):
        o += vp_common(reg, 4, addr) + vp_common(reg + 4, 4, 0)
    return o + vp_common(0x1a, 2, vector) + vp_common(0x1c, 2, 1)
def vp_bringup(features_lo=1 << 5):
    o = vp_op(4, 0x04, 2, 6)                                  # memory decoding, bus master
    o += vp_common(0x14, 1, 0) + vp_common(0x14, 1, 1) + vp_common(0x14, 1, 3)
    o += vp_common(0x00, 4, 0) + vp_op(1, 0x04, 4) + vp_common(0x00, 4, 1) + vp_op(1, 0x04, 4)
    o += vp_common(0x08, 4, 0) + vp_common(0x0c, 4, features_lo) + vp_common(0x08, 4, 1) + vp_common(0x0c, 4, 1)
    o += vp_common(0x14, 1, 11) + vp_op(1, 0x14, 1)          # FEATURES_OK, read back
    o += vp_common(0x10, 2, 0) + vp_queue(0, 16, VP_RAM, 1) + vp_queue(1, 16, VP_RAM + 0x4000, 2)
    for i in range(3):                                        # MSI-X table entries
        o += b''.join(vp_op(2, 0x3000 + 16 * i + 4 * k, 4, v) for k, v in enumerate((0xfee00000, 0, 0x40 + i, 0)))
    return o + vp_common(0x14, 1, 15)                         # DRIVER_OK
def vp_ram(rx_bufs, tx_chains, indirect=None):
    ram = bytearray(0x8000)
    for i in range(rx_bufs):                                  # RX: device-writable buffers in RAM at 2 MiB
        struct.pack_into('<QIHH', ram, 16 * i, 0x200000 + 2048 * i, 2048, 2, 0)
        struct.pack_into('<H', ram, 0x1000 + 4 + 2 * i, i)
    struct.pack_into('<HH', ram, 0x1000, 0, rx_bufs)
    d = 0
    for c, chain in enumerate(tx_chains):                     # TX: chains of (gpa, len, flags, next)
        struct.pack_into('<H', ram, 0x5000 + 4 + 2 * c, d)
        for (a, n, f, nx) in chain:
            struct.pack_into('<QIHH', ram, 0x4000 + 16 * d, a, n, f, nx)
            d += 1
    struct.pack_into('<HH', ram, 0x5000, 0, len(tx_chains))
    frame = bytes(12) + bytes([0xff] * 6) + bytes([2, 0, 0, 0, 0, 1]) + b'\x08\x06' + bytes(46)
    ram[0x7000:0x7000 + len(frame)] = frame
    if indirect:
        for i, (a, n, f, nx) in enumerate(indirect):
            struct.pack_into('<QIHH', ram, 0x7800 + 16 * i, a, n, f, nx)
    return bytes(ram)
notify = lambda q: vp_op(6, q, 2)
put('virtio-pci', 'bringup-tx-rx', vp_ram(4, [[(VP_RAM + 0x7000, 72, 0, 0)], [(VP_RAM + 0x7000, 12, 1, 2), (VP_RAM + 0x700c, 60, 0, 0)]])
    + vp_bringup() + notify(0) + notify(1) + vp_op(3, 0x800, 1) + vp_op(3, 0x3800, 8))
# a descriptor loop, a chain past RAM, an indirect table with a loop of its own, then a reset under way
put('virtio-pci', 'hostile-chains', vp_ram(2, [[(VP_RAM + 0x7000, 12, 1, 0)], [(0xfffffffff000, 0x10000, 0, 0)],
                                               [(VP_RAM + 0x7800, 48, 4, 0)]],
                                           indirect=[(VP_RAM + 0x7000, 12, 1, 1), (VP_RAM + 0x700c, 60, 1, 0), (0, 0, 0, 0)])
    + vp_bringup(features_lo=1 << 5 | 1 << 28) + notify(1) + vp_common(0x14, 1, 0) + notify(1) + vp_bringup() + notify(1))
# the guest moves BAR 0, turns decoding off and on, sizes it, and writes the device config
put('virtio-pci', 'bar-moves', vp_ram(0, []) + vp_bringup() + vp_op(4, 0x10, 4, 0xffffffff) + vp_op(5, 0x10, 4)
    + vp_op(4, 0x10, 4, 0xc0004000) + vp_op(4, 0x04, 2, 0) + vp_op(3, 0x1000, 4) + vp_op(4, 0x04, 2, 6)
    + vp_op(2, 0x1000, 4, 0x12345678) + vp_op(1, 0x12, 2) + notify(7))
# the MSI-X table and PBA at and past their ends: one entry past the table, a read straddling its end, PBA
# beyond its 8 bytes
put('virtio-pci', 'msix-edges', vp_ram(0, []) + vp_bringup() + vp_op(2, 0x3030, 4, 0xfee00000) + vp_op(3, 0x303c, 4)
    + vp_op(3, 0x302c, 8) + vp_op(3, 0x3808, 8) + vp_op(2, 0x3800, 4, 0xffffffff))
