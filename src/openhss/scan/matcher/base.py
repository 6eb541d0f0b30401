"""The matcher contract and the shared range evaluation.

A matcher decides, for the packages it handles, which advisory keys to look up and which installed
version to compare against each; evaluating ranges, explicit versions and distro verdicts is common to
all of them and lives here, compiled once per advisory key so the hot loop only compares sort keys.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from typing import Any, ClassVar, NamedTuple

from openhss.domain.advisory import AffectedRecord, AffectedStatus, EventKind
from openhss.domain.enums import Ecosystem
from openhss.domain.models import OSInfo, Package
from openhss.domain.version import InvalidVersion, VersionScheme, scheme_for, scheme_named

log = logging.getLogger(__name__)


class LookupKey(NamedTuple):
    """One advisory key to consult for a package, and the version of the package to compare with it.

    A NamedTuple rather than a frozen dataclass: one is built per package per match, and tuple
    construction is several times cheaper."""

    ecosystem: Ecosystem
    release: str
    name: str
    version: str


class Matcher(ABC):
    name: ClassVar[str]

    @abstractmethod
    def handles(self, package: Package) -> bool:
        """Must depend only on the package's type and ecosystem: the engine caches the answer per pair."""

    @abstractmethod
    def keys(self, package: Package, os: OSInfo | None) -> list[LookupKey]:
        """The advisory keys for a package, most specific first; empty when it cannot be matched.

        Must depend only on the package's type, ecosystem, name, version, source name and source
        version and on `os`: the engine caches verdicts under exactly those fields."""


def _scheme(ecosystem: Ecosystem, range_type: str) -> VersionScheme:
    if range_type == "SEMVER" and ecosystem is not Ecosystem.GO:
        return scheme_named("semver")
    return scheme_for(ecosystem)


class _Interval:
    __slots__ = ("fixed", "hi", "hi_inclusive", "lo", "rec")

    def __init__(self, lo: Any, hi: Any, hi_inclusive: bool, fixed: str, rec: int) -> None:
        self.lo, self.hi, self.hi_inclusive, self.fixed, self.rec = lo, hi, hi_inclusive, fixed, rec


class _SchemeIntervals:
    """The bounded intervals of one scheme sorted by upper bound, so a version above every fix (the
    common case: a patched package) is settled by one bisection instead of a walk over every advisory."""

    __slots__ = ("excl", "excl_hi", "incl", "incl_hi", "open")

    def __init__(self, intervals: list[_Interval]) -> None:
        self.excl = sorted(
            (i for i in intervals if i.hi is not None and not i.hi_inclusive), key=lambda i: i.hi
        )
        self.incl = sorted((i for i in intervals if i.hi is not None and i.hi_inclusive), key=lambda i: i.hi)
        self.excl_hi = [i.hi for i in self.excl]
        self.incl_hi = [i.hi for i in self.incl]
        self.open = [i for i in intervals if i.hi is None]

    def hits(self, key: Any) -> Iterator[_Interval]:
        for iv in self.excl[bisect_right(self.excl_hi, key) :]:
            if iv.lo is None or iv.lo <= key:
                yield iv
        for iv in self.incl[bisect_left(self.incl_hi, key) :]:
            if iv.lo is None or iv.lo <= key:
                yield iv
        for iv in self.open:
            if iv.lo is None or iv.lo <= key:
                yield iv


class CompiledKey:
    """Every record of one advisory key, with versions turned into sort keys once.

    `evaluate` returns, per affected record index, the fixed version of the window the installed
    version falls in ("" when none); distro verdicts that need no version (unfixed, wont-fix) always hit.
    """

    __slots__ = (
        "always",
        "by_scheme",
        "not_affected",
        "records",
        "scheme",
        "sorted_keys",
        "version_keys",
        "version_strs",
    )

    def __init__(self, records: tuple[AffectedRecord, ...]) -> None:
        self.records = records
        self.always: list[int] = []
        self.not_affected: list[int] = []
        self.version_strs: dict[str, list[int]] = {}
        self.version_keys: list[tuple[Any, list[int]]] = []
        self.scheme: VersionScheme | None = None
        per_scheme: dict[str, tuple[VersionScheme, list[_Interval]]] = {}
        for idx, record in enumerate(records):
            if record.status is AffectedStatus.NOT_AFFECTED:
                self.not_affected.append(idx)
                continue
            if record.status in (AffectedStatus.UNFIXED, AffectedStatus.WONT_FIX):
                self.always.append(idx)
                continue
            try:
                self.scheme = scheme = scheme_for(record.ecosystem)
            except KeyError:
                continue
            for v in record.versions:
                self.version_strs.setdefault(v, []).append(idx)
            for rng in record.ranges:
                try:
                    rs = _scheme(record.ecosystem, rng.type)
                    per_scheme.setdefault(rs.name, (rs, []))[1].extend(_intervals(rs, rng.events, idx))
                except InvalidVersion as exc:
                    log.warning("%s %s: range skipped: %s", record.advisory_id, record.name, exc)
        if self.scheme is not None:
            # One key per distinct string: the advisories of one package enumerate largely the same
            # versions, and sorting keys with Python-level comparisons is what compiling a key costs.
            scheme = self.scheme
            for v, idxs in self.version_strs.items():
                try:
                    self.version_keys.append((scheme.key(v), idxs))
                except InvalidVersion:
                    continue
        self.version_keys.sort(key=lambda kv: kv[0])
        self.sorted_keys = [k for k, _ in self.version_keys]
        self.by_scheme = [(rs, _SchemeIntervals(ivs)) for rs, ivs in per_scheme.values()]

    def evaluate(self, version: str) -> dict[int, str]:
        hits: dict[int, str] = dict.fromkeys(self.always, "")
        keys: dict[str, Any] = {}
        for scheme, table in self.by_scheme:
            key = _key(scheme, version, keys)
            if key is None:
                continue
            for iv in table.hits(key):
                if not hits.get(iv.rec):
                    hits[iv.rec] = iv.fixed
        listed = list(self.version_strs.get(version, ()))
        if self.version_keys and self.scheme is not None:
            key = _key(self.scheme, version, keys)
            if key is not None:
                vk = self.sorted_keys
                pos = bisect_left(vk, key)
                while pos < len(vk) and vk[pos] == key:
                    listed.extend(self.version_keys[pos][1])
                    pos += 1
        for idx in listed:
            hits.setdefault(idx, "")
        return hits


def _key(scheme: VersionScheme, version: str, keys: dict[str, Any]) -> Any:
    name = scheme.name
    if name in keys:
        return keys[name]
    try:
        key = scheme.key(version)
    except InvalidVersion:
        key = None
    keys[name] = key
    return key


def _intervals(scheme: VersionScheme, events: Any, rec: int) -> list[_Interval]:
    """Sort the events and pair each `introduced` with the next `fixed`/`last_affected` (OSV semantics)."""
    keyed: list[tuple[int, Any, EventKind, str]] = []
    for ev in events:
        if ev.kind is EventKind.LIMIT:
            continue  # limits bound git-commit walks only
        if ev.kind is EventKind.INTRODUCED and ev.version == "0":
            keyed.append((0, None, ev.kind, ev.version))
        else:
            keyed.append((1, scheme.key(ev.version), ev.kind, ev.version))
    zeros = [k for k in keyed if k[0] == 0]
    others = sorted((k for k in keyed if k[0] == 1), key=lambda k: k[1])
    out: list[_Interval] = []
    start: Any = ...
    for _, key, kind, text in [*zeros, *others]:
        if kind is EventKind.INTRODUCED:
            if start is ...:
                start = key
        elif start is not ...:
            fixed = text if kind is EventKind.FIXED else ""
            out.append(_Interval(start, key, kind is EventKind.LAST_AFFECTED, fixed, rec))
            start = ...
    if start is not ...:
        out.append(_Interval(start, None, False, "", rec))
    return out
