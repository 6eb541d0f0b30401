"""nodejs/security-wg `vuln/npm/<n>.json`: the legacy npm advisories (NSWG-ECO-<n>), semver ranges.

`vuln/core/` (Node.js itself) and `vuln/deps/` are left out: they describe the node runtime and its
bundled libraries, which openhss does not inventory as npm packages, so they could never match.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, ClassVar

from openhss.domain.advisory import AffectedRecord, AffectedStatus
from openhss.domain.enums import Ecosystem, Severity
from openhss.domain.version import InvalidVersion
from openhss.domain.version.semver import Comparator, parse_range
from openhss.vulndb.severity import score_vector
from openhss.vulndb.sources.intervals import EVERYTHING, Interval, intersect, to_osv
from openhss.vulndb.sources.native_files import NativeRepositorySource

log = logging.getLogger(__name__)
LAYOUT = re.compile(r"(?:^|/)vuln/npm/\d+\.json$")


def _next_after(version: str) -> str | None:
    """The least semver above `version`: `1.2.3` → `1.2.4-0`, `1.2.3-rc.1` → `1.2.3-rc.1.0`."""
    main, dash, _ = version.partition("-")
    if dash:
        return f"{version}.0"
    parts = main.split(".")
    return f"{parts[0]}.{parts[1]}.{int(parts[2]) + 1}-0" if len(parts) == 3 and parts[2].isdigit() else None


def _interval(comp: Comparator) -> Interval:
    if comp.semver is None:
        return EVERYTHING
    v = comp.semver.version
    k = comp.semver.key
    op = comp.operator
    if op in ("", "="):
        return Interval((k, 0, v), (k, 1, v))
    if op == ">=":
        return Interval((k, 0, v), None)
    if op == ">":
        return Interval((k, 1, v), None)
    if op == "<":
        return Interval(None, (k, 0, v))
    return Interval(None, (k, 1, v))  # <=


def npm_intervals(expression: str) -> list[Interval]:
    """A node-semver range (`>= 5.2.1 <= 6.0.0 || >=6.0.0 <= 6.0.2`) as intervals."""
    out: list[Interval] = []
    for comps in parse_range(expression).set:
        current = EVERYTHING
        for c in comps:
            current = intersect(current, _interval(c))
        if not current.empty():
            out.append(current)
    return out


def records_from_npm(doc: dict[str, Any], feed_name: str) -> list[AffectedRecord]:
    name = str(doc.get("module_name") or "").strip()
    expression = str(doc.get("vulnerable_versions") or "").strip()
    if not name or not expression or doc.get("id") is None:
        return []
    try:
        ranges, versions, skipped = to_osv(npm_intervals(expression), _next_after)
    except InvalidVersion as exc:
        log.warning("NSWG-ECO-%s: vulnerable_versions %r unreadable (%s)", doc.get("id"), expression, exc)
        return []
    if skipped:
        log.warning("NSWG-ECO-%s: %d range(s) not representable", doc.get("id"), skipped)
    if not ranges and not versions:
        return []
    vector = str(doc.get("cvss_vector") or "")
    score = score_vector(vector) if vector else None
    cves = [str(c) for c in doc.get("cves") or [] if str(c).startswith("CVE-")]
    return [
        AffectedRecord(
            advisory_id=f"NSWG-ECO-{doc['id']}",
            ecosystem=Ecosystem.NPM,
            release="",
            name=name,
            ranges=ranges,
            versions=versions,
            status=AffectedStatus.AFFECTED,
            aliases=tuple(cves),
            severity=Severity.from_score(score) if score else Severity.UNKNOWN,
            cvss_score=score or 0.0,
            cvss_vector=vector if score else "",
            summary=str(doc.get("title") or doc.get("overview") or "")[:300],
            urls=tuple(str(u) for u in doc.get("references") or [] if isinstance(u, str))[:10],
            published=str(doc.get("publish_date") or doc.get("created_at") or ""),
            source=feed_name,
        )
    ]


class NodejsSecurityWgSource(NativeRepositorySource):
    """A frozen archive (npm's advisories moved to GHSA): offline import only."""

    name: ClassVar[str] = "nodejs-security-wg:npm"
    layout: ClassVar[re.Pattern[str]] = LAYOUT
    marker: ClassVar[bytes] = b'"module_name"'

    def records(self, member: str, data: bytes, feed_name: str) -> list[AffectedRecord] | None:
        try:
            doc = json.loads(data)
        except ValueError:
            return None
        return records_from_npm(doc, feed_name) if isinstance(doc, dict) else None
