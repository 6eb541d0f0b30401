"""Debian packages from dpkg's database: `var/lib/dpkg/status` and distroless `status.d/*`.

The status file is read as a stream of RFC 822 stanzas, one line at a time, so a huge (or hostile)
file costs time, not memory: only the handful of fields we use are kept, each capped in length.
Only packages whose files are on disk count (`Status: <want> ok installed`); `deinstall ok
config-files` and friends are gone from the image and must not raise vulnerabilities. Distroless
`status.d` files have no `Status:` at all: being there is being installed.

Licenses come from `usr/share/doc/PKG/copyright` in the same layer and are joined in `finish`;
a doc directory that is a symlink to a sibling (`libgcc-s1 -> gcc-12-base`) shares that one's.

File lists (`info/PKG.list`, distroless `status.d/PKG.md5sums`) say which language packages dpkg
installed (see `owned.py`); only the paths that can be a language package's evidence are kept.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import BinaryIO, ClassVar

from packageurl import PackageURL

from openhss.domain.enums import Ecosystem, EntryKind, PackageType
from openhss.domain.models import Package
from openhss.scan import budget as budgets
from openhss.scan.analyzers.base import AnalysisResult, Analyzer, FileEntry, Interest
from openhss.scan.analyzers.licenses import debian_copyright
from openhss.scan.analyzers.os.owned import evidence_paths

STATUS_PATHS = ("var/lib/dpkg/status", "usr/lib/dpkg/status")
STATUS_D = ("var/lib/dpkg/status.d/", "usr/lib/dpkg/status.d/")
_KEEP = {"package", "status", "version", "architecture", "source", "maintainer"}
_FIELD_MAX = 4096
_LINE_MAX = 64 * 1024
#: Files that live beside distroless status.d records but are not records.
_NOT_RECORDS = (".md5sums", ".list", ".conffiles", ".preinst", ".postinst", ".prerm", ".postrm", ".triggers")
_INSTALLED = {"installed", "triggers-awaited", "triggers-pending"}
#: Packages one layer may declare. A real Debian image has a few thousand; a hostile status file of
#: millions of stanzas (a few MB compressed) would otherwise become millions of objects to match.
MAX_PACKAGES = 50_000
_SOURCE = re.compile(r"^(\S+)(?:\s+\((\S+)\))?")
_COPYRIGHT = re.compile(r"^usr/share/doc/([^/]+)/copyright$")
_DOC_DIR = re.compile(r"^usr/share/doc/([^/]+)$")
_DOC_DIR_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]*/?$")
#: `info/NAME[:ARCH].list` (one path per line) and distroless `status.d/NAME.md5sums` (`md5  path`).
_FILE_LIST = re.compile(
    r"^(?:(?:var|usr)/lib/dpkg/info/([a-z0-9][a-z0-9+.-]*)(?::[a-z0-9-]+)?\.list"
    r"|(?:var|usr)/lib/dpkg/status\.d/([a-z0-9][a-z0-9+.-]*)(?::[a-z0-9-]+)?\.md5sums)$"
)
_LIST_MAX = 64 * 1024 * 1024


def owned_paths(stream: BinaryIO, db_path: str, package: str) -> list[tuple[str, str, str]]:
    """The evidence paths one dpkg file list names, as (database file, owner, path)."""
    owner = f"deb:{package}"
    out: list[tuple[str, str, str]] = []
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline=None)
    while True:
        line = text.readline(_LINE_MAX)
        if not line:
            break
        if db_path.endswith(".md5sums"):
            line = line.partition("  ")[2]
        out.extend((db_path, owner, p) for p in evidence_paths(line))
    text.detach()
    return out


def iter_stanzas(stream: BinaryIO) -> Iterator[dict[str, str]]:
    """Yield each stanza's kept fields; continuation lines are skipped (none of the kept fields folds)."""
    fields: dict[str, str] = {}
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline=None)
    while True:
        line = text.readline(_LINE_MAX)
        if not line:
            break
        if len(line) == _LINE_MAX and not line.endswith("\n"):
            # An absurdly long line: drain it without holding it.
            while True:
                rest = text.readline(_LINE_MAX)
                if not rest or rest.endswith("\n"):
                    break
            continue
        if not line.strip():
            if fields:
                yield fields
                fields = {}
            continue
        if line[0] in " \t":
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key in _KEEP:
            fields[key] = value.strip()[:_FIELD_MAX]
    if fields:
        yield fields
    text.detach()


def split_epoch(version: str) -> tuple[str, str]:
    """`2:1.0-1` → (`2`, `1.0-1`); no epoch → (``, version). purls carry the epoch as a qualifier."""
    epoch, sep, rest = version.partition(":")
    return (epoch, rest) if sep and epoch.isdigit() else ("", version)


def deb_purl(name: str, version: str, arch: str, distro_ns: str = "debian", distro: str = "") -> str:
    qualifiers = {"arch": arch} if arch else {}
    epoch, version = split_epoch(version)
    if epoch:
        # purl spec: the epoch is a qualifier and the version carries none (as Trivy and Syft write it).
        qualifiers["epoch"] = epoch
    if distro:
        qualifiers["distro"] = distro
    return PackageURL(
        type="deb", namespace=distro_ns, name=name, version=version, qualifiers=qualifiers
    ).to_string()


def package_from_stanza(fields: dict[str, str], path: str, require_status: bool) -> Package | None:
    name = fields.get("package", "")
    version = fields.get("version", "")
    if not name or not version:
        return None
    status = fields.get("status")
    if status is None:
        if require_status:
            return None
    else:
        words = status.split()
        if len(words) != 3 or words[1] != "ok" or words[2] not in _INSTALLED:
            return None
    arch = fields.get("architecture", "")
    src_name, src_version = name, version
    m = _SOURCE.match(fields.get("source", ""))
    if m:
        src_name = m.group(1)
        src_version = m.group(2) or version
    return Package(
        name=name,
        version=version,
        ecosystem=Ecosystem.DEBIAN,
        type=PackageType.DEB,
        purl=deb_purl(name, version, arch),
        path=path,
        source_name=src_name,
        source_version=src_version,
        arch=arch,
    )


def parse_status(
    stream: BinaryIO, path: str, require_status: bool = True, limit: int = MAX_PACKAGES
) -> list[Package]:
    """The installed packages of one status file; past `limit` packages `TooManyPackages` carries the
    ones read so far (the caller reports the rest as skipped rather than holding millions)."""
    out: list[Package] = []
    for i, fields in enumerate(iter_stanzas(stream)):
        if i % 1024 == 0:
            budgets.check()
        pkg = package_from_stanza(fields, path, require_status)
        if pkg is not None:
            if len(out) >= limit:
                raise TooManyPackages(out, limit)
            out.append(pkg)
    return out


class TooManyPackages(Exception):
    def __init__(self, packages: list[Package], limit: int) -> None:
        super().__init__(f"more than {limit} packages; the rest not read")
        self.packages = packages


class DpkgAnalyzer(Analyzer):
    name: ClassVar[str] = "dpkg"
    interest: ClassVar[Interest] = Interest(
        paths=frozenset(STATUS_PATHS), prefixes=("var/lib/dpkg/", "usr/lib/dpkg/", "usr/share/doc/")
    )
    version: ClassVar[int] = 3
    max_size: ClassVar[int] = 512 * 1024 * 1024

    def __init__(self) -> None:
        self._packages: list[Package] = []
        self._licenses: dict[str, tuple[str, ...]] = {}
        # usr/share/doc/libgcc-s1 -> gcc-12-base: packages sharing another package's docs.
        self._doc_links: dict[str, str] = {}

    def wants(self, entry: FileEntry) -> bool:
        if entry.kind is EntryKind.SYMLINK:
            m = _DOC_DIR.match(entry.path)
            if m and _DOC_DIR_NAME.match(entry.linkname):
                self._doc_links[m.group(1)] = entry.linkname.rstrip("/")
            return False
        if not entry.is_file:
            return False
        p = entry.path
        if p in STATUS_PATHS:
            return True
        if p.endswith((".list", ".md5sums")) and entry.size <= _LIST_MAX:
            return _FILE_LIST.match(p) is not None
        if p.startswith(STATUS_D):
            return "/" not in p[len("var/lib/dpkg/status.d/") :] and not p.endswith(_NOT_RECORDS)
        return p.startswith("usr/share/doc/") and p.endswith("/copyright") and entry.size <= 4 * 1024 * 1024

    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        listed = _FILE_LIST.match(entry.path)
        if listed:
            return AnalysisResult(owned=owned_paths(content, entry.path, listed.group(1) or listed.group(2)))
        m = _COPYRIGHT.match(entry.path)
        if m:
            text = content.read(4 * 1024 * 1024).decode("utf-8", errors="replace")
            self._licenses[m.group(1)] = debian_copyright(text)
            return AnalysisResult()
        distroless = entry.path.startswith(STATUS_D)
        left = MAX_PACKAGES - len(self._packages)
        if left <= 0:
            return AnalysisResult(
                skipped=[(entry.path, f"dpkg: the layer has more than {MAX_PACKAGES} packages")]
            )
        try:
            self._packages.extend(parse_status(content, entry.path, not distroless, left))
        except TooManyPackages as exc:
            self._packages.extend(exc.packages)
            return AnalysisResult(skipped=[(entry.path, f"dpkg: {exc}")])
        return AnalysisResult()

    def finish(self) -> AnalysisResult:
        from dataclasses import replace

        pkgs = []
        for p in self._packages:
            found = self._licenses.get(p.name) or self._licenses.get(self._doc_links.get(p.name, ""))
            pkgs.append(replace(p, licenses=found) if found else p)
        return AnalysisResult(packages=pkgs)
