"""rubysec/ruby-advisory-db `gems/<gem>/<id>.yml`: affected = not (patched ∪ unaffected).

`rubies/` (MRI/JRuby/TruffleRuby interpreters) is left out: interpreters are OS or runtime packages, never
gems in an inventory, so those records could never match.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

from openhss.domain.advisory import AffectedRecord, AffectedStatus
from openhss.domain.enums import Ecosystem, Severity
from openhss.domain.version import InvalidVersion, scheme_for
from openhss.vulndb.sources.intervals import Interval, all_of, complement, constraint, to_osv
from openhss.vulndb.sources.native_files import NativeRepositorySource, load_yaml

log = logging.getLogger(__name__)
LAYOUT = re.compile(r"(?:^|/)gems/[^/]+/[^/]+\.ya?ml$")
_NUMERIC = re.compile(r"^\d+(\.\d+)*$")


def _next_after(version: str) -> str | None:
    """A version just above `version` in RubyGems order (`1.2` → `1.2.0.0.1`): nothing released lies
    between them, so `> 1.2` is exact in practice."""
    return f"{version}.0.0.1" if _NUMERIC.match(version) else None


def _score(doc: dict[str, Any]) -> float:
    for key in ("cvss_v4", "cvss_v3", "cvss_v2"):
        try:
            score = float(str(doc.get(key) or ""))
        except ValueError:
            continue
        if 0.0 < score <= 10.0:
            return score
    return 0.0


def records_from_rubysec(doc: dict[str, Any], advisory_id: str, feed_name: str) -> list[AffectedRecord]:
    gem = str(doc.get("gem") or "").strip()
    if not gem:
        return []
    key = scheme_for(Ecosystem.RUBYGEMS).key
    not_affected: list[Interval] = []
    try:
        for field in ("patched_versions", "unaffected_versions"):
            for requirement in doc.get(field) or []:
                not_affected.extend(all_of(constraint(c, key) for c in str(requirement).split(",")))
        ranges, versions, skipped = to_osv(complement(not_affected), _next_after)
    except (ValueError, InvalidVersion) as exc:
        log.warning("%s: version requirements unreadable (%s)", advisory_id, exc)
        return []
    if skipped:
        log.warning("%s: %d range(s) not representable", advisory_id, skipped)
    if not ranges and not versions:
        return []
    cve = str(doc.get("cve") or "").strip()
    ghsa = str(doc.get("ghsa") or "").strip()
    aliases = [
        a for a in (f"CVE-{cve}" if cve else "", f"GHSA-{ghsa}" if ghsa else "") if a and a != advisory_id
    ]
    score = _score(doc)
    return [
        AffectedRecord(
            advisory_id=advisory_id,
            ecosystem=Ecosystem.RUBYGEMS,
            release="",
            name=gem,
            ranges=ranges,
            versions=versions,
            status=AffectedStatus.AFFECTED,
            aliases=tuple(aliases),
            severity=Severity.from_score(score),
            cvss_score=score,
            summary=str(doc.get("title") or "")[:300],
            urls=tuple(u for u in (str(doc.get("url") or ""),) if u),
            published=str(doc.get("date") or ""),
            source=feed_name,
        )
    ]


class RubysecSource(NativeRepositorySource):
    name: ClassVar[str] = "rubysec"
    layout: ClassVar[re.Pattern[str]] = LAYOUT
    marker: ClassVar[bytes] = b"gem:"

    def records(self, member: str, data: bytes, feed_name: str) -> list[AffectedRecord] | None:
        doc = load_yaml(data)
        if not isinstance(doc, dict):
            return None
        return records_from_rubysec(doc, member.rsplit("/", 1)[-1].rsplit(".", 1)[0], feed_name)
