"""Inventory × advisory index → findings, one per (package, alias group).

OSV, GHSA and a distro may all describe CVE-x; their ids are joined through aliases (union-find) so a
package shows CVE-x once. A distro `not-affected` verdict anywhere in the group suppresses it, with the
reason kept in `MatchResult.suppressed`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from openhss.domain.advisory import AdvisoryIndex, AffectedRecord, AffectedStatus
from openhss.domain.enums import Ecosystem, Severity, VulType
from openhss.domain.models import OSInfo, Package
from openhss.domain.version import InvalidVersion, scheme_for
from openhss.domain.vulnerability import VulnerabilityFinding
from openhss.scan.applier import Inventory
from openhss.scan.matcher.base import CompiledKey, LookupKey, Matcher
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
    """Holds the compiled form of every advisory key it has seen; reuse one per worker process."""

    def __init__(
        self, index: AdvisoryIndex, matchers: Sequence[Matcher] = MATCHERS, verdict_cache: int | None = None
    ) -> None:
        """`verdict_cache`: how many per-package verdicts to keep (default VERDICT_CACHE_SIZE; 0 disables)."""
        self.verdict_cache = VERDICT_CACHE_SIZE if verdict_cache is None else verdict_cache
        self.index = index
        self.matchers = tuple(matchers)
        self._compiled: dict[tuple[object, ...], CompiledKey | None] = {}
        self._matcher_for: dict[tuple[object, ...], Matcher | None] = {}
        self._verdicts: dict[tuple[object, ...], _Verdict] = {}

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

    def match_inventory(self, inventory: Inventory) -> MatchResult:
        return self.match(inventory.os, inventory.packages)

    def match(self, os: OSInfo | None, packages: Iterable[Package]) -> MatchResult:
        result = MatchResult()
        for pkg in packages:
            self.match_package(os, pkg, result)
        return result

    def match_package(self, os: OSInfo | None, pkg: Package, result: MatchResult) -> None:
        kind = (pkg.type, pkg.ecosystem)
        try:
            matcher = self._matcher_for[kind]
        except KeyError:  # which matcher handles a package depends only on its type and ecosystem
            matcher = self._matcher_for[kind] = next((m for m in self.matchers if m.handles(pkg)), None)
        if matcher is None:
            return
        keys = matcher.keys(pkg, os)
        compiled = [(key, c) for key in keys if (c := self._records(key)) is not None]
        if not compiled:
            return  # the common case: no advisory names this package
        memo_key = (pkg.type, *keys)
        verdict = self._verdicts.get(memo_key)
        if verdict is None:
            hits: list[_Hit] = []
            for key, c in compiled:
                hits.extend(_Hit(c.records[i], False, "") for i in c.not_affected)
                hits.extend(_Hit(c.records[i], True, fixed) for i, fixed in c.evaluate(key.version).items())
            verdict = _fold(pkg.ecosystem, hits)
            if len(self._verdicts) >= self.verdict_cache:
                self._verdicts.clear()
            if self.verdict_cache:
                self._verdicts[memo_key] = verdict
        vul_type = VulType.LINUX if pkg.type.is_os else VulType.APP
        for fields in verdict[0]:
            result.findings.append(
                VulnerabilityFinding(
                    package_name=pkg.name,
                    package_version=pkg.version,
                    ecosystem=pkg.ecosystem,
                    type=vul_type,
                    purl=pkg.purl,
                    path=pkg.path,
                    layer_digest=pkg.layer_digest,
                    **fields,
                )
            )
        for vul_id, reason in verdict[1]:
            result.suppressed.append(Suppressed(vul_id, pkg.name, pkg.version, reason))


#: Per package (type, lookup keys incl. version): finding fields and suppressions. Images of one fleet share
#: most packages at the same versions, so a worker mostly re-uses verdicts; the bound keeps memory flat.
VERDICT_CACHE_SIZE = 200_000
_Verdict = tuple[tuple[dict[str, Any], ...], tuple[tuple[str, str], ...]]


def _fold(ecosystem: Ecosystem, hits: list[_Hit]) -> _Verdict:
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for h in hits:
        root = find(h.record.advisory_id)
        for alias in h.record.aliases:
            parent[find(alias)] = root
    groups: dict[str, list[_Hit]] = {}
    for h in hits:
        groups.setdefault(find(h.record.advisory_id), []).append(h)
    findings: list[dict[str, Any]] = []
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
        findings.append(_fields(ecosystem, vul_id, ids, affected))
    return tuple(findings), tuple(suppressed)


def _min_fixed(ecosystem: Ecosystem, fixes: list[str]) -> str:
    if len(fixes) <= 1:
        return fixes[0] if fixes else ""
    try:
        scheme = scheme_for(ecosystem)
        return min(fixes, key=scheme.key)
    except (KeyError, InvalidVersion):
        return sorted(fixes)[0]


def _fields(ecosystem: Ecosystem, vul_id: str, ids: list[str], hits: list[_Hit]) -> dict[str, Any]:
    """The package-independent fields of one finding."""
    if len(hits) == 1:  # the common case, kept cheap: findings per image can run into thousands
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
    return {
        "vul_id": vul_id,
        "severity": severity if severity is not Severity.UNKNOWN else scored.record.severity,
        "aliases": tuple(i for i in ids if i != vul_id),
        "fixed_version": fixed,
        "status": status,
        "cvss_score": scored.record.cvss_score,
        "cvss_vector": scored.record.cvss_vector,
        "title": described.summary[:200],
        "description": described.summary,
        "urls": described.urls,
        "source": best.record.source if len(hits) == 1 else ",".join(sorted({h.record.source for h in hits})),
        "published": described.published,
    }
