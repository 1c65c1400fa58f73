# Writes the seed corpus of tests/fuzz/fuzz-e1000.c (run from the top of the tree): legacy packets and a
# received frame, checksum and TSO contexts, the register paths (EEPROM bit-banging, MDIC, reset, BAR sizes).
import struct, os
RAM_BASE=0x10000; RAM=0x8000
out='tests/fuzz/corpus/e1000'
def ram():
    return bytearray(RAM)
def legacy(addr, ln, cmd): return struct.pack('<QHBBBBH', addr, ln, 0, cmd, 0, 0, 0)
def ctx(ipcss,ipcso,ipcse,tucss,tucso,tucse,paylen,tucmd,hdrlen,mss):
    return struct.pack('<BBHBBHI', ipcss,ipcso,ipcse,tucss,tucso,tucse,(paylen & 0xfffff)|(tucmd<<24)) + struct.pack('<BBH',0,hdrlen,mss)
def data(addr, ln, dcmd, popts): return struct.pack('<QI', addr, (ln & 0xfffff) | (1<<20) | ((dcmd|0x20)<<24)) + struct.pack('<BBH',0,popts,0)
def prog_setup(bsize, tdt, rdt): return bytes([7, bsize, tdt, rdt])
# frame: eth+ipv4+tcp at 0x2000
def frame(n):
    f = bytearray(b'\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00')
    ip = bytearray(20); ip[0]=0x45; ip[8]=64; ip[9]=6; ip[12:20]=bytes([198,18,0,1,198,18,0,2])
    tcp = bytearray(20); tcp[12]=0x50; tcp[13]=0x18
    return bytes(f+ip+tcp+bytes(i & 0xff for i in range(n)))
seeds = {}
# 1: legacy packets and a received frame
r = ram(); fr = frame(100); r[0x2000:0x2000+len(fr)] = fr
r[0:16] = legacy(RAM_BASE+0x2000, len(fr), 0x0b)
r[16:32] = legacy(RAM_BASE+0x2000, 40, 0x00); r[32:48] = legacy(RAM_BASE+0x2040, 60, 0x0f)
for i in range(64): r[0x1000+16*i:0x1000+16*i+8] = struct.pack('<Q', RAM_BASE+0x4000+0x100*(i%32))
seeds['legacy-rx'] = bytes(r) + prog_setup(3, 3, 60) + bytes([4]) + struct.pack('>HH', len(fr), 0x2000) + bytes([3])
# 2: checksum context + data, TSO context + data
r = ram(); fr = frame(3000); r[0x2000:0x2000+len(fr)] = fr
r[0:16] = ctx(14, 24, 33, 34, 50, 0, 0, 0x23, 0, 0)
r[16:32] = data(RAM_BASE+0x2000, 200, 0x0b, 0x02)
r[32:48] = ctx(14, 24, 33, 34, 50, 0, 3000, 0x27, 54, 1000)
r[48:64] = data(RAM_BASE+0x2000, 54, 0x04, 0x03)
r[64:80] = data(RAM_BASE+0x2000+54, 3000, 0x0d, 0x00)
seeds['csum-tso'] = bytes(r) + prog_setup(0, 5, 8) + bytes([3])
# 3: registers: EEPROM bit-banging, MDIC, interrupts
p = bytearray()
def w(reg_index, val): p.extend(bytes([0, reg_index]) + struct.pack('>I', val))
w(2, 0x40); w(2, 0x42); w(2, 0x46); w(2, 0x47); w(2, 0x46)   # EECD: REQ, CS, DI, SK
w(3, 0x0101); w(4, 0x08220000); w(4, 0x04240de1); w(7, 0x9f); w(6, 0x84); p.extend(bytes([2, 5]))
w(0, 0x04000000)  # CTRL.RST
p.extend(bytes([5]) + bytes([0x00, 0x00, 0xc2, 1]) + b'\xff\xff\xff\xff' + bytes([0]))
p.extend(bytes([6, 0, 4]) + struct.pack('>I', 0x08) + bytes([1]) + bytes([6, 4, 4, 0, 0, 0, 0, 0]))
seeds['registers'] = bytes(ram()) + bytes(p)
for k, v in seeds.items():
    open(os.path.join(out, k), 'wb').write(v)
