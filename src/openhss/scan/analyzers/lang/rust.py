"""Rust crates: `Cargo.lock` files and binaries built with `cargo auditable`.

`cargo auditable` embeds the resolved dependency tree as zlib-compressed JSON in a `.dep-v0` section
(`__dep_v0` on Mach-O). Inflation is bounded: the JSON of even a huge workspace is a few hundred KB,
so a section that inflates beyond the limit is a bomb, not a binary. Build-time-only crates
(`kind: build`) do not ship in the binary and are left out, as the `cargo audit bin` convention does.
"""

from __future__ import annotations

import json
import zlib
from typing import Any, BinaryIO, ClassVar

from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import Package
from openhss.scan.analyzers.base import AnalysisResult, Analyzer, FileEntry, Interest
from openhss.scan.analyzers.lang._binary import is_executable_header, open_executable, read_section
from openhss.scan.analyzers.lang._common import (
    as_str,
    basename,
    dedupe,
    inside_installed_package,
    load_toml,
    make_package,
    read_text,
)

_SECTION_MAX = 4 * 1024 * 1024
_INFLATED_MAX = 16 * 1024 * 1024
_MIN_SIZE = 16 * 1024


def crate(name: str, version: str, path: str, ptype: PackageType) -> Package:
    return make_package(name, version, Ecosystem.CRATES_IO, ptype, path, "cargo")


def parse_cargo_lock(text: str, path: str) -> list[Package]:
    doc = load_toml(text)
    out: list[Package] = []
    for pkg in doc.get("package", []) if isinstance(doc.get("package"), list) else []:
        if isinstance(pkg, dict):
            name, version = as_str(pkg.get("name")), as_str(pkg.get("version"))
            if name and version:
                out.append(crate(name, version, path, PackageType.CARGO))
    return dedupe(out)


def inflate(data: bytes, limit: int = _INFLATED_MAX) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as exc:  # not a ValueError: the walker would not turn it into a skip
        raise ValueError(f"dependency section is not a zlib stream: {exc}") from None
    if len(out) > limit or d.unconsumed_tail:
        raise ValueError(f"dependency section inflates beyond {limit} bytes")
    return out


def parse_auditable(doc: Any, path: str) -> list[Package]:
    if not isinstance(doc, dict) or not isinstance(doc.get("packages"), list):
        raise ValueError("cargo-auditable data without a package list")
    out: list[Package] = []
    for pkg in doc["packages"]:
        if not isinstance(pkg, dict) or pkg.get("kind") == "build":
            continue
        if pkg.get("root") is True or pkg.get("source") == "local":
            # The binary's own crate (and path dependencies of its workspace) were never published:
            # a crates.io crate of the same name is someone else's, its advisories do not apply.
            continue
        name, version = as_str(pkg.get("name")), as_str(pkg.get("version"))
        if name and version:
            out.append(crate(name, version, path, PackageType.RUSTBINARY))
    return dedupe(out)


class RustAnalyzer(Analyzer):
    name: ClassVar[str] = "lang-rust"
    interest: ClassVar[Interest] = Interest(suffixes=("Cargo.lock",), mode_bits=0o111)
    version: ClassVar[int] = 2
    max_size: ClassVar[int] = 512 * 1024 * 1024

    def wants(self, entry: FileEntry) -> bool:
        if entry.path.endswith("Cargo.lock"):
            return (
                basename(entry.path) == "Cargo.lock"
                and entry.is_file
                and not inside_installed_package(entry.path)
            )
        return entry.size >= _MIN_SIZE and entry.mode & 0o111 != 0 and entry.is_file

    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        if basename(entry.path) == "Cargo.lock":
            return AnalysisResult(packages=parse_cargo_lock(read_text(content), entry.path))
        if not is_executable_header(content.read(4)):
            return AnalysisResult()
        exe = open_executable(content, entry.size)
        sec = exe.section(".dep-v0", "__dep_v0") if exe is not None else None
        if exe is None or sec is None:
            return AnalysisResult()
        raw = inflate(read_section(content, exe, sec, _SECTION_MAX))
        return AnalysisResult(packages=parse_auditable(json.loads(raw), entry.path))
