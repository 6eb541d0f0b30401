"""CVE JSON 5 records (CVE Program `cvelistV5`, CISA vulnrichment): CVSS of the CNA and ADP containers.

Offline only: the full list is a multi-GB repository, so a site carries in a zip or a checkout of the
records it wants (e.g. vulnrichment). Accepted: a zip of `CVE-*.json` entries, a directory tree of them,
or one record file. REJECTED records and containers without CVSS yield nothing.
"""

from __future__ import annotations

import json
import logging
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from openhss.vulndb.enrichment.base import (
    CVE_ID,
    RANK_ADP,
    RANK_CNA,
    CveScore,
    EnrichmentRow,
    EnrichmentSource,
)
from openhss.vulndb.severity import score_vector
from openhss.vulndb.sources.base import MAX_DOCUMENT_BYTES, Feed, SourceError

log = logging.getLogger(__name__)

#: v3.x before v4.0 before v2: the same preference the OSV reader applies to advisory vectors.
_METRIC_KEYS = ("cvssV3_1", "cvssV3_0", "cvssV4_0", "cvssV2_0")


def _is_record_name(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.endswith(".json") and bool(CVE_ID.match(base[:-5]))


def _best_metric(metrics: Any) -> tuple[float, str] | None:
    if not isinstance(metrics, list):
        return None
    found: dict[str, tuple[float, str]] = {}
    for m in metrics:
        if not isinstance(m, dict):
            continue
        for key in _METRIC_KEYS:
            data = m.get(key)
            if not isinstance(data, dict) or key in found:
                continue
            vector = str(data.get("vectorString") or "")
            raw = data.get("baseScore")
            score = float(raw) if isinstance(raw, int | float) else score_vector(vector)
            if score is not None and 0.0 < score <= 10.0:
                found[key] = (score, vector)
    return next((found[k] for k in _METRIC_KEYS if k in found), None)


def scores_from_record(doc: dict[str, Any]) -> Iterator[CveScore]:
    meta = doc.get("cveMetadata")
    if not isinstance(meta, dict) or str(meta.get("state", "")).upper() != "PUBLISHED":
        return
    cve = str(meta.get("cveId") or "")
    if not CVE_ID.match(cve):
        return
    containers = doc.get("containers")
    if not isinstance(containers, dict):
        return
    cna = containers.get("cna")
    if isinstance(cna, dict):
        best = _best_metric(cna.get("metrics"))
        if best:
            org = str(
                (cna.get("providerMetadata") or {}).get("shortName") or meta.get("assignerShortName") or ""
            )
            yield CveScore(cve, f"cve5:cna:{org}", RANK_CNA, best[0], best[1])
    for adp in containers.get("adp") or []:
        if not isinstance(adp, dict):
            continue
        best = _best_metric(adp.get("metrics"))
        if best:
            org = str((adp.get("providerMetadata") or {}).get("shortName") or "")
            yield CveScore(cve, f"cve5:adp:{org}", RANK_ADP, best[0], best[1])


def _documents(path: Path) -> Iterator[bytes]:
    if path.is_dir():
        for f in sorted(path.rglob("CVE-*.json")):
            if f.is_file() and not f.is_symlink() and f.stat().st_size <= MAX_DOCUMENT_BYTES:
                yield f.read_bytes()
        return
    if not zipfile.is_zipfile(path):
        yield path.read_bytes()[: MAX_DOCUMENT_BYTES + 1]
        return
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.is_dir() or not _is_record_name(info.filename) or info.file_size > MAX_DOCUMENT_BYTES:
                    continue
                try:
                    with zf.open(info) as fh:
                        yield fh.read(MAX_DOCUMENT_BYTES + 1)
                except (zlib.error, EOFError, NotImplementedError, OSError) as exc:
                    raise SourceError(f"{path}: corrupt zip member {info.filename} ({exc})") from exc
    except zipfile.BadZipFile as exc:
        raise SourceError(f"{path}: not a zip file ({exc})") from exc


class Cve5Source(EnrichmentSource):
    name: ClassVar[str] = "cve5"

    def feeds(self) -> list[Feed]:
        return []

    def accepts(self, path: Path, head: bytes) -> bool:
        if path.is_dir():
            return next(path.rglob("CVE-*.json"), None) is not None
        if head.startswith(b"PK\x03\x04"):
            try:
                with zipfile.ZipFile(path) as zf:
                    names = [i.filename for i in zf.infolist()[:50] if not i.is_dir()]
            except (zipfile.BadZipFile, OSError):
                return False
            return bool(names) and all(_is_record_name(n) for n in names)
        return b'"CVE_RECORD"' in head[:4096]

    def feed_name(self, path: Path) -> str:
        return "cve5"

    def parse(self, path: Path, feed_name: str) -> Iterator[EnrichmentRow]:
        bad = 0
        for data in _documents(path):
            try:
                doc = json.loads(data)
            except ValueError:
                bad += 1
                continue
            if isinstance(doc, dict):
                yield from scores_from_record(doc)
        if bad:
            log.warning("%s: %d records that are not JSON skipped", path, bad)
