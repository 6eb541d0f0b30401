"""NVD CVE API 2.0 JSON feeds (`nvdcve-2.0-<year>.json.gz`, `-modified`): NVD's primary CVSS per CVE.

Online the yearly files are large (the full set is several GB unpacked), so they are fetched only when
asked for (`openhss db update -e nvd`); offline, any of those files (gzip or plain) is imported as is.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from openhss.vulndb.enrichment.base import (
    CVE_ID,
    RANK_NVD,
    CveScore,
    EnrichmentRow,
    EnrichmentSource,
    read_maybe_gzip,
)
from openhss.vulndb.sources.base import Feed, SourceError

NVD_FEED_BASE = "https://nvd.nist.gov/feeds/json/cve/2.0"
_METRIC_KEYS = ("cvssMetricV31", "cvssMetricV30", "cvssMetricV40", "cvssMetricV2")


def _primary(metrics: dict[str, Any]) -> tuple[float, str] | None:
    """NVD's own (`type: Primary`) metric, in the v3.1 → v3.0 → v4.0 → v2 preference."""
    for key in _METRIC_KEYS:
        for m in metrics.get(key) or []:
            if not isinstance(m, dict) or str(m.get("type", "")).lower() != "primary":
                continue
            data = m.get("cvssData") or {}
            score = data.get("baseScore")
            if isinstance(score, int | float) and 0.0 < float(score) <= 10.0:
                return float(score), str(data.get("vectorString") or "")
    return None


def scores_from_feed(doc: dict[str, Any]) -> Iterator[CveScore]:
    for item in doc.get("vulnerabilities") or []:
        cve = item.get("cve") if isinstance(item, dict) else None
        if not isinstance(cve, dict):
            continue
        cid = str(cve.get("id") or "")
        if not CVE_ID.match(cid) or str(cve.get("vulnStatus", "")).lower() == "rejected":
            continue
        best = _primary(cve.get("metrics") or {})
        if best:
            yield CveScore(cid, "nvd", RANK_NVD, best[0], best[1])


class NvdSource(EnrichmentSource):
    name: ClassVar[str] = "nvd"

    def feeds(self) -> list[Feed]:
        years = range(2002, dt.datetime.now(dt.UTC).year + 1)
        return [
            Feed(f"nvd:{y}", f"{NVD_FEED_BASE}/nvdcve-2.0-{y}.json.gz", f"nvd/nvdcve-2.0-{y}.json.gz", "nvd",
                 default=False)
            for y in years
        ]  # fmt: skip

    def accepts(self, path: Path, head: bytes) -> bool:
        if not path.is_file():
            return False
        if head.startswith(b"\x1f\x8b"):
            return path.name.startswith("nvdcve-2.0")
        return b'"NVD_CVE"' in head[:4096] or (b'"vulnerabilities"' in head[:4096] and b'"cve"' in head)

    def feed_name(self, path: Path) -> str:
        stem = path.name.removesuffix(".gz").removesuffix(".json").removeprefix("nvdcve-2.0-")
        return f"nvd:{stem}"

    def parse(self, path: Path, feed_name: str) -> Iterator[EnrichmentRow]:
        try:
            doc = json.loads(read_maybe_gzip(path))
        except ValueError as exc:
            raise SourceError(f"{path}: not JSON ({exc})") from exc
        if not isinstance(doc, dict):
            raise SourceError(f"{path}: not an NVD CVE 2.0 feed")
        return scores_from_feed(doc)
