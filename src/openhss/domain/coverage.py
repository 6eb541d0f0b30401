"""What the advisory database could judge in one scan: per OS release and per ecosystem.

A matcher that finds nothing is only informative when advisories for the package's ecosystem (and, for
OS packages, its release) were loaded: a Debian 12 image scanned without Debian advisories is not
clean, it is unchecked. Every consumer (CLI, JSON/SARIF, API, console, `db status`) renders these
values, so "no vulnerabilities" is never shown for packages nothing could have judged.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

#: Kinds of coverage entries: a detected OS release, a language ecosystem, packages no feed can name.
OS = "os"
ECOSYSTEM = "ecosystem"
UNIDENTIFIED = "unidentified"
#: How many unchecked packages an entry lists by name (the count is always exact).
UNCHECKED_LISTED = 200


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """One advisory source that contributed records for an ecosystem/release."""

    name: str
    records: int
    synced_at: float

    @property
    def age_seconds(self) -> float:
        return max(0.0, time.time() - self.synced_at) if self.synced_at else 0.0


@dataclass(frozen=True, slots=True)
class CoverageEntry:
    """One OS release or ecosystem present in an inventory, and whether the advisory DB covers it.

    `packages` counts the packages judged through this entry (for an OS: its OS packages plus the
    language packages it owns); `unchecked` names (up to `UNCHECKED_LISTED`) of those never checked
    because nothing covers them, `unchecked_count` how many there are."""

    kind: str
    ecosystem: str
    release: str
    packages: int
    covered: bool
    records: int = 0
    feeds: tuple[FeedInfo, ...] = ()
    unchecked: tuple[str, ...] = ()
    unchecked_count: int = 0
    note: str = ""

    @property
    def label(self) -> str:
        if self.kind == UNIDENTIFIED:
            return "unidentified packages"
        return f"{self.ecosystem} {self.release}".strip()


def uncovered(entries: Sequence[CoverageEntry]) -> list[CoverageEntry]:
    """The entries with packages nothing checked."""
    return [e for e in entries if e.unchecked_count]


def describe(entry: CoverageEntry) -> str:
    """One line for a warning or a notice: what was not checked and why."""
    shown = ", ".join(entry.unchecked[:5])
    more = f" and {entry.unchecked_count - 5} more" if entry.unchecked_count > 5 else ""
    why = entry.note or f"no {entry.label} advisories are loaded"
    return f"{entry.unchecked_count} {entry.label} package(s) NOT checked ({why}): {shown}{more}"


def age_text(seconds: float) -> str:
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400 * 2:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"
