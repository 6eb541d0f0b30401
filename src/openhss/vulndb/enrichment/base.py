"""The enrichment-source contract: like an advisory source, but its rows describe a CVE, not a package.

A CVE score, an EPSS probability or a KEV entry never decides whether a package is affected; the store
keeps them in their own tables and joins them to advisory records through the CVE ids of each alias
group (`vulndb/store.py`), so one import reaches every finding of that CVE, whichever feed found it.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

from openhss.vulndb.sources.base import MAX_DOCUMENT_BYTES, FeedSource, SourceError

CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,}$")


@dataclass(frozen=True, slots=True)
class CveScore:
    """One CVSS base score for a CVE from one provider.

    `provider` names who scored it (`nvd`, `cve5:cna:<org>`, `cve5:adp:<org>`); `rank` is its place in the
    documented precedence (lower wins, see README "Severity").
    """

    cve: str
    provider: str
    rank: int
    score: float
    vector: str


@dataclass(frozen=True, slots=True)
class EpssScore:
    cve: str
    score: float
    percentile: float
    date: str


@dataclass(frozen=True, slots=True)
class KevEntry:
    cve: str
    date_added: str
    due_date: str


EnrichmentRow = CveScore | EpssScore | KevEntry

#: Precedence ranks of external CVSS providers (lower wins); the advisory's own rating and its alias
#: group come before all of them.
RANK_NVD = 1
RANK_CNA = 2
RANK_ADP = 3


class EnrichmentSource(FeedSource[EnrichmentRow]):
    """CVE scores, EPSS and KEV rows: joined to advisories, never matched themselves."""


def read_maybe_gzip(path: Path, limit: int = 4 * MAX_DOCUMENT_BYTES) -> bytes:
    """A file's bytes, gunzipped when it is gzip, refusing more than `limit` bytes either way (a gzip
    bomb must not exhaust memory)."""
    with path.open("rb") as raw:
        magic = raw.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read(limit + 1)
    except (OSError, EOFError) as exc:
        raise SourceError(f"{path}: unreadable ({exc})") from exc
    if len(data) > limit:
        raise SourceError(f"{path}: larger than {limit} bytes")
    return data
