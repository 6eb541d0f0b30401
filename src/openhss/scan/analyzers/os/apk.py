"""Alpine/Wolfi/Chainguard packages from apk's database, `lib/apk/db/installed`.

The file is a list of stanzas of single-letter fields (`P:` name, `V:` version, `A:` arch, `o:` origin,
i.e. the source package, `L:` license), one stanza per installed package, blank-line separated. File
lists (`F:`/`R:`) make it large, so it is streamed line by line and only the few fields used are kept;
of the file lists, only paths a language package may be reported from (see `owned.py`).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import BinaryIO, ClassVar

from packageurl import PackageURL

from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import Package
from openhss.scan.analyzers.base import AnalysisResult, Analyzer, FileEntry, Interest
from openhss.scan.analyzers.licenses import normalize_all
from openhss.scan.analyzers.os.owned import evidence_paths

DB_PATHS = ("lib/apk/db/installed", "usr/lib/apk/db/installed")
_KEEP = {"P", "V", "A", "o", "L"}
_LINE_MAX = 64 * 1024
_FIELD_MAX = 4096
_OPERATOR = re.compile(r"\b(AND|OR|WITH)\b|[()]", re.I)


def iter_records(stream: BinaryIO) -> Iterator[dict[str, str]]:
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline=None)
    rec: dict[str, str] = {}
    while True:
        line = text.readline(_LINE_MAX)
        if not line:
            break
        if not line.endswith("\n") and len(line) == _LINE_MAX:
            while True:
                rest = text.readline(_LINE_MAX)
                if not rest or rest.endswith("\n"):
                    break
            continue
        line = line.rstrip("\r\n")
        if not line:
            if rec:
                yield rec
                rec = {}
            continue
        if len(line) >= 2 and line[1] == ":" and line[0] in _KEEP:
            rec[line[0]] = line[2:].strip()[:_FIELD_MAX]
    if rec:
        yield rec
    text.detach()


def apk_purl(name: str, version: str, arch: str, namespace: str = "alpine", distro: str = "") -> str:
    qualifiers = {"arch": arch} if arch else {}
    if distro:
        qualifiers["distro"] = distro
    return PackageURL(
        type="apk", namespace=namespace, name=name, version=version, qualifiers=qualifiers
    ).to_string()


def apk_licenses(text: str) -> tuple[str, ...]:
    """apk `L:` is SPDX on recent Alpine, but older packages list names separated by spaces."""
    if not text:
        return ()
    if _OPERATOR.search(text):
        return normalize_all([text])
    return normalize_all(text.split())


def parse_installed(stream: BinaryIO, path: str) -> list[Package]:
    out: list[Package] = []
    for rec in iter_records(stream):
        name, version = rec.get("P", ""), rec.get("V", "")
        if not name or not version:
            continue
        arch = rec.get("A", "")
        lic = rec.get("L", "")
        out.append(
            Package(
                name=name,
                version=version,
                ecosystem=Ecosystem.ALPINE,
                type=PackageType.APK,
                purl=apk_purl(name, version, arch),
                path=path,
                licenses=apk_licenses(lic),
                source_name=rec.get("o") or name,
                source_version=version,
                arch=arch,
            )
        )
    return out


def owned_paths(stream: BinaryIO, db_path: str) -> list[tuple[str, str, str]]:
    """(database file, `apk:PKG`, path) for each evidence file an `R:` line under an `F:` dir names."""
    out: list[tuple[str, str, str]] = []
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline=None)
    package = directory = ""
    while True:
        line = text.readline(_LINE_MAX)
        if not line:
            break
        line = line.rstrip("\r\n")
        if not line:
            package = directory = ""
        elif line.startswith("P:"):
            package = line[2:].strip()
        elif line.startswith("F:"):
            directory = line[2:].strip()
        elif line.startswith("R:") and package:
            full = f"{directory}/{line[2:].strip()}" if directory else line[2:].strip()
            out.extend((db_path, f"apk:{package}", p) for p in evidence_paths(full))
    text.detach()
    return out


class ApkAnalyzer(Analyzer):
    name: ClassVar[str] = "apk"
    interest: ClassVar[Interest] = Interest(paths=frozenset(DB_PATHS))
    version: ClassVar[int] = 2
    max_size: ClassVar[int] = 512 * 1024 * 1024

    def wants(self, entry: FileEntry) -> bool:
        return entry.is_file and entry.path in DB_PATHS

    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        packages = parse_installed(content, entry.path)
        content.seek(0)
        return AnalysisResult(packages=packages, owned=owned_paths(content, entry.path))
