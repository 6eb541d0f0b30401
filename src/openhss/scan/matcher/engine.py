"""Inventory × advisory index → findings, one per (package, alias group).

OSV, GHSA and a distro may all describe CVE-x; their ids are joined through aliases (union-find) so a
package shows CVE-x once. A distro `not-affected` verdict anywhere in the group suppresses it, with the
reason kept in `MatchResult.suppressed`. Language packages the OS package manager installed
(`Package.owner`) are not matched against language feeds at all: the distro patches and backports
them, and its advisories on the owning OS package (matched like every OS package) are the verdict.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from openhss.domain.advisory import AdvisoryIndex, AffectedRecord, AffectedStatus
from openhss.domain.aliases import AliasGroups
from openhss.domain.coverage import CoverageEntry
from openhss.domain.enums import Ecosystem, Severity, VulType
from openhss.domain.models import OSInfo, Package
from openhss.domain.version import InvalidVersion, scheme_for
from openhss.domain.vulnerability import VulnerabilityFinding
from openhss.scan.applier import Inventory
from openhss.scan.matcher.base import CompiledKey, LookupKey, Matcher
from openhss.scan.matcher.coverage import CoverageSource, coverage_of
from openhss.scan.matcher.registry import MATCHERS


@dataclass(frozen=True, slots=True)
class Suppressed:
    vul_id: str
    package_name: str
    package_version: str
    reason: str


@dataclass(slots=True)
class MatchResult:
    findings: list[VulnerabilityFinding] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)


@dataclass(slots=True)
class _Hit:
    record: AffectedRecord
    affected: bool
    fixed: str


class VulnerabilityMatcher:
    """Holds the compiled form of every advisory key it has seen; reuse one per worker process.

    Everything cached here belongs to one advisory-database generation: after a store swap, take a new
    matcher (`services.vulndb.MatcherCache` does), never clear this one in place.
    """

    def __init__(
        self, index: AdvisoryIndex, matchers: Sequence[Matcher] = MATCHERS, verdict_cache: int | None = None
    ) -> None:
        """`verdict_cache`: how many per-package verdicts to keep (default VERDICT_CACHE_SIZE; 0 disables)."""
        self.verdict_cache = VERDICT_CACHE_SIZE if verdict_cache is None else verdict_cache
        self.index = index
        self.matchers = tuple(matchers)
        self._compiled: dict[tuple[object, ...], CompiledKey | None] = {}
        self._matcher_for: dict[tuple[object, ...], Matcher | None] = {}
        self._verdicts: dict[OSInfo | None, dict[_PackageKey, _Verdict | None]] = {}
        self._verdict_count = 0

    def _records(self, key: LookupKey) -> CompiledKey | None:
        ckey = key[:3]
        if ckey in self._compiled:
            return self._compiled[ckey]
        records = self.index.lookup(key.ecosystem, key.release, key.name)
        compiled = CompiledKey(records) if records else None
        self._compiled[ckey] = compiled
        return compiled

    def __call__(self, inventory: Inventory) -> list[VulnerabilityFinding]:
        """The pipeline's `Matcher` callable (scan/pipeline.py): findings only, suppressions dropped."""
        return self.match_inventory(inventory).findings

    def coverage(self, inventory: Inventory) -> list[CoverageEntry]:
        """Which OS release / ecosystem of the inventory this matcher's advisories cover."""
        table = self.index.coverage_table() if isinstance(self.index, CoverageSource) else ({}, {})
        return coverage_of(inventory.os, inventory.packages, table)

    def match_inventory(self, inventory: Inventory) -> MatchResult:
        return self.match(inventory.os, inventory.packages)

    def match(self, os: OSInfo | None, packages: Iterable[Package]) -> MatchResult:
        result = MatchResult()
        self._match_into(os, packages, result)
        return result

    def _match_into(self, os: OSInfo | None, packages: Iterable[Package], result: MatchResult) -> None:
        """The hot loop: one dict probe per package when its verdict is known, one tuple per finding.

        Verdicts are keyed by the package fields a matcher may read (see `Matcher.keys`) within one
        OS, so the per-package cost of a known package is building a 6-tuple and probing a dict."""
        with _gc_paused():
            self._match_loop(os, packages, result)

    def _match_loop(self, os: OSInfo | None, packages: Iterable[Package], result: MatchResult) -> None:
        cache = self.verdict_cache
        table = self._verdicts.setdefault(os, {}) if cache else {}
        append = result.findings.append
        new = tuple.__new__
        finding = VulnerabilityFinding
        for pkg in packages:
            if pkg.owner:
                continue  # OS-owned: the distro's verdict on the owning OS package is authoritative
            pkey = (pkg.type, pkg.ecosystem, pkg.name, pkg.version, pkg.source_name, pkg.source_version)
            verdict = table.get(pkey, _MISS)
            if verdict is _MISS:
                verdict = self._verdict(os, pkg)
                if cache:
                    if self._verdict_count >= cache:  # bound memory: start over rather than track recency
                        self._verdicts.clear()
                        table = self._verdicts[os] = {}
                        self._verdict_count = 0
                    table[pkey] = verdict
                    self._verdict_count += 1
            if verdict is None:
                continue  # the common case: no advisory names this package
            vul_type, rows, suppressed = verdict
            name, version, eco = pkg.name, pkg.version, pkg.ecosystem
            purl, path, layer = pkg.purl, pkg.path, pkg.layer_digest
            for r in rows:  # indexing a flat row beats unpacking it: this line runs per finding
                append(new(finding, (r[0], name, version, eco, r[1], vul_type, r[2], r[3], r[4], r[5], r[6],
                                     purl, path, layer, r[7], r[8], r[9], r[10], r[11], r[12], r[13],
                                     r[14], r[15], r[16], r[17])))  # fmt: skip
            for vul_id, reason in suppressed:
                result.suppressed.append(Suppressed(vul_id, name, version, reason))

    def _verdict(self, os: OSInfo | None, pkg: Package) -> _Verdict | None:
        kind = (pkg.type, pkg.ecosystem)
        try:
            matcher = self._matcher_for[kind]
        except KeyError:  # which matcher handles a package depends only on its type and ecosystem
            matcher = self._matcher_for[kind] = next((m for m in self.matchers if m.handles(pkg)), None)
        if matcher is None:
            return None
        keys = matcher.keys(pkg, os)
        compiled = [(key, c) for key in keys if (c := self._records(key)) is not None]
        if not compiled:
            return None
        hits: list[_Hit] = []
        for key, c in compiled:
            hits.extend(_Hit(c.records[i], False, "") for i in c.not_affected)
            hits.extend(_Hit(c.records[i], True, fixed) for i, fixed in c.evaluate(key.version).items())
        rows, suppressed = _fold(pkg.ecosystem, hits)
        if not rows and not suppressed:
            return None
        return (VulType.LINUX if pkg.type.is_os else VulType.APP), rows, suppressed


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Hold off the cyclic GC while a batch of findings is built.

    Every finding is a new GC-tracked tuple, so an image with thousands of them triggers dozens of
    young-generation collections that traverse them (and the caches) again; measured, that was about
    half of the warm matching time. The loop creates no reference cycles, so nothing is lost by
    collecting after it instead. Only re-enables what it disabled itself."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


#: Per OS and package (type, ecosystem, name, version, source name and version): finding rows and
#: suppressions, or None when nothing applies. Images of one fleet share most packages at the same
#: versions, so a worker mostly re-uses verdicts; the bound keeps memory flat.
VERDICT_CACHE_SIZE = 200_000
_MISS: Any = object()
_PackageKey = tuple[object, ...]
#: The package-independent part of one finding, in `VulnerabilityFinding` field order: vul_id, severity,
#: aliases, fixed_version, status, cvss_score, cvss_vector, title, description, urls, source, published,
#: severity_source, epss, epss_percentile, epss_date, kev_date_added, kev_due_date.
#: Shared by every finding of that advisory on packages with the same verdict.
_Row = tuple[
    str, Severity, tuple[str, ...], str, str, float, str, str, str, tuple[str, ...], str, str,
    str, float | None, float | None, str, str, str,
]  # fmt: skip
_Verdict = tuple[VulType, tuple[_Row, ...], tuple[tuple[str, str], ...]]


def _fold(ecosystem: Ecosystem, hits: list[_Hit]) -> tuple[tuple[_Row, ...], tuple[tuple[str, str], ...]]:
    aliases = AliasGroups()
    for h in hits:
        aliases.join(h.record.advisory_id, h.record.aliases)
    groups: dict[str, list[_Hit]] = {}
    for h in hits:
        groups.setdefault(aliases.find(h.record.advisory_id), []).append(h)
    findings: list[_Row] = []
    suppressed: list[tuple[str, str]] = []
    for group in groups.values():
        ids = sorted({i for h in group for i in (h.record.advisory_id, *h.record.aliases)})
        cves = [i for i in ids if i.startswith("CVE-")]
        vul_id = cves[0] if cves else min(h.record.advisory_id for h in group)
        not_affected = [h for h in group if h.record.status is AffectedStatus.NOT_AFFECTED]
        affected = [h for h in group if h.affected]
        if not_affected or not affected:
            if affected:
                suppressed.append((vul_id, not_affected[0].record.reason or "not-affected"))
            continue
        findings.append(_row(ecosystem, vul_id, ids, affected))
    return tuple(findings), tuple(suppressed)


def _min_fixed(ecosystem: Ecosystem, fixes: list[str]) -> str:
    if len(fixes) <= 1:
        return fixes[0] if fixes else ""
    try:
        scheme = scheme_for(ecosystem)
        return min(fixes, key=scheme.key)
    except (KeyError, InvalidVersion):
        return sorted(fixes)[0]


def _row(ecosystem: Ecosystem, vul_id: str, ids: list[str], hits: list[_Hit]) -> _Row:
    """The package-independent fields of one finding."""
    if len(hits) == 1:  # the common case, kept cheap
        best = scored = hits[0]
        fixed = best.fixed
        described = best.record
    else:
        best = max(hits, key=lambda h: (h.record.severity.rank, h.record.cvss_score))
        scored = max(hits, key=lambda h: h.record.cvss_score)
        fixed = _min_fixed(ecosystem, sorted({h.fixed for h in hits if h.fixed}))
        described = next((h.record for h in hits if h.record.summary), best.record)
    severity = best.record.severity
    if fixed:
        status = "fixed"
    elif any(h.record.status is AffectedStatus.WONT_FIX for h in hits):
        status = "wont-fix"
    else:
        status = "unfixed"
    source = best.record.source if len(hits) == 1 else ",".join(sorted({h.record.source for h in hits}))
    rated = best.record if severity is not Severity.UNKNOWN else scored.record
    # Every record of the group carries the group's EPSS/KEV (the store resolves them per alias group);
    # the highest EPSS and the earliest KEV entry stand for the finding all the same.
    epss = max(hits, key=lambda h: -1.0 if h.record.epss is None else h.record.epss).record
    kev = min(
        (h.record for h in hits if h.record.kev_date_added), key=lambda r: r.kev_date_added, default=None
    )
    return (
        vul_id,
        rated.severity,
        tuple(i for i in ids if i != vul_id),
        fixed,
        status,
        scored.record.cvss_score,
        scored.record.cvss_vector,
        described.summary[:200],
        described.summary,
        described.urls,
        source,
        described.published,
        rated.severity_source,
        epss.epss,
        epss.epss_percentile,
        epss.epss_date,
        kev.kev_date_added if kev else "",
        kev.kev_due_date if kev else "",
    )
