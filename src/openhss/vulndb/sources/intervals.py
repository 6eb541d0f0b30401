"""Version constraints of the native advisory formats → OSV range events, exactly where OSV can say it.

npm (`vulnerable_versions`), RubyGems (`patched_versions`/`unaffected_versions`) and Packagist
(`branches.*.versions`) state constraints, not events. They are turned into intervals over the
ecosystem's own version order, combined (a RubyGems advisory's affected set is the complement of its
patched ∪ unaffected sets), and written back as `introduced`/`fixed`/`last_affected` events, one OSV range
per interval, which the matcher evaluates with the same scheme.

An interval with an exclusive lower bound (`> 1.2`) has no OSV spelling unless the scheme names the
next version after a bound (semver: `1.2.1-0`); elsewhere it is left out and counted, so the import
reports what it could not represent instead of guessing (an `introduced: 1.2` would flag 1.2 itself).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from openhss.domain.advisory import AffectedRange, EventKind, RangeEvent

#: A position between versions: (scheme key, 0 = just below the version / 1 = just above, version text).
Pos = tuple[Any, int, str]
_OP = re.compile(r"^\s*(~>|>=|<=|!=|==|=|>|<|\^|~)?\s*v?([^\s,]+)\s*$")


@dataclass(frozen=True, slots=True)
class Interval:
    """The versions between two positions, `start` inclusive, `end` exclusive; None is unbounded."""

    start: Pos | None
    end: Pos | None

    def empty(self) -> bool:
        return self.start is not None and self.end is not None and self.start[:2] >= self.end[:2]


EVERYTHING = Interval(None, None)


def _below(key: Callable[[str], Any], v: str) -> Pos:
    return (key(v), 0, v)


def _above(key: Callable[[str], Any], v: str) -> Pos:
    return (key(v), 1, v)


def _bump(version: str) -> str | None:
    """The pessimistic upper bound of `~> 1.2.3` (→ `1.3`), as RubyGems' `Version#bump` computes it: drop
    every segment from the first prerelease word on, then the last segment, and increment the new last."""
    parts = re.findall(r"\d+|[A-Za-z]+", version)
    while any(not p.isdigit() for p in parts):
        parts.pop()
    if len(parts) > 1:
        parts.pop()
    if not parts:
        return None
    parts[-1] = str(int(parts[-1]) + 1)
    return ".".join(parts)


def constraint(text: str, key: Callable[[str], Any]) -> list[Interval]:
    """One comparison (`>= 1.2`, `~> 1.2.3`, `^1.2`, `1.0`) as intervals; ValueError when unreadable."""
    m = _OP.match(text)
    if not m:
        raise ValueError(f"unreadable version constraint {text!r}")
    op, v = m.group(1) or "=", m.group(2)
    if op == ">=":
        return [Interval(_below(key, v), None)]
    if op == ">":
        return [Interval(_above(key, v), None)]
    if op == "<":
        return [Interval(None, _below(key, v))]
    if op == "<=":
        return [Interval(None, _above(key, v))]
    if op in ("=", "=="):
        return [Interval(_below(key, v), _above(key, v))]
    if op == "!=":
        return [Interval(None, _below(key, v)), Interval(_above(key, v), None)]
    if op == "^":
        head = v.split(".")[0]
        if not head.isdigit():
            raise ValueError(f"unreadable version constraint {text!r}")
        return [Interval(_below(key, v), _below(key, str(int(head) + 1)))]
    upper = _bump(v)  # `~>` and `~`
    if upper is None:
        raise ValueError(f"unreadable version constraint {text!r}")
    return [Interval(_below(key, v), _below(key, upper))]


def intersect(a: Interval, b: Interval) -> Interval:
    start = a.start if b.start is None or (a.start is not None and a.start[:2] >= b.start[:2]) else b.start
    end = a.end if b.end is None or (a.end is not None and a.end[:2] <= b.end[:2]) else b.end
    return Interval(start, end)


def all_of(parts: Iterable[list[Interval]]) -> list[Interval]:
    """The conjunction of constraints (each a union of intervals)."""
    current = [EVERYTHING]
    for alternatives in parts:
        current = [i for c in current for a in alternatives if not (i := intersect(c, a)).empty()]
    return current


def complement(intervals: Iterable[Interval]) -> list[Interval]:
    """Every version in none of `intervals`."""
    ordered = sorted(
        (i for i in intervals if not i.empty()), key=lambda i: (0,) if i.start is None else (1, *i.start[:2])
    )
    if not ordered:
        return [EVERYTHING]
    first = ordered[0]
    out = [Interval(None, first.start)] if first.start is not None else []
    covered = first.end  # everything below this position is covered; None: everything
    for i in ordered[1:]:
        if covered is None:
            return out
        if i.start is not None and covered[:2] < i.start[:2]:
            out.append(Interval(covered, i.start))
        if i.end is None or i.end[:2] > covered[:2]:
            covered = i.end
    if covered is not None:
        out.append(Interval(covered, None))
    return out


def to_osv(
    intervals: Iterable[Interval], next_after: Callable[[str], str | None] | None = None
) -> tuple[tuple[AffectedRange, ...], tuple[str, ...], int]:
    """(ranges, explicit versions, intervals left out because OSV cannot express them)."""
    ranges: list[AffectedRange] = []
    versions: list[str] = []
    skipped = 0
    for i in intervals:
        if i.empty():
            continue
        if (
            i.start is not None
            and i.end is not None
            and i.start[0] == i.end[0]
            and (i.start[1], i.end[1]) == (0, 1)
        ):
            versions.append(i.start[2])  # exactly one version
            continue
        if i.start is None:
            first = "0"
        elif i.start[1] == 0:
            first = i.start[2]
        else:
            nxt = next_after(i.start[2]) if next_after else None
            if nxt is None:
                skipped += 1
                continue
            first = nxt
        events = [RangeEvent(EventKind.INTRODUCED, first)]
        if i.end is not None:
            kind = EventKind.FIXED if i.end[1] == 0 else EventKind.LAST_AFFECTED
            events.append(RangeEvent(kind, i.end[2]))
        ranges.append(AffectedRange("ECOSYSTEM", tuple(events)))
    return tuple(ranges), tuple(versions), skipped
