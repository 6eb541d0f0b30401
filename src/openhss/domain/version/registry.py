"""Which version scheme orders each ecosystem's versions. Adding a scheme: one module, one line here."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from openhss.domain.distros.registry import DISTROS
from openhss.domain.enums import Ecosystem
from openhss.domain.version.apk import ApkScheme
from openhss.domain.version.base import VersionScheme
from openhss.domain.version.composer import ComposerScheme
from openhss.domain.version.dpkg import DpkgScheme
from openhss.domain.version.gem import GemScheme
from openhss.domain.version.go import GoScheme
from openhss.domain.version.maven import MavenScheme
from openhss.domain.version.nuget import NugetScheme
from openhss.domain.version.pep440 import Pep440Scheme
from openhss.domain.version.rpm import RpmScheme
from openhss.domain.version.semver import SemverScheme

SCHEMES: Final[tuple[VersionScheme, ...]] = (
    DpkgScheme(),
    RpmScheme(),
    ApkScheme(),
    Pep440Scheme(),
    SemverScheme(),
    MavenScheme(),
    GoScheme(),
    GemScheme(),
    NugetScheme(),
    ComposerScheme(),
)
BY_NAME: Final = MappingProxyType({s.name: s for s in SCHEMES})

_E = Ecosystem
#: Language ecosystems; OS ecosystems take the scheme their distro descriptor names (`domain/distros/`).
_LANGUAGE_SCHEMES: Final = {
    _E.PYPI: "pep440",
    _E.NPM: "semver",
    _E.CRATES_IO: "semver",
    _E.GO: "go",
    _E.MAVEN: "maven",
    _E.RUBYGEMS: "gem",
    _E.NUGET: "nuget",
    _E.PACKAGIST: "composer",
}
_NAMES: Final = {**{d.ecosystem: d.version_scheme for d in DISTROS}, **_LANGUAGE_SCHEMES}
# Ecosystem.UNKNOWN has no ordering on purpose: matching it would be guesswork.
ECOSYSTEM_SCHEMES: Final[MappingProxyType[Ecosystem, VersionScheme]] = MappingProxyType(
    {eco: BY_NAME[name] for eco, name in _NAMES.items()}
)
