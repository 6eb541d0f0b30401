"""Debian security tracker JSON (`https://security-tracker.debian.org/tracker/data/json`).

The tracker is keyed by source package and gives, per release, the distro's own verdict: this is what
catches backports (a fix carried in `1.2-3+deb12u1` although upstream says "fixed in 1.3") and what
reports `unfixed`/`no-dsa` issues with no fixed version instead of dropping them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from openhss.domain.advisory import (
    AffectedRange,
    AffectedRecord,
    AffectedStatus,
    EventKind,
    RangeEvent,
    cve_aliases,
    normalize_release,
)
from openhss.domain.enums import Ecosystem
from openhss.vulndb.severity import severity_from_word
from openhss.vulndb.sources.base import MAX_DOCUMENT_BYTES, AdvisorySource, Feed, SourceError

_NOT_AFFECTED = "not-affected: the release never shipped the vulnerable code"
TRACKER_URL = "https://security-tracker.debian.org/tracker/data/json"


def _verdict(info: dict[str, Any]) -> tuple[AffectedStatus, str, str]:
    """(status, fixed version, reason) of one release entry."""
    status = str(info.get("status", ""))
    fixed = str(info.get("fixed_version") or "")
    urgency = str(info.get("urgency") or "")
    nodsa = str(info.get("nodsa_reason") or "")
    if status == "resolved":
        if fixed == "0":
            return (
                AffectedStatus.NOT_AFFECTED,
                "",
                _NOT_AFFECTED,
            )
        return AffectedStatus.FIXED, fixed, ""
    if nodsa == "ignored" or urgency == "end-of-life":
        return AffectedStatus.WONT_FIX, "", f"no-dsa: {nodsa or urgency}"
    if nodsa:
        return AffectedStatus.UNFIXED, "", f"no-dsa: {nodsa}"
    return AffectedStatus.UNFIXED, "", status if status != "open" else ""


def records_from_tracker(doc: dict[str, Any], feed_name: str) -> Iterator[AffectedRecord]:
    for package, issues in doc.items():
        if not isinstance(issues, dict):
            continue
        for issue_id, issue in issues.items():
            if not isinstance(issue, dict):
                continue
            aliases = tuple(a for a in cve_aliases([issue_id]) if a != issue_id)
            for codename, info in (issue.get("releases") or {}).items():
                if not isinstance(info, dict):
                    continue
                status, fixed, reason = _verdict(info)
                ranges: tuple[AffectedRange, ...] = ()
                if status is AffectedStatus.FIXED:
                    ranges = (
                        AffectedRange(
                            "ECOSYSTEM",
                            (RangeEvent(EventKind.INTRODUCED, "0"), RangeEvent(EventKind.FIXED, fixed)),
                        ),
                    )
                yield AffectedRecord(
                    advisory_id=issue_id,
                    ecosystem=Ecosystem.DEBIAN,
                    release=normalize_release(Ecosystem.DEBIAN, codename),
                    name=package,
                    ranges=ranges,
                    status=status,
                    reason=reason,
                    aliases=aliases,
                    severity=severity_from_word(str(info.get("urgency") or "")),
                    summary=str(issue.get("description") or "")[:300],
                    urls=(f"https://security-tracker.debian.org/tracker/{issue_id}",),
                    source=feed_name,
                )


class DebianTrackerSource(AdvisorySource):
    name: ClassVar[str] = "debian-tracker"

    def feeds(self) -> list[Feed]:
        return [Feed("debian-tracker", TRACKER_URL, "debian/tracker.json", "Debian")]

    def accepts(self, path: Path, head: bytes) -> bool:
        # the tracker document is `{"<source package>": {"CVE-…": {…"releases"…`
        text = head[:4096].decode("utf-8", "replace")
        return (
            path.is_file()
            and text.lstrip().startswith("{")
            and '"releases"' in text
            and '"id"' not in text[:64]
        )

    def feed_name(self, path: Path) -> str:
        return "debian-tracker"

    def parse(self, path: Path, feed_name: str) -> Iterator[AffectedRecord]:
        if path.stat().st_size > 4 * MAX_DOCUMENT_BYTES:
            raise SourceError(f"{path}: larger than {4 * MAX_DOCUMENT_BYTES} bytes")
        try:
            doc = json.loads(path.read_bytes())
        except ValueError as exc:
            raise SourceError(f"{path}: not JSON ({exc})") from exc
        if not isinstance(doc, dict):
            raise SourceError(f"{path}: not a Debian security tracker document")
        return records_from_tracker(doc, feed_name)


class DebianOsvSource(AdvisorySource):
    """Debian's OSV export (DSA/DLA/DEBIAN-CVE); offline copies are imported by the OSV source."""

    name: ClassVar[str] = "debian-osv"

    def feeds(self) -> list[Feed]:
        from openhss.vulndb.sources.osv import osv_feed

        return [osv_feed("Debian")]

    def accepts(self, path: Path, head: bytes) -> bool:
        return False

    def feed_name(self, path: Path) -> str:
        return "osv:Debian"

    def parse(self, path: Path, feed_name: str) -> Iterator[AffectedRecord]:
        from openhss.vulndb.sources.osv import parse_osv_documents

        return parse_osv_documents(path, feed_name)
