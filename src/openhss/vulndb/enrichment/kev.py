"""CISA Known Exploited Vulnerabilities catalogue (the JSON file, as published or carried in)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from openhss.vulndb.enrichment.base import CVE_ID, EnrichmentRow, EnrichmentSource, KevEntry, read_maybe_gzip
from openhss.vulndb.sources.base import Feed, SourceError

KEV_URL = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"


class KevSource(EnrichmentSource):
    name: ClassVar[str] = "kev"

    def feeds(self) -> list[Feed]:
        return [Feed("kev", KEV_URL, "kev/known_exploited_vulnerabilities.json", "kev")]

    def accepts(self, path: Path, head: bytes) -> bool:
        text = head[:4096]
        return path.is_file() and b'"catalogVersion"' in text and b'"vulnerabilities"' in head

    def feed_name(self, path: Path) -> str:
        return "kev"

    def parse(self, path: Path, feed_name: str) -> Iterator[EnrichmentRow]:
        try:
            doc = json.loads(read_maybe_gzip(path))
        except ValueError as exc:
            raise SourceError(f"{path}: not JSON ({exc})") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("vulnerabilities"), list):
            raise SourceError(f"{path}: not a KEV catalogue")
        for v in doc["vulnerabilities"]:
            if isinstance(v, dict) and CVE_ID.match(str(v.get("cveID") or "")):
                yield KevEntry(str(v["cveID"]), str(v.get("dateAdded") or ""), str(v.get("dueDate") or ""))
