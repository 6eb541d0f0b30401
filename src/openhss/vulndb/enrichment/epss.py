"""EPSS scores (FIRST): `cve,epss,percentile` CSV, gzip or plain.

Two layouts are read as they are: FIRST's daily file (`#model_version:…,score_date:…` comment, then a
`cve,epss,percentile` header) and the semicolon-separated crawl of FIRST's API that EMBA publishes (no
header, no date line). Where the file does not state the score date, a `YYYY-MM-DD` in its name does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from openhss.vulndb.enrichment.base import CVE_ID, EnrichmentRow, EnrichmentSource, EpssScore, read_maybe_gzip
from openhss.vulndb.sources.base import Feed, SourceError

EPSS_URL = "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz"
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")
_ROW = re.compile(rb"^CVE-\d{4}-\d{4,}[,;]")


class EpssSource(EnrichmentSource):
    name: ClassVar[str] = "epss"

    def feeds(self) -> list[Feed]:
        return [Feed("epss", EPSS_URL, "epss/epss_scores-current.csv.gz", "epss")]

    def accepts(self, path: Path, head: bytes) -> bool:
        if not path.is_file():
            return False
        if head.startswith(b"\x1f\x8b"):
            return "epss" in path.name.lower()
        first = head.lstrip()
        return first.startswith(b"#model_version") or first.startswith(b"cve,epss") or bool(_ROW.match(first))

    def feed_name(self, path: Path) -> str:
        return "epss"

    def parse(self, path: Path, feed_name: str) -> Iterator[EnrichmentRow]:
        text = read_maybe_gzip(path).decode("utf-8", "replace")
        m = _DATE.search(path.name)
        date = m.group(1) if m else ""
        bad = 0
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                d = re.search(r"score_date:(\d{4}-\d{2}-\d{2})", line)
                date = d.group(1) if d else date
                continue
            parts = re.split(r"[,;]", line)
            if len(parts) < 3 or not CVE_ID.match(parts[0]):
                bad += parts[0].lower() != "cve"
                continue
            try:
                score, pct = float(parts[1]), float(parts[2])
            except ValueError:
                bad += 1
                continue
            if 0.0 <= score <= 1.0 and 0.0 <= pct <= 1.0:
                yield EpssScore(parts[0], score, pct, date)
        if bad > 100:
            raise SourceError(f"{path}: {bad} lines are not `cve,epss,percentile` rows")
