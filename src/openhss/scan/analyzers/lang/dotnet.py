""".NET packages: `*.deps.json` (what a published app loads) and NuGet's `packages.lock.json`.

A deps.json `libraries` map is keyed `Name/Version`; `package` entries are NuGet packages and the
`project` entries are the app and its own projects (reported too: they carry the app's identity).
`runtimepack` entries are the runtime a self-contained app bundles (vulnerable like any package).
`reference` entries are framework assemblies, not NuGet packages, and are left out.
"""

from __future__ import annotations

from typing import Any, BinaryIO, ClassVar

from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import Package
from openhss.scan.analyzers.base import AnalysisResult, Analyzer, FileEntry, Interest
from openhss.scan.analyzers.lang._common import (
    as_str,
    basename,
    dedupe,
    inside_installed_package,
    make_package,
    read_json,
)


def nuget(name: str, version: str, path: str) -> Package:
    return make_package(name, version, Ecosystem.NUGET, PackageType.NUGET, path, "nuget")


def parse_deps_json(doc: Any, path: str) -> list[Package]:
    if not isinstance(doc, dict):
        raise ValueError("deps.json is not an object")
    libraries = doc.get("libraries")
    out: list[Package] = []
    if not isinstance(libraries, dict):
        return out
    for key, meta in libraries.items():
        if not isinstance(meta, dict) or meta.get("type") not in ("package", "project", "runtimepack"):
            continue
        name, _, version = str(key).rpartition("/")
        name = name.removeprefix("runtimepack.")
        if name and version:
            out.append(nuget(name, version, path))
    return dedupe(out)


def parse_packages_lock(doc: Any, path: str) -> list[Package]:
    if not isinstance(doc, dict) or not isinstance(doc.get("dependencies"), dict):
        raise ValueError("packages.lock.json without dependencies")
    out: list[Package] = []
    for deps in doc["dependencies"].values():
        if not isinstance(deps, dict):
            continue
        for name, meta in deps.items():
            if not isinstance(meta, dict) or as_str(meta.get("type")).lower() == "project":
                continue
            version = as_str(meta.get("resolved"))
            if version:
                out.append(nuget(name, version, path))
    return dedupe(out)


class DotnetAnalyzer(Analyzer):
    name: ClassVar[str] = "lang-dotnet"
    interest: ClassVar[Interest] = Interest(suffixes=(".deps.json", "packages.lock.json"))
    version: ClassVar[int] = 2

    def wants(self, entry: FileEntry) -> bool:
        path = entry.path
        if not path.endswith((".deps.json", "packages.lock.json")) or not entry.is_file:
            return False
        return path.endswith(".deps.json") or (
            basename(path) == "packages.lock.json" and not inside_installed_package(path)
        )

    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        doc = read_json(content)
        if entry.path.endswith(".deps.json"):
            return AnalysisResult(packages=parse_deps_json(doc, entry.path))
        return AnalysisResult(packages=parse_packages_lock(doc, entry.path))
