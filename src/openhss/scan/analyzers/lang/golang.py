"""Go binaries: the module list the Go linker embeds (`.go.buildinfo`), read without running Go.

The layout is Go's `debug/buildinfo`: a 32-byte header starting with `\\xff Go buildinf:`, then either
(Go >= 1.18, flag bit 2) two varint-length-prefixed strings, the Go version and the module info, or
(older) two pointers to Go string headers that are resolved through the ELF load segments. The module
info holds `path`, `mod` (the main module), `dep` lines and `=>` replacement lines. The Go version is
reported as the package `stdlib`, as Go's vulnerability database keys the standard library.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, ClassVar

from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import Package
from openhss.scan.analyzers.base import AnalysisResult, Analyzer, FileEntry, Interest
from openhss.scan.analyzers.lang._binary import (
    Executable,
    is_executable_header,
    open_executable,
    read_section,
)
from openhss.scan.analyzers.lang._common import make_package

MAGIC = b"\xff Go buildinf:"
_SECTION_MAX = 4 * 1024 * 1024
_STRING_MAX = 2 * 1024 * 1024
#: A Go binary is at least this large (the runtime alone is ~1 MB); smaller executables are skipped.
_MIN_SIZE = 64 * 1024


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data) and shift < 64:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
    raise ValueError("truncated varint")


def _inline_strings(blob: bytes, at: int) -> tuple[str, str]:
    pos = at + 32
    ver_len, pos = _uvarint(blob, pos)
    version = blob[pos : pos + ver_len]
    pos += ver_len
    mod_len, pos = _uvarint(blob, pos)
    if ver_len > _STRING_MAX or mod_len > _STRING_MAX or pos + mod_len > len(blob):
        raise ValueError("buildinfo strings out of range")
    return version.decode("utf-8", "replace"), blob[pos : pos + mod_len].decode("utf-8", "replace")


def _pointer_strings(f: BinaryIO, exe: Executable, blob: bytes, at: int) -> tuple[str, str]:
    """Go < 1.18: the header holds pointers to string headers (data pointer, length)."""
    ptr = blob[at + 14]
    big = bool(blob[at + 15] & 1)
    fmt = (">" if big else "<") + ("Q" if ptr == 8 else "I")
    if ptr not in (4, 8):
        raise ValueError("bad pointer size in buildinfo")

    def read_at(addr: int, size: int) -> bytes:
        off = exe.vaddr_to_offset(addr)
        if off is None or size > _STRING_MAX or off + size > exe.size:
            raise ValueError("buildinfo pointer outside the file")
        f.seek(off)
        return f.read(size)

    def go_string(addr: int) -> str:
        hdr = read_at(addr, 2 * ptr)
        data_ptr, length = struct.unpack(fmt, hdr[:ptr])[0], struct.unpack(fmt, hdr[ptr:])[0]
        return read_at(data_ptr, length).decode("utf-8", "replace") if length else ""

    version_addr = struct.unpack(fmt, blob[at + 16 : at + 16 + ptr])[0]
    mod_addr = struct.unpack(fmt, blob[at + 16 + ptr : at + 16 + 2 * ptr])[0]
    return go_string(version_addr), go_string(mod_addr)


def _find_blob(f: BinaryIO, exe: Executable) -> bytes:
    sec = exe.section(".go.buildinfo", "__go_buildinfo")
    if sec is None and exe.kind == "pe":
        sec = exe.section(".data")
    if sec is None:
        # Section headers stripped: buildinfo sits at the start of the first writable data segment;
        # looking at the start of each loaded segment is enough and stays bounded.
        for seg in exe.segments:
            f.seek(seg.offset)
            blob = f.read(min(seg.filesz, _SECTION_MAX))
            if MAGIC in blob[: 64 * 1024]:
                return blob
        return b""
    return read_section(f, exe, sec, _SECTION_MAX)


def read_buildinfo(f: BinaryIO, size: int) -> tuple[str, str] | None:
    """(Go version, module info) of a Go binary; None when the file is not one."""
    exe = open_executable(f, size)
    if exe is None:
        return None
    blob = _find_blob(f, exe)
    at = blob.find(MAGIC)
    while at >= 0 and at % 16:
        at = blob.find(MAGIC, at + 1)
    if at < 0 or len(blob) < at + 32:
        return None
    flags = blob[at + 15]
    if flags & 2:
        version, modinfo = _inline_strings(blob, at)
    else:
        version, modinfo = _pointer_strings(f, exe, blob, at)
    # The module info is wrapped in 16-byte sentinels so the linker can find it.
    if len(modinfo) >= 33 and modinfo[-17] == "\n":
        modinfo = modinfo[16:-16]
    return version, modinfo


def go_package(module: str, version: str, path: str) -> Package:
    namespace, _, name = module.rpartition("/")
    return make_package(
        module,
        version,
        Ecosystem.GO,
        PackageType.GOBINARY,
        path,
        "golang",
        namespace=namespace or None,
        purl_name=name,
    )


def parse_modinfo(go_version: str, modinfo: str, path: str) -> list[Package]:
    out: list[Package] = []
    current: list[str] | None = None
    modules: list[list[str]] = []
    for line in modinfo.splitlines():
        parts = line.split("\t")
        if parts[0] in ("mod", "dep") and len(parts) >= 3:
            current = [parts[0], parts[1], parts[2]]
            modules.append(current)
        elif parts[0] == "=>" and current is not None and len(parts) >= 3 and parts[2]:
            # Replaced by another module version; a local directory (no version) keeps the original.
            current[1], current[2] = parts[1], parts[2]
    for _kind, module, version in modules:
        if not version or version == "(devel)":
            continue  # a main module built from a checkout has no released version to match
        out.append(go_package(module, version, path))
    go = go_version.split()[0] if go_version.split() else ""
    if go.startswith("go") and go[2:3].isdigit():
        out.append(make_package("stdlib", "v" + go[2:], Ecosystem.GO, PackageType.GOBINARY, path, "golang"))
    return out


class GoBinaryAnalyzer(Analyzer):
    name: ClassVar[str] = "lang-gobinary"
    interest: ClassVar[Interest] = Interest(mode_bits=0o111)
    version: ClassVar[int] = 1
    max_size: ClassVar[int] = 512 * 1024 * 1024

    def wants(self, entry: FileEntry) -> bool:
        return entry.size >= _MIN_SIZE and entry.mode & 0o111 != 0 and entry.is_file

    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        if not is_executable_header(content.read(4)):
            return AnalysisResult()
        info = read_buildinfo(content, entry.size)
        if info is None:
            return AnalysisResult()
        return AnalysisResult(packages=parse_modinfo(info[0], info[1], entry.path))
