"""Application packages (PyPI, npm, Go, Maven, crates.io, RubyGems, Packagist, NuGet) against OSV ranges."""

from __future__ import annotations

from typing import ClassVar

from openhss.domain.advisory import normalize_name
from openhss.domain.enums import Ecosystem
from openhss.domain.models import OSInfo, Package
from openhss.scan.matcher.base import LookupKey, Matcher


class LanguageMatcher(Matcher):
    name: ClassVar[str] = "language"

    def handles(self, package: Package) -> bool:
        return not package.type.is_os and package.ecosystem is not Ecosystem.UNKNOWN

    def keys(self, package: Package, os: OSInfo | None) -> list[LookupKey]:
        if not package.version:
            return []
        return [
            LookupKey(package.ecosystem, "", normalize_name(package.ecosystem, package.name), package.version)
        ]
