"""Java archives (jar/war/ear and friends), including archives nested inside archives.

Each archive contributes the Maven coordinates its `META-INF/maven/**/pom.properties` files name (a
shaded or fat jar carries several). An archive without one is named by Debian's `maven-repo` when a
`usr/share/maven-repo/GROUP/ARTIFACT/VERSION/*.jar` link in the same layer points at it; otherwise it is
reported as an *unidentified* jar: its file name, the manifest's version, no ecosystem (so nothing is
matched against it) and its sha1 in the purl, which a user can look up. Coordinates are never guessed
from a manifest's display names: `org.apache:Commons Collections` matches no advisory and names no
artifact. Nested archives are opened
in memory up to a depth, and everything is bounded against zip bombs: entries per archive, declared
sizes, bytes actually inflated per member (never trusting the declared size) and inflated bytes per
top-level archive. Packages point at the archive file in the image (`Package.path`), because that is the
file a user replaces, and the applier then treats a changed archive as a whole.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO, ClassVar

from openhss.domain.enums import Ecosystem, EntryKind, PackageType
from openhss.domain.models import Package
from openhss.scan import budget as budgets
from openhss.scan.analyzers.base import AnalysisResult, Analyzer, FileEntry, Interest
from openhss.scan.analyzers.lang._common import dedupe, make_package

ARCHIVE_SUFFIXES = (".jar", ".war", ".ear", ".par", ".sar", ".hpi", ".jpi", ".kar", ".rar")

_ANY_CASE_SUFFIXES = ARCHIVE_SUFFIXES + tuple(s.upper() for s in ARCHIVE_SUFFIXES)


@dataclass(frozen=True, slots=True)
class ZipLimits:
    max_depth: int = 4
    max_entries: int = 100_000
    #: pom.properties / MANIFEST.MF larger than this are not real ones.
    max_metadata: int = 1024 * 1024
    #: A nested archive is read into memory: at most this much of it.
    max_nested: int = 64 * 1024 * 1024
    #: Bytes inflated from one top-level archive, all nesting levels together.
    max_total: int = 256 * 1024 * 1024


class ArchiveTooLarge(ValueError):
    """A limit tripped: the archive is reported as skipped rather than read further."""


_PROBLEMS_MAX = 20
_CHUNK = 1024 * 1024
_PROPS_LINE = re.compile(r"^\s*([A-Za-z.]+)\s*[=:]\s*(.*?)\s*$")


def parse_properties(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.lstrip().startswith(("#", "!")):
            continue
        m = _PROPS_LINE.match(line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def parse_manifest(text: str) -> dict[str, str]:
    """Main section of a MANIFEST.MF: `Key: value`, continuation lines start with one space."""
    out: dict[str, str] = {}
    key = ""
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line:
            if out:
                break  # end of the main section
            continue
        if line.startswith(" ") and key:
            out[key] += line[1:]
            continue
        k, sep, v = line.partition(":")
        if sep:
            key = k.strip()
            out[key] = v.strip()
    return out


def maven_package(group: str, artifact: str, version: str, path: str, licenses: list[str]) -> Package:
    return make_package(
        f"{group}:{artifact}",
        version,
        Ecosystem.MAVEN,
        PackageType.JAR,
        path,
        "maven",
        namespace=group,
        purl_name=artifact,
        licenses=licenses,
    )


def unidentified_jar(content: BinaryIO, member: str, m: dict[str, str], path: str) -> Package:
    """A jar nothing names: its file name, the manifest's version, and its sha1 as the identity."""
    content.seek(0)
    digest = hashlib.sha1(usedforsecurity=False)
    for chunk in iter(lambda: content.read(_CHUNK), b""):
        digest.update(chunk)
    version = (
        m.get("Implementation-Version") or m.get("Specification-Version") or m.get("Bundle-Version") or ""
    )
    licenses = [v for k, v in m.items() if k == "Bundle-License" or k.startswith("Plugin-License-Name")]
    return make_package(
        posixpath.basename(member),
        version,
        Ecosystem.UNKNOWN,
        PackageType.JAR,
        path,
        "generic",
        licenses=licenses,
        qualifiers={"checksum": f"sha1:{digest.hexdigest()}"},
    )


class _Budget:
    def __init__(self, limits: ZipLimits) -> None:
        self.limits = limits
        self.left = limits.max_total

    def read(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
        """Inflate one member, trusting neither its declared size nor its compression ratio."""
        if info.file_size > cap:
            raise ArchiveTooLarge(f"{info.filename} declares {info.file_size} bytes (limit {cap})")
        budgets.count_member()  # the file's member and time budget (overlapping entries, slow inflation)
        want = min(cap, self.left) + 1
        out = io.BytesIO()
        try:
            with zf.open(info) as member:
                # Small reads: zipfile inflates up to the requested size in one go, so one big read of
                # a member that lies about its size would allocate the whole limit before anything checks.
                while out.tell() < want:
                    chunk = member.read(min(_CHUNK, want - out.tell()))
                    if not chunk:
                        break
                    out.write(chunk)
                    budgets.check()
        finally:
            # Charged even when the member then fails its CRC: 20k entries overlapping one big deflate
            # stream would otherwise each inflate it anew, for free, for an hour.
            self.left -= min(out.tell(), self.left)
        if out.tell() >= want:
            raise ArchiveTooLarge(f"{info.filename} inflates beyond its limit")
        return out.getvalue()


def scan_archive(
    content: BinaryIO,
    path: str,
    limits: ZipLimits | None = None,
    problems: list[str] | None = None,
    *,
    depth: int = 0,
    budget: _Budget | None = None,
    member: str = "",
) -> list[Package]:
    """Packages of one archive and those nested in it; what could not be read lands in `problems`
    (a nested bomb costs only its own subtree, the rest of the archive is still reported)."""
    limits = limits or ZipLimits()
    budget = budget or _Budget(limits)
    problems = problems if problems is not None else []
    out: list[Package] = []
    manifest: dict[str, str] = {}
    found_pom = False
    with zipfile.ZipFile(content) as zf:
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            raise ArchiveTooLarge(f"{len(infos)} entries (limit {limits.max_entries})")
        for info in infos:
            name = info.filename
            low = name.lower()
            if low.endswith("/pom.properties") or low == "pom.properties":
                props = parse_properties(
                    budget.read(zf, info, limits.max_metadata).decode("utf-8", "replace")
                )
                group, artifact = props.get("groupId", ""), props.get("artifactId", "")
                version = props.get("version", "")
                if group and artifact and version:
                    found_pom = True
                    out.append(maven_package(group, artifact, version, path, []))
            elif low == "meta-inf/manifest.mf":
                text = budget.read(zf, info, limits.max_metadata).decode("utf-8", "replace")
                manifest = parse_manifest(text)
            elif low.endswith(ARCHIVE_SUFFIXES) and not info.is_dir():
                if depth + 1 >= limits.max_depth:
                    problems.append(f"{name}: archives nested deeper than {limits.max_depth}")
                    continue
                try:
                    data = budget.read(zf, info, limits.max_nested)
                    out.extend(
                        scan_archive(
                            io.BytesIO(data),
                            path,
                            limits,
                            problems,
                            depth=depth + 1,
                            budget=budget,
                            member=name,
                        )
                    )
                except ArchiveTooLarge as exc:
                    problems.append(f"{name}: {exc}")
                except (
                    zipfile.BadZipFile,
                    zipfile.LargeZipFile,
                    EOFError,
                    NotImplementedError,
                    zlib.error,
                ) as exc:
                    problems.append(f"{name}: unreadable nested archive: {exc}")
    if not found_pom and not out:  # a container (an ear of wars) is named by what it holds
        out.append(unidentified_jar(content, member or path, manifest, path))
    return out


#: Debian's Maven repository layout: `usr/share/maven-repo/GROUP/PATH/ARTIFACT/VERSION/FILE.jar`,
#: links to the jar under `usr/share/java`; the `debian` version is an alias, not a release.
_MAVEN_REPO = re.compile(r"^usr/share/maven-repo/(.+)/([^/]+)/([^/]+)/[^/]+\.jar$")


class JavaAnalyzer(Analyzer):
    name: ClassVar[str] = "lang-java"
    interest: ClassVar[Interest] = Interest(suffixes=_ANY_CASE_SUFFIXES, prefixes=("usr/share/maven-repo/",))
    version: ClassVar[int] = 2
    max_size: ClassVar[int] = 512 * 1024 * 1024

    def __init__(self) -> None:
        self._packages: list[Package] = []
        #: jar path → (group, artifact, version) from Debian's maven-repo links
        self._repo: dict[str, tuple[str, str, str]] = {}

    def wants(self, entry: FileEntry) -> bool:
        if entry.kind is EntryKind.SYMLINK and entry.path.startswith("usr/share/maven-repo/"):
            m = _MAVEN_REPO.match(entry.path)
            if m and m.group(3) != "debian":
                target = posixpath.normpath(posixpath.join(posixpath.dirname(entry.path), entry.linkname))
                group = m.group(1).replace("/", ".")
                self._repo[target.lstrip("/")] = (group, m.group(2), m.group(3))
            return False
        return entry.path.endswith(_ANY_CASE_SUFFIXES) and entry.is_file

    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        problems: list[str] = []
        try:
            packages = scan_archive(content, entry.path, problems=problems)
        except (zipfile.BadZipFile, EOFError, NotImplementedError, zlib.error) as exc:
            # zlib.error: a member whose deflate stream is corrupt (it is not a ValueError).
            raise ValueError(f"not a zip archive: {exc}") from exc
        skipped = [(entry.path, f"{self.name}: {p}") for p in problems[:_PROBLEMS_MAX]]
        self._packages.extend(dedupe(packages))
        return AnalysisResult(skipped=skipped)

    def finish(self) -> AnalysisResult:
        out = []
        for p in self._packages:
            coords = self._repo.get(p.path) if p.ecosystem is Ecosystem.UNKNOWN else None
            if coords is not None and posixpath.basename(p.path) == p.name:  # the top-level jar itself
                out.append(maven_package(*coords, p.path, list(p.licenses)))
            else:
                out.append(p)
        return AnalysisResult(packages=out)
