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

from openhss.domain.enums import Ecosystem, Severity

_PEP503 = re.compile(r"[-_.]+")
_CVE = re.compile(r"CVE-\d{4}-\d{4,}")
_DEBIAN_CODENAMES = {
    "buzz": "1.1",
    "hamm": "2",
    "potato": "2.2",
    "woody": "3",
    "sarge": "3.1",
    "etch": "4",
    "lenny": "5",
    "squeeze": "6",
    "wheezy": "7",
    "jessie": "8",
    "stretch": "9",
    "buster": "10",
    "bullseye": "11",
    "bookworm": "12",
    "trixie": "13",
    "forky": "14",
    "duke": "15",
    "sid": "unstable",
    "unstable": "unstable",
}


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


_RELEASE_MAJOR = {
    Ecosystem.ALMALINUX,
    Ecosystem.ROCKY,
    Ecosystem.REDHAT,
    Ecosystem.CENTOS,
    Ecosystem.ORACLE,
    Ecosystem.FEDORA,
    Ecosystem.AMAZON,
}


def normalize_release(ecosystem: Ecosystem, release: str) -> str:
    """One spelling per distro release, whichever source or os-release field it came from.

    Debian: codename or number → major number (`bookworm`, `12.5` → `12`). Ubuntu: `22.04`
    (`Ubuntu:22.04:LTS` → `22.04`; Ubuntu Pro/ESM streams keep a `pro:` prefix so their `+esm` fixes are not
    offered to plain images). Alpine: `v3.18.4` → `3.18`. RHEL family: major (`el9`, `9.3` → `9`).
    Others keep their text, lower-cased.
    """
    rel = release.strip()
    low = rel.lower()
    if ecosystem is Ecosystem.DEBIAN:
        if low in _DEBIAN_CODENAMES:
            return _DEBIAN_CODENAMES[low]
        return low.split(".", 1)[0] if low[:1].isdigit() else low
    if ecosystem is Ecosystem.UBUNTU:
        parts = [p for p in low.split(":") if p]
        prefix = "pro:" if "pro" in parts else ""
        m = re.search(r"\d+\.\d+", low)
        return prefix + (m.group(0) if m else low)
    if ecosystem in (Ecosystem.ALPINE, Ecosystem.WOLFI, Ecosystem.CHAINGUARD):
        m = re.search(r"\d+\.\d+", low)
        return m.group(0) if m else low.lstrip("v")
    if ecosystem in _RELEASE_MAJOR:
        m = re.search(r"\d+", low)
        return m.group(0) if m else low
    if ecosystem is Ecosystem.OPENEULER:
        return re.sub(r"[\s()]+", "-", low).strip("-")
    if ecosystem is Ecosystem.SUSE:
        return _suse_release(low)
    if ecosystem is Ecosystem.OPENSUSE:
        return _opensuse_release(low)
    return low


def _suse_release(low: str) -> str:
    """OSV names SUSE products with service packs (`Linux Enterprise Server 15 SP3`); os-release has
    `15.3`. Every SLE 15 SP3 product and module ships the same package builds, so they share one key
    (`sle:15.3`); the Micro lines are separate products (`sle-micro:5.3`, `sl-micro:6.0`)."""
    m = re.search(r"(\d+)(?:\.(\d+))?(?:\s*sp(\d+))?", low)
    if not m:
        return low
    major, minor, sp = m.groups()
    if "micro" in low:
        product = "sle-micro" if "enterprise" in low else "sl-micro"
        return f"{product}:{major}.{minor or 0}"
    point = sp or minor
    return f"sle:{major}.{point}" if point and point != "0" else f"sle:{major}"


def _opensuse_release(low: str) -> str:
    """`Leap 15.5` → `15.5` (a beta's `15.2.1` → `15.2`), `Leap Micro 5.5` → `leap-micro:5.5`,
    `Tumbleweed` (rolling) → `tumbleweed`."""
    if "tumbleweed" in low:
        return "tumbleweed"
    m = re.search(r"\d+\.\d+", low)
    if not m:
        return low
    return f"leap-micro:{m.group(0)}" if "micro" in low else m.group(0)


def cve_aliases(ids: Iterable[str]) -> tuple[str, ...]:
    """CVE ids embedded in other ids (`UBUNTU-CVE-2020-1`, `DEBIAN-CVE-…`), so they group with the CVE."""
    found: list[str] = []
    for i in ids:
        found.extend(_CVE.findall(i.upper()))
    return tuple(dict.fromkeys(found))
