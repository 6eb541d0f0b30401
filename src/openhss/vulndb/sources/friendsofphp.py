"""FriendsOfPHP/security-advisories `<vendor>/<package>/<id>.yaml`: one interval per branch."""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

from openhss.domain.advisory import AffectedRecord, AffectedStatus, normalize_name
from openhss.domain.enums import Ecosystem, Severity
from openhss.domain.version import InvalidVersion, scheme_for
from openhss.vulndb.sources.intervals import Interval, all_of, constraint, to_osv
from openhss.vulndb.sources.native_files import NativeRepositorySource, load_yaml

log = logging.getLogger(__name__)
LAYOUT = re.compile(r"(?:^|/)[^/.][^/]*/[^/]+/[^/]+\.yaml$")
_REFERENCE = re.compile(r"^composer://([^/\s]+/[^/\s]+)$")


def _next_after(version: str) -> str | None:
    """Composer normalises to four numeric parts, so the least version above `1.2` is `1.2.0.1`."""
    parts = version.lstrip("v").split(".")
    if not all(p.isdigit() for p in parts) or len(parts) > 4:
        return None
    parts += ["0"] * (4 - len(parts))
    parts[3] = str(int(parts[3]) + 1)
    return ".".join(parts)


def records_from_friendsofphp(doc: dict[str, Any], advisory_id: str, feed_name: str) -> list[AffectedRecord]:
    m = _REFERENCE.match(str(doc.get("reference") or "").strip())
    branches = doc.get("branches")
    if not m or not isinstance(branches, dict):
        return []
    key = scheme_for(Ecosystem.PACKAGIST).key
    affected: list[Interval] = []
    try:
        for branch in branches.values():
            if isinstance(branch, dict):
                affected.extend(all_of(constraint(c, key) for c in branch.get("versions") or []))
        ranges, versions, skipped = to_osv(affected, _next_after)
    except (ValueError, InvalidVersion) as exc:
        log.warning("%s: branch versions unreadable (%s)", advisory_id, exc)
        return []
    if skipped:
        log.warning("%s: %d range(s) not representable", advisory_id, skipped)
    if not ranges and not versions:
        return []
    cve = str(doc.get("cve") or "").strip()
    return [
        AffectedRecord(
            advisory_id=advisory_id,
            ecosystem=Ecosystem.PACKAGIST,
            release="",
            name=normalize_name(Ecosystem.PACKAGIST, m.group(1)),
            ranges=ranges,
            versions=versions,
            status=AffectedStatus.AFFECTED,
            aliases=(cve,) if cve.startswith("CVE-") and cve != advisory_id else (),
            severity=Severity.UNKNOWN,
            summary=str(doc.get("title") or "")[:300],
            urls=tuple(u for u in (str(doc.get("link") or ""),) if u),
            source=feed_name,
        )
    ]


class FriendsOfPhpSource(NativeRepositorySource):
    name: ClassVar[str] = "friendsofphp"
    layout: ClassVar[re.Pattern[str]] = LAYOUT
    marker: ClassVar[bytes] = b"composer://"

    def records(self, member: str, data: bytes, feed_name: str) -> list[AffectedRecord] | None:
        doc = load_yaml(data)
        if not isinstance(doc, dict):
            return None
        cve = str(doc.get("cve") or "").strip()
        # The file name is the advisory's own id (`CVE-…` or a date); a date alone is not unique.
        own = "/".join(member.rsplit("/", 3)[-3:]).removesuffix(".yaml")
        return records_from_friendsofphp(
            doc, cve if cve.startswith("CVE-") else f"FRIENDSOFPHP-{own}", feed_name
        )
