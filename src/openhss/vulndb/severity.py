"""CVSS vectors → base score → HSS severity, through the `cvss` library (v2, v3.x, v4)."""

from __future__ import annotations

from functools import lru_cache

from cvss import CVSS2, CVSS3, CVSS4  # type: ignore[import-untyped]
from cvss.exceptions import CVSSError  # type: ignore[import-untyped]

from openhss.domain.enums import Severity

_WORDS = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "important": Severity.HIGH,
    "moderate": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "negligible": Severity.LOW,
    "unimportant": Severity.LOW,
}


@lru_cache(maxsize=4096)
def score_vector(vector: str) -> float | None:
    """Base score of a CVSS vector; None for anything the library rejects (feeds carry junk vectors)."""
    v = vector.strip()
    try:
        if v.startswith("CVSS:4"):
            return float(CVSS4(v).base_score)
        if v.startswith("CVSS:3"):
            return float(CVSS3(v).base_score)
        if v.startswith("AV:") or v.startswith("(AV:"):
            return float(CVSS2(v.strip("()")).base_score)
    except (CVSSError, ValueError, KeyError, IndexError):
        return None
    return None


def severity_from_word(word: str) -> Severity:
    """Vendor ratings (GHSA `MODERATE`, Red Hat `Important`, Debian urgencies) → HSS severity."""
    return _WORDS.get(word.strip().rstrip("*").lower(), Severity.UNKNOWN)
