"""Just enough of the ELF, PE and Mach-O formats to find a named section in an executable, in Python.

Go's buildinfo and cargo-auditable's dependency list live in sections of their own. Only headers are
parsed (a few hundred bytes); every offset read from the file is checked against its size, so a
hostile header yields "no section" rather than a wild read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

ELF_MAGIC = b"\x7fELF"
PE_MAGIC = b"MZ"
MACHO_MAGICS = {
    b"\xfe\xed\xfa\xce",
    b"\xce\xfa\xed\xfe",
    b"\xfe\xed\xfa\xcf",
    b"\xcf\xfa\xed\xfe",
}
_MAX_SECTIONS = 4096


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    offset: int
    size: int
    addr: int


@dataclass(frozen=True, slots=True)
class Segment:
    vaddr: int
    offset: int
    filesz: int


@dataclass(slots=True)
class Executable:
    kind: str
    size: int
    little: bool = True
    ptr_size: int = 8
    sections: tuple[Section, ...] = ()
    segments: tuple[Segment, ...] = ()

    def section(self, *names: str) -> Section | None:
        for s in self.sections:
            if s.name in names:
                return s
        return None

    def vaddr_to_offset(self, addr: int) -> int | None:
        for seg in self.segments:
            if seg.vaddr <= addr < seg.vaddr + seg.filesz:
                return seg.offset + (addr - seg.vaddr)
        for sec in self.sections:
            if sec.addr and sec.addr <= addr < sec.addr + sec.size:
                return sec.offset + (addr - sec.addr)
        return None


def is_executable_header(head: bytes) -> bool:
    return head[:4] == ELF_MAGIC or head[:2] == PE_MAGIC or head[:4] in MACHO_MAGICS


def _read(f: BinaryIO, offset: int, size: int, total: int) -> bytes:
    if offset < 0 or size < 0 or offset + size > total:
        raise ValueError("header points outside the file")
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise ValueError("short read")
    return data


def _cstr(table: bytes, at: int) -> str:
    if at >= len(table):
        return ""
    end = table.find(b"\0", at)
    return table[at : end if end >= 0 else len(table)].decode("latin-1")


def _elf(f: BinaryIO, total: int) -> Executable:
    ident = _read(f, 0, 16, total)
    is64 = ident[4] == 2
    little = ident[5] != 2
    e = "<" if little else ">"
    if is64:
        hdr = _read(f, 16, 48, total)
        phoff, shoff = struct.unpack(e + "QQ", hdr[16:32])
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack(e + "HHHHH", hdr[38:48])
    else:
        hdr = _read(f, 16, 36, total)
        phoff, shoff = struct.unpack(e + "II", hdr[12:20])
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack(e + "HHHHH", hdr[26:36])
    exe = Executable("elf", total, little, 8 if is64 else 4)
    segments: list[Segment] = []
    for i in range(min(phnum, _MAX_SECTIONS)):
        raw = _read(f, phoff + i * phentsize, phentsize, total)
        if is64:
            ptype, _flags, off, vaddr, _paddr, filesz = struct.unpack(e + "IIQQQQ", raw[:40])
        else:
            ptype, off, vaddr, _paddr, filesz = struct.unpack(e + "IIIII", raw[:20])
        if ptype == 1:  # PT_LOAD
            segments.append(Segment(vaddr, off, filesz))
    exe.segments = tuple(segments)
    raw_sections: list[tuple[int, int, int, int]] = []
    for i in range(min(shnum, _MAX_SECTIONS)):
        raw = _read(f, shoff + i * shentsize, shentsize, total)
        if is64:
            name, _t, _fl, addr, off, size = struct.unpack(e + "IIQQQQ", raw[:40])
        else:
            name, _t, _fl, addr, off, size = struct.unpack(e + "IIIIII", raw[:24])
        raw_sections.append((name, addr, off, size))
    if not raw_sections or shstrndx >= len(raw_sections):
        return exe
    _n, _a, stroff, strsize = raw_sections[shstrndx]
    table = _read(f, stroff, min(strsize, 1024 * 1024), total)
    exe.sections = tuple(Section(_cstr(table, n), off, size, addr) for n, addr, off, size in raw_sections)
    return exe


def _pe(f: BinaryIO, total: int) -> Executable:
    (pe_off,) = struct.unpack("<I", _read(f, 0x3C, 4, total))
    if _read(f, pe_off, 4, total) != b"PE\0\0":
        raise ValueError("not a PE file")
    coff = _read(f, pe_off + 4, 20, total)
    nsections, opt_size = struct.unpack("<H", coff[2:4])[0], struct.unpack("<H", coff[16:18])[0]
    opt = _read(f, pe_off + 24, min(opt_size, 240), total)
    magic = struct.unpack("<H", opt[:2])[0] if len(opt) >= 2 else 0
    is64 = magic == 0x20B
    image_base = struct.unpack("<Q", opt[24:32])[0] if is64 else struct.unpack("<I", opt[28:32])[0]
    sections: list[Section] = []
    base = pe_off + 24 + opt_size
    for i in range(min(nsections, _MAX_SECTIONS)):
        raw = _read(f, base + i * 40, 40, total)
        name = raw[:8].rstrip(b"\0").decode("latin-1")
        vsize, vaddr, rawsize, rawoff = struct.unpack("<IIII", raw[8:24])
        sections.append(Section(name, rawoff, min(vsize, rawsize) or rawsize, image_base + vaddr))
    return Executable("pe", total, True, 8 if is64 else 4, tuple(sections))


def _macho(f: BinaryIO, total: int) -> Executable:
    magic = _read(f, 0, 4, total)
    little = magic in (b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
    is64 = magic in (b"\xfe\xed\xfa\xcf", b"\xcf\xfa\xed\xfe")
    e = "<" if little else ">"
    hdr = _read(f, 0, 32 if is64 else 28, total)
    ncmds = struct.unpack(e + "I", hdr[16:20])[0]
    off = 32 if is64 else 28
    sections: list[Section] = []
    for _ in range(min(ncmds, _MAX_SECTIONS)):
        cmd, cmdsize = struct.unpack(e + "II", _read(f, off, 8, total))
        if cmdsize < 8:
            break
        if cmd in (0x1, 0x19):  # LC_SEGMENT, LC_SEGMENT_64
            body = _read(f, off, cmdsize, total)
            nsects = struct.unpack(e + "I", body[64:68] if is64 else body[48:52])[0]
            pos, step = (72, 80) if is64 else (56, 68)
            for _s in range(min(nsects, _MAX_SECTIONS)):
                raw = body[pos : pos + step]
                if len(raw) < step:
                    break
                name = raw[:16].rstrip(b"\0").decode("latin-1")
                if is64:
                    addr, size = struct.unpack(e + "QQ", raw[32:48])
                    offset = struct.unpack(e + "I", raw[48:52])[0]
                else:
                    addr, size, offset = struct.unpack(e + "III", raw[32:44])
                sections.append(Section(name, offset, size, addr))
                pos += step
        off += cmdsize
    return Executable("macho", total, little, 8 if is64 else 4, tuple(sections))


def open_executable(f: BinaryIO, total: int) -> Executable | None:
    """Parse the headers of an ELF/PE/Mach-O file; None when it is none of them or is malformed."""
    f.seek(0)
    head = f.read(4)
    try:
        if head == ELF_MAGIC:
            return _elf(f, total)
        if head[:2] == PE_MAGIC:
            return _pe(f, total)
        if head in MACHO_MAGICS:
            return _macho(f, total)
    except (ValueError, struct.error, IndexError):
        return None
    return None


def read_section(f: BinaryIO, exe: Executable, section: Section, limit: int) -> bytes:
    size = min(section.size, limit)
    return _read(f, section.offset, size, exe.size)
