"""The OSV record model (https://ossf.github.io/osv-schema/) and its reduction to `AffectedRecord`s.

Unknown fields are ignored rather than rejected: the schema grows, and one new field in one advisory
must not fail a whole import.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from openhss.domain.advisory import (
    AffectedRange,
    AffectedRecord,
    AffectedStatus,
    EventKind,
    RangeEvent,
    cve_aliases,
    normalize_name,
    normalize_release,
)
from openhss.domain.enums import Ecosystem, Severity
from openhss.vulndb.severity import score_vector, severity_from_word

log = logging.getLogger(__name__)

_ECOSYSTEMS = {e.value.lower(): e for e in Ecosystem if e is not Ecosystem.UNKNOWN}
_VECTOR_PREFERENCE = ("CVSS_V3", "CVSS_V4", "CVSS_V2")
#: Red Hat errata and their rebuilds (ALSA, RLSA, ELSA) state Red Hat's severity rating as the title prefix
#: (`Important: kernel security update`); their OSV exports carry no other rating.
_ERRATA_RATING = re.compile(r"^(Critical|Important|Moderate|Low):\s")
_ERRATA_ECOSYSTEMS = frozenset(
    {Ecosystem.ALMALINUX, Ecosystem.ROCKY, Ecosystem.REDHAT, Ecosystem.CENTOS, Ecosystem.ORACLE}
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class OsvSeverity(_Model):
    type: str
    score: str


class OsvPackage(_Model):
    ecosystem: str
    name: str
    purl: str = ""


class OsvRange(_Model):
    type: str
    repo: str = ""
    events: list[dict[str, str]] = Field(default_factory=list)


class OsvAffected(_Model):
    package: OsvPackage | None = None
    severity: list[OsvSeverity] = Field(default_factory=list)
    ranges: list[OsvRange] = Field(default_factory=list)
    versions: list[str] = Field(default_factory=list)
    ecosystem_specific: dict[str, Any] | None = None
    database_specific: dict[str, Any] | None = None


class OsvReference(_Model):
    type: str = ""
    url: str = ""


class OsvVulnerability(_Model):
    id: str
    modified: str = ""
    published: str = ""
    withdrawn: str = ""
    aliases: list[str] = Field(default_factory=list)
    related: list[str] = Field(default_factory=list)
    summary: str = ""
    details: str = ""
    severity: list[OsvSeverity] = Field(default_factory=list)
    affected: list[OsvAffected] = Field(default_factory=list)
    references: list[OsvReference] = Field(default_factory=list)
    database_specific: dict[str, Any] | None = None


def parse_ecosystem(value: str) -> tuple[Ecosystem, str] | None:
    """`Debian:12` → (DEBIAN, "12"); None for ecosystems openhss has no packages for (Bitnami, Hex …)."""
    head, _, rest = value.partition(":")
    eco = _ECOSYSTEMS.get(head.strip().lower())
    if eco is None:
        return None
    return eco, normalize_release(eco, rest) if rest else ""


def _score(severities: list[OsvSeverity]) -> tuple[float, str]:
    by_type = {s.type.upper(): s.score for s in severities}
    for t in _VECTOR_PREFERENCE:
        vec = by_type.get(t)
        if vec:
            score = score_vector(vec)
            if score is not None:
                return score, vec
    return 0.0, ""


def _word(*specifics: dict[str, Any] | None) -> Severity:
    for spec in specifics:
        if spec and isinstance(spec.get("severity"), str):
            sev = severity_from_word(spec["severity"])
            if sev is not Severity.UNKNOWN:
                return sev
    return Severity.UNKNOWN


def _events(raw: list[dict[str, str]]) -> tuple[RangeEvent, ...]:
    out: list[RangeEvent] = []
    for ev in raw:
        for key, version in ev.items():
            try:
                out.append(RangeEvent(EventKind(key), str(version)))
            except ValueError:
                log.warning("unknown OSV range event %r ignored", key)
    return tuple(out)


def records_from_osv(vuln: OsvVulnerability, source: str) -> list[AffectedRecord]:
    """One record per affected package entry of a supported ecosystem; withdrawn advisories yield none."""
    if vuln.withdrawn:
        return []
    aliases = tuple(dict.fromkeys([*vuln.aliases, *cve_aliases([vuln.id])]))
    aliases = tuple(a for a in aliases if a != vuln.id)
    top_score, top_vector = _score(vuln.severity)
    urls = tuple(r.url for r in vuln.references if r.url)[:10]
    summary = vuln.summary or vuln.details[:300]
    records: list[AffectedRecord] = []
    for aff in vuln.affected:
        if aff.package is None:
            continue
        parsed = parse_ecosystem(aff.package.ecosystem)
        if parsed is None:
            continue
        eco, release = parsed
        ranges: list[AffectedRange] = []
        for rng in aff.ranges:
            kind = rng.type.upper()
            if kind == "GIT":
                log.debug("%s: GIT range ignored (commit ranges need the source tree)", vuln.id)
                continue
            if kind not in ("ECOSYSTEM", "SEMVER"):
                log.warning("%s: unsupported range type %s ignored", vuln.id, rng.type)
                continue
            ranges.append(AffectedRange(kind, _events(rng.events)))
        if not ranges and not aff.versions:
            continue
        score, vector = _score(aff.severity) if aff.severity else (top_score, top_vector)
        severity = Severity.from_score(score) if vector else Severity.UNKNOWN
        if severity is Severity.UNKNOWN:
            severity = _word(aff.ecosystem_specific, aff.database_specific, vuln.database_specific)
        if severity is Severity.UNKNOWN:
            # distro ratings ride in `severity` with a non-CVSS type (Ubuntu: type "Ubuntu", score "medium")
            words = [
                s.score for s in [*aff.severity, *vuln.severity] if not s.type.upper().startswith("CVSS")
            ]
            severity = next(
                (w for w in map(severity_from_word, words) if w is not Severity.UNKNOWN), severity
            )
        if severity is Severity.UNKNOWN and eco in _ERRATA_ECOSYSTEMS:
            m = _ERRATA_RATING.match(vuln.summary)
            severity = severity_from_word(m.group(1)) if m else severity
        records.append(
            AffectedRecord(
                advisory_id=vuln.id,
                ecosystem=eco,
                release=release,
                name=normalize_name(eco, aff.package.name),
                ranges=tuple(ranges),
                versions=tuple(aff.versions),
                status=AffectedStatus.AFFECTED,
                aliases=aliases,
                severity=severity,
                cvss_score=score,
                cvss_vector=vector,
                summary=summary,
                urls=urls,
                published=vuln.published,
                source=source,
            )
        )
    return records
