"""Red Hat family / SUSE / openEuler packages from the rpm database, in any of its three formats.

The format follows from the file name (`rpmdb.sqlite`, `Packages.db` = ndb, `Packages` = BerkeleyDB
hash) at the three places distributions keep it. A blob that does not decode is reported in `skipped`
and the rest of the database still counts: one bad record must not hide the other packages.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, ClassVar

from packageurl import PackageURL

from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import Package
from openhss.scan.analyzers.base import AnalysisResult, Analyzer, FileEntry, Interest
from openhss.scan.analyzers.licenses import normalize_all
from openhss.scan.analyzers.os.owned import evidence_paths
from openhss.scan.analyzers.os.rpmdb import (
    RpmHeader,
    RpmHeaderError,
    iter_bdb_blobs,
    iter_ndb_blobs,
    iter_sqlite_blobs,
    parse_header,
)
from openhss.scan.analyzers.os.rpmdb.header import file_paths

_DIRS = ("var/lib/rpm/", "usr/lib/sysimage/rpm/", "usr/share/rpm/")
_FILES = ("Packages", "Packages.db", "rpmdb.sqlite")
DB_PATHS = tuple(d + f for d in _DIRS for f in _FILES)


def rpm_purl(h: RpmHeader, namespace: str = "redhat", distro: str = "") -> str:
    qualifiers: dict[str, str] = {}
    if h.arch:
        qualifiers["arch"] = h.arch
    if h.epoch is not None:
        qualifiers["epoch"] = str(h.epoch)
    if distro:
        qualifiers["distro"] = distro
    vr = f"{h.version}-{h.release}" if h.release else h.version
    return PackageURL(
        type="rpm", namespace=namespace, name=h.name, version=vr, qualifiers=qualifiers
    ).to_string()


def iter_blobs(path: str, f: BinaryIO, size: int) -> Iterator[bytes]:
    base = path.rsplit("/", 1)[-1]
    if base == "rpmdb.sqlite":
        return iter_sqlite_blobs(f, size)
    if base == "Packages.db":
        return iter_ndb_blobs(f, size)
    return iter_bdb_blobs(f, size)


def to_package(h: RpmHeader, path: str) -> Package:
    src_name, src_version = h.source()
    if h.name == "gpg-pubkey" or not src_name:
        # Keys and packages without a source rpm are their own source.
        src_name, src_version = h.name, h.evr
    return Package(
        name=h.name,
        version=h.evr,
        ecosystem=Ecosystem.REDHAT,
        type=PackageType.RPM,
        purl=rpm_purl(h),
        path=path,
        licenses=normalize_all([h.license]) if h.license else (),
        source_name=src_name,
        source_version=src_version,
        arch=h.arch,
    )


def read_rpmdb(
    path: str, f: BinaryIO, size: int, owned: list[tuple[str, str, str]] | None = None
) -> tuple[list[tuple[RpmHeader, Package]], list[str]]:
    """All decodable packages of one database, plus a reason for each record that was not; with
    `owned`, also the language-evidence files each package installed (see `owned.py`)."""
    found: list[tuple[RpmHeader, Package]] = []
    problems: list[str] = []
    try:
        for i, blob in enumerate(iter_blobs(path, f, size)):
            try:
                h = parse_header(blob)
            except RpmHeaderError as exc:
                problems.append(f"record {i}: {exc}")
                continue
            found.append((h, to_package(h, path)))
            if owned is not None:
                try:
                    owned.extend(
                        (path, f"rpm:{h.name}", p) for fp in file_paths(blob) for p in evidence_paths(fp)
                    )
                except RpmHeaderError as exc:
                    problems.append(f"record {i} file list: {exc}")
    except RpmHeaderError as exc:
        problems.append(str(exc))
    return found, problems


class RpmAnalyzer(Analyzer):
    name: ClassVar[str] = "rpm"
    interest: ClassVar[Interest] = Interest(paths=frozenset(DB_PATHS))
    version: ClassVar[int] = 2
    max_size: ClassVar[int] = 1024 * 1024 * 1024

    def wants(self, entry: FileEntry) -> bool:
        return entry.is_file and entry.path in DB_PATHS

    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        owned: list[tuple[str, str, str]] = []
        found, problems = read_rpmdb(entry.path, content, entry.size, owned)
        # gpg-pubkey entries are imported signing keys, not software.
        pkgs = [p for h, p in found if h.name != "gpg-pubkey"]
        skipped = [(entry.path, f"rpm: {p}") for p in problems]
        return AnalysisResult(packages=pkgs, skipped=skipped, owned=owned)
