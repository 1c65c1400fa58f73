#!/usr/bin/env python3
# mkdmar.py: writes the synthetic ACPI DMAR tables under tests/iommu/fixtures/ (run it from anywhere;
# the .dmar files are committed, so this only needs running when a fixture changes).
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def scope(kind, bus, path, enum_id=0):
    body = b"".join(struct.pack("<BB", d, f) for d, f in path)
    return struct.pack("<BBHBB", kind, 6 + len(body), 0, enum_id, bus) + body


def remap(kind, body):
    return struct.pack("<HH", kind, 4 + len(body)) + body


def drhd(base, segment=0, include_all=False, scopes=(), size=0):
    return remap(0, struct.pack("<BBHQ", 1 if include_all else 0, size, segment, base) + b"".join(scopes))


def rmrr(base, limit, segment=0, scopes=()):
    return remap(1, struct.pack("<HHQQ", 0, segment, base, limit) + b"".join(scopes))


def atsr(segment=0, all_ports=False, scopes=()):
    return remap(2, struct.pack("<BBH", 1 if all_ports else 0, 0, segment) + b"".join(scopes))


def rhsa(base, domain):
    return remap(3, struct.pack("<IQI", 0, base, domain))


def andd(number, name):
    return remap(4, b"\0\0\0" + bytes([number]) + name.encode() + b"\0")


def satc(segment=0, required=True, scopes=()):
    return remap(5, struct.pack("<BBH", 1 if required else 0, 0, segment) + b"".join(scopes))


def table(haw, flags, structs, oem=b"PTCTL ", oem_table=b"FIXTURE "):
    body = struct.pack("<BB10x", haw - 1, flags) + b"".join(structs)
    length = 36 + len(body)
    hdr = struct.pack("<4sIBB6s8sI4sI", b"DMAR", length, 1, 0, oem, oem_table, 1, b"PTCT", 1)
    raw = bytearray(hdr + body)
    raw[9] = (-sum(raw)) & 0xFF
    return bytes(raw)


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


# A two-socket style server: a graphics unit with one endpoint, a catch-all unit with the IOAPIC and
# HPET, USB and storage RMRRs (one behind a bridge: a two-hop path), ATS on every root port, NUMA
# proximity, an ACPI namespace device, SATC, and a structure type this parser does not know.
server = table(46, 0x1 | 0x4, [
    drhd(0xFED90000, scopes=[scope(1, 0x00, [(0x02, 0)])]),
    drhd(0xFED91000, include_all=True, scopes=[
        scope(3, 0xF0, [(0x1F, 0)], enum_id=8),
        scope(4, 0x00, [(0x1F, 0)], enum_id=0),
        scope(5, 0x00, [(0x15, 0)], enum_id=1),
    ]),
    rmrr(0x7C000000, 0x7C01FFFF, scopes=[scope(1, 0x00, [(0x14, 0)]), scope(1, 0x00, [(0x1A, 0)])]),
    rmrr(0x7D800000, 0x7FFFFFFF, scopes=[scope(1, 0x00, [(0x1C, 0), (0x00, 0)])]),
    atsr(all_ports=True),
    rhsa(0xFED91000, 1),
    andd(1, "\\_SB.PCI0.I2C0"),
    satc(scopes=[scope(1, 0x00, [(0x02, 0)])]),
    remap(6, b"\0" * 12),
])
write("server.dmar", server)

# The shape QEMU's intel-iommu reports (one catch-all unit, the IOAPIC in its scope, no RMRR).
write("qemu-like.dmar", table(39, 0x1, [
    drhd(0xFED90000, include_all=True, scopes=[scope(3, 0xF0, [(0x1F, 0)], enum_id=0)]),
]))

# Hostile: the header claims more bytes than the file has (a truncated read).
cut = bytearray(server[:120])
write("truncated.dmar", bytes(cut))

# Hostile: a zero-length structure (a parser that trusts it never moves on).
zero = bytearray(table(39, 0x1, [drhd(0xFED90000, include_all=True), remap(1, b"\0" * 20)]))
zero[48 + 16 + 2:48 + 16 + 4] = b"\0\0"
zero[9] = 0
zero[9] = (-sum(zero)) & 0xFF
write("zero-length.dmar", bytes(zero))
