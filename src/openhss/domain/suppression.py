"""Suppressions: a statement that a finding does not apply, where it came from, why, and until when.

Every source of "do not report this" (an ignore file today, VEX documents next) produces the same
`Suppression`, so the report shows one list of suppressed findings with their reason whatever the source,
and an expired suppression stops applying the same way everywhere.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openhss.domain.models import Finding
    from openhss.domain.report import ImageReport
    from openhss.domain.vulnerability import VulnerabilityFinding

#: The `kinds` entry for CVE-style vulnerabilities (findings use their `FindingKind` value).
VULNERABILITY = "vulnerability"


@dataclass(frozen=True, slots=True)
class Suppression:
    """One statement. Empty `purls`/`paths` mean "anywhere"; `paths` are globs over finding paths.

    `source` names the producer (`ignorefile`, `vex`) and `origin` the file it was read from, so a user
    who wonders why a CVE vanished can find the line that did it."""

    id: str
    source: str
    origin: str = ""
    statement: str = ""
    purls: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    expires: date | None = None
    #: What the id names: `vulnerability`, or `FindingKind` values (`sensitive-info`, `baseline`, …).
    kinds: frozenset[str] = frozenset({VULNERABILITY})

    def expired(self, today: date) -> bool:
        return self.expires is not None and self.expires < today

    @property
    def expires_text(self) -> str:
        return self.expires.isoformat() if self.expires else ""

    def _where_matches(self, purl: str, path: str) -> bool:
        if self.purls and not any(_purl_matches(p, purl) for p in self.purls):
            return False
        return not self.paths or any(fnmatch.fnmatchcase(path.lstrip("/"), g.lstrip("/")) for g in self.paths)

    def matches_vulnerability(self, v: VulnerabilityFinding) -> bool:
        if VULNERABILITY not in self.kinds or (self.id != v.vul_id and self.id not in v.aliases):
            return False
        return self._where_matches(v.purl, v.path)

    def matches_finding(self, f: Finding) -> bool:
        return f.kind.value in self.kinds and self.id == f.rule_id and self._where_matches("", f.path)


def _purl_matches(wanted: str, purl: str) -> bool:
    """A purl without version matches every version; qualifiers and subpaths are ignored."""
    if not purl:
        return False
    base = purl.split("?", 1)[0].split("#", 1)[0]
    if "@" in wanted:
        return base == wanted.split("?", 1)[0]
    return base.split("@", 1)[0] == wanted


@dataclass(frozen=True, slots=True)
class Suppressed:
    """A finding left out of the report, with the statement that removed it."""

    finding_id: str
    subject: str
    path: str
    suppression: Suppression

    def as_dict(self) -> dict[str, str]:
        return {
            "id": self.finding_id,
            "subject": self.subject,
            "path": self.path,
            "source": self.suppression.source,
            "origin": self.suppression.origin,
            "statement": self.suppression.statement,
            "expires": self.suppression.expires_text,
        }


def apply_suppressions(
    report: ImageReport, suppressions: Sequence[Suppression], today: date
) -> tuple[ImageReport, list[Suppressed]]:
    """The report without the suppressed findings, and what was suppressed by which statement.
    Expired statements are ignored here; callers report them separately (`expired`)."""
    active = [s for s in suppressions if not s.expired(today)]
    if not active:
        return report, []
    gone: list[Suppressed] = []
    kept_v: list[VulnerabilityFinding] = []
    for v in report.vulnerabilities:
        hit = next((s for s in active if s.matches_vulnerability(v)), None)
        if hit is None:
            kept_v.append(v)
        else:
            gone.append(Suppressed(v.vul_id, f"{v.package_name} {v.package_version}", v.path, hit))
    kept_f: list[Finding] = []
    for f in report.findings:
        hit = next((s for s in active if s.matches_finding(f)), None)
        if hit is None:
            kept_f.append(f)
        else:
            gone.append(Suppressed(f.rule_id, f.kind.value, f.path, hit))
    return dataclasses.replace(report, vulnerabilities=kept_v, findings=kept_f), gone


def expired(suppressions: Sequence[Suppression], today: date) -> list[Suppression]:
    return [s for s in suppressions if s.expired(today)]
