"""Alpine secdb (`https://secdb.alpinelinux.org/v3.18/main.json`): fixed versions per package per release.

A secfix at version `0` means the release was never affected; that suppresses the finding.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from openhss.domain.advisory import (
    AffectedRange,
    AffectedRecord,
    AffectedStatus,
    EventKind,
    RangeEvent,
    normalize_release,
)
from openhss.domain.enums import Ecosystem
from openhss.vulndb.sources.base import MAX_DOCUMENT_BYTES, AdvisorySource, Feed, SourceError

SECDB_BASE = "https://secdb.alpinelinux.org"
RELEASES = (*(f"v3.{n}" for n in range(12, 23)), "edge")
_ID = re.compile(r"(?:CVE-\d{4}-\d{4,}|[A-Z]+-[\w.-]+)")


def records_from_secdb(doc: dict[str, Any], feed_name: str) -> Iterator[AffectedRecord]:
    release = normalize_release(Ecosystem.ALPINE, str(doc.get("distroversion") or ""))
    for entry in doc.get("packages") or []:
        pkg = entry.get("pkg") if isinstance(entry, dict) else None
        if not isinstance(pkg, dict) or not isinstance(pkg.get("secfixes"), dict):
            continue
        name = str(pkg.get("name") or "")
        for version, ids in pkg["secfixes"].items():
            for raw in ids or []:
                for vid in _ID.findall(str(raw)):
                    if str(version) == "0":
                        yield AffectedRecord(
                            advisory_id=vid, ecosystem=Ecosystem.ALPINE, release=release, name=name,
                            status=AffectedStatus.NOT_AFFECTED, reason="not-affected: secfix at version 0",
                            source=feed_name,
                        )  # fmt: skip
                        continue
                    yield AffectedRecord(
                        advisory_id=vid,
                        ecosystem=Ecosystem.ALPINE,
                        release=release,
                        name=name,
                        ranges=(
                            AffectedRange(
                                "ECOSYSTEM",
                                (
                                    RangeEvent(EventKind.INTRODUCED, "0"),
                                    RangeEvent(EventKind.FIXED, str(version)),
                                ),
                            ),
                        ),
                        status=AffectedStatus.FIXED,
                        source=feed_name,
                    )


class AlpineSecdbSource(AdvisorySource):
    name: ClassVar[str] = "alpine-secdb"

    def feeds(self) -> list[Feed]:
        return [
            Feed(
                f"alpine:{rel}/{repo}",
                f"{SECDB_BASE}/{rel}/{repo}.json",
                f"alpine/{rel}/{repo}.json",
                "Alpine",
            )
            for rel in RELEASES
            for repo in ("main", "community")
        ]

    def accepts(self, path: Path, head: bytes) -> bool:
        return path.is_file() and b'"distroversion"' in head[:4096]

    def feed_name(self, path: Path) -> str:
        return f"alpine:{path.parent.name}/{path.stem}"

    def parse(self, path: Path, feed_name: str) -> Iterator[AffectedRecord]:
        if path.stat().st_size > MAX_DOCUMENT_BYTES:
            raise SourceError(f"{path}: larger than {MAX_DOCUMENT_BYTES} bytes")
        try:
            doc = json.loads(path.read_bytes())
        except ValueError as exc:
            raise SourceError(f"{path}: not JSON ({exc})") from exc
        if not isinstance(doc, dict):
            raise SourceError(f"{path}: not an Alpine secdb document")
        return records_from_secdb(doc, feed_name)
