"""Which version scheme orders each ecosystem's versions. Adding a scheme: one module, one line here."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

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
_NAMES: Final = {
    _E.DEBIAN: "dpkg",
    _E.UBUNTU: "dpkg",
    _E.UOS: "dpkg",
    _E.ALPINE: "apk",
    _E.WOLFI: "apk",
    _E.CHAINGUARD: "apk",
    _E.REDHAT: "rpm",
    _E.ROCKY: "rpm",
    _E.ALMALINUX: "rpm",
    _E.OPENEULER: "rpm",
    _E.SUSE: "rpm",
    _E.OPENSUSE: "rpm",
    _E.CENTOS: "rpm",
    _E.FEDORA: "rpm",
    _E.AMAZON: "rpm",
    _E.ORACLE: "rpm",
    _E.EULEROS: "rpm",
    _E.HCE: "rpm",
    _E.KYLIN: "rpm",
    _E.PYPI: "pep440",
    _E.NPM: "semver",
    _E.CRATES_IO: "semver",
    _E.GO: "go",
    _E.MAVEN: "maven",
    _E.RUBYGEMS: "gem",
    _E.NUGET: "nuget",
    _E.PACKAGIST: "composer",
}
# Ecosystem.UNKNOWN has no ordering on purpose: matching it would be guesswork.
ECOSYSTEM_SCHEMES: Final[MappingProxyType[Ecosystem, VersionScheme]] = MappingProxyType(
    {eco: BY_NAME[name] for eco, name in _NAMES.items()}
)
