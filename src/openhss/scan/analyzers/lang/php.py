"""PHP packages: `composer.lock` and Composer's record of what it installed,
`vendor/composer/installed.json` (a list in Composer 1, `{"packages": [...]}` in Composer 2)."""

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


def composer_package(name: str, version: str, path: str, licenses: list[str]) -> Package:
    vendor, _, short = name.partition("/")
    return make_package(
        name,
        version,
        Ecosystem.PACKAGIST,
        PackageType.COMPOSER,
        path,
        "composer",
        namespace=vendor if short else None,
        purl_name=short or vendor,
        licenses=licenses,
    )


def _entries(doc: Any) -> list[Any]:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        out: list[Any] = []
        for key in ("packages", "packages-dev"):
            if isinstance(doc.get(key), list):
                out.extend(doc[key])
        return out
    raise ValueError("composer file is neither a list nor an object")


def parse_composer(doc: Any, path: str) -> list[Package]:
    out: list[Package] = []
    for entry in _entries(doc):
        if not isinstance(entry, dict):
            continue
        name, version = as_str(entry.get("name")), as_str(entry.get("version"))
        if not name or not version or version.startswith("dev-"):
            continue
        lic = entry.get("license")
        licenses = [x for x in lic if isinstance(x, str)] if isinstance(lic, list) else [as_str(lic)]
        out.append(composer_package(name, version, path, licenses))
    return dedupe(out)


class PhpAnalyzer(Analyzer):
    name: ClassVar[str] = "lang-php"
    interest: ClassVar[Interest] = Interest(suffixes=("/composer/installed.json", "composer.lock"))
    version: ClassVar[int] = 2

    def wants(self, entry: FileEntry) -> bool:
        path = entry.path
        if not path.endswith(("/composer/installed.json", "composer.lock")) or not entry.is_file:
            return False
        if path.endswith("/composer/installed.json"):
            return True
        return basename(path) == "composer.lock" and not inside_installed_package(path)

    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        return AnalysisResult(packages=parse_composer(read_json(content), entry.path))
