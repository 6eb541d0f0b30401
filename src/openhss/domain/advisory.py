"""Advisory value types shared by the advisory store (vulndb/) and the matcher (scan/matcher/).

They live in `domain/` so the matcher depends on an `AdvisoryIndex` protocol and never on the store:
`scan/` may only import `domain/`. One `AffectedRecord` is one advisory's verdict on one package of one
ecosystem release, already reduced to what matching needs (events, explicit versions, distro status).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from openhss.domain.distros.registry import distro_of
from openhss.domain.enums import Ecosystem, Severity

_PEP503 = re.compile(r"[-_.]+")
_CVE = re.compile(r"CVE-\d{4}-\d{4,}")


class AffectedStatus(StrEnum):
    """The verdict an advisory gives for a package in one release.

    `affected` is an OSV range record (the ranges decide); the rest are distro verdicts: `fixed` (a fixed
    version exists; versions below it are affected), `unfixed` (every version affected, no fix yet),
    `wont-fix` (the distro will not fix it: reported with an empty fixed version), `not-affected` (the
    release never carried the flaw: suppresses the finding, with the reason kept for the audit trail).
    """

    AFFECTED = "affected"
    FIXED = "fixed"
    UNFIXED = "unfixed"
    WONT_FIX = "wont-fix"
    NOT_AFFECTED = "not-affected"


class EventKind(StrEnum):
    INTRODUCED = "introduced"
    FIXED = "fixed"
    LAST_AFFECTED = "last_affected"
    LIMIT = "limit"


@dataclass(frozen=True, slots=True)
class RangeEvent:
    kind: EventKind
    version: str


@dataclass(frozen=True, slots=True)
class AffectedRange:
    """One OSV range; `type` is `ECOSYSTEM` or `SEMVER` (GIT ranges are dropped on import)."""

    type: str
    events: tuple[RangeEvent, ...]


@dataclass(frozen=True, slots=True)
class AffectedRecord:
    """One advisory × one (ecosystem, release, normalised package name)."""

    advisory_id: str
    ecosystem: Ecosystem
    release: str
    name: str
    ranges: tuple[AffectedRange, ...] = ()
    versions: tuple[str, ...] = ()
    status: AffectedStatus = AffectedStatus.AFFECTED
    reason: str = ""
    aliases: tuple[str, ...] = ()
    severity: Severity = Severity.UNKNOWN
    cvss_score: float = 0.0
    cvss_vector: str = ""
    summary: str = ""
    urls: tuple[str, ...] = ()
    published: str = ""
    source: str = ""
    #: Who rated `severity` (see README "Severity"): `advisory:<feed>`, `alias:<id>`, `nvd`,
    #: `cve5:cna:<org>`, `cve5:adp:<org>`, or `none` when no score exists anywhere. Set by the store.
    severity_source: str = ""
    epss: float | None = None
    epss_percentile: float | None = None
    epss_date: str = ""
    kev_date_added: str = ""
    kev_due_date: str = ""

    @property
    def fixed_versions(self) -> tuple[str, ...]:
        return tuple(e.version for r in self.ranges for e in r.events if e.kind is EventKind.FIXED)


class AdvisoryIndex(Protocol):
    """What the matcher needs from an advisory store: every record for one package key."""

    def lookup(self, ecosystem: Ecosystem, release: str, name: str) -> tuple[AffectedRecord, ...]:
        """Records for an already-normalised name (see `normalize_name`); empty when none."""
        ...


def normalize_name(ecosystem: Ecosystem, name: str) -> str:
    """The key a package name is stored and looked up under, per the ecosystem's own equality rules.

    PyPI names compare per PEP 503; Packagist, NuGet and Composer names are case-insensitive; Maven
    coordinates, Go module paths, npm and crates.io names and distro package names are case-sensitive
    and kept as-is.
    """
    name = name.strip()
    if ecosystem is Ecosystem.PYPI:
        return _PEP503.sub("-", name).lower()
    if ecosystem in (Ecosystem.PACKAGIST, Ecosystem.NUGET):
        return name.lower()
    return name


def normalize_release(ecosystem: Ecosystem, release: str) -> str:
    """One spelling per distro release, whichever source or os-release field it came from: the
    distro descriptor's rule (`domain/distros/`); other ecosystems keep their text, lower-cased."""
    low = release.strip().lower()
    distro = distro_of(ecosystem)
    return distro.release(low) if distro is not None else low


def cve_aliases(ids: Iterable[str]) -> tuple[str, ...]:
    """CVE ids embedded in other ids (`UBUNTU-CVE-2020-1`, `DEBIAN-CVE-…`), so they group with the CVE."""
    found: list[str] = []
    for i in ids:
        found.extend(_CVE.findall(i.upper()))
    return tuple(dict.fromkeys(found))
