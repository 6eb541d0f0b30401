"""Why a vulnerability was (or was not) reported for a package: the chain behind one verdict.

file → package (and its owner) → the advisory keys looked up → each advisory record of the
vulnerability's alias group, with its feed, ranges and the comparison of the installed version →
the verdict. It re-runs the same lookups and range evaluation the matcher uses (`CompiledKey`), one
record at a time, so the explanation cannot disagree with the finding.

Verdicts: `affected` (reported), `fixed` (a record names this package but the installed version is at
or past its fix), `backported` (an OS-owned language package whose upstream range says affected while
the distro, which is authoritative, says fixed or lists nothing), `not-affected` (a distro verdict),
`unchecked` (no advisories are loaded for the package's ecosystem/release). Service-side verdicts
(`whitelisted`, `ignored`, VEX) are added by the caller that knows them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from openhss.domain.advisory import AffectedRecord, AffectedStatus
from openhss.domain.models import OSInfo, Package
from openhss.scan.applier import Inventory
from openhss.scan.matcher.base import CompiledKey, LookupKey
from openhss.scan.matcher.coverage import CoverageSource, coverage_of
from openhss.scan.matcher.engine import VulnerabilityMatcher

AFFECTED = "affected"
FIXED = "fixed"
BACKPORTED = "backported"
NOT_AFFECTED = "not-affected"
UNCHECKED = "unchecked"


@dataclass(frozen=True, slots=True)
class RecordStep:
    """One advisory record of the group and how the installed version compares with it."""

    advisory_id: str
    feed: str
    key: str
    status: str
    ranges: str
    compared: str
    affected: bool
    fixed_version: str = ""
    reason: str = ""


@dataclass(slots=True)
class Explanation:
    """The chain for one package and one vulnerability (alias group)."""

    vul_id: str
    package: Package
    route: str
    records: list[RecordStep] = field(default_factory=list)
    ignored: list[RecordStep] = field(default_factory=list)
    verdict: str = ""
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        p = self.package
        return {
            "vul_id": self.vul_id,
            "file": p.path,
            "layer_digest": p.layer_digest,
            "package": {
                "name": p.name,
                "version": p.version,
                "ecosystem": p.ecosystem.value,
                "type": p.type.value,
                "purl": p.purl,
                "owner": p.owner,
            },
            "route": self.route,
            "records": [_step(r) for r in self.records],
            "ignored_records": [_step(r) for r in self.ignored],
            "verdict": self.verdict,
            "detail": self.detail,
        }


def _step(r: RecordStep) -> dict[str, Any]:
    return {
        "advisory_id": r.advisory_id,
        "feed": r.feed,
        "key": r.key,
        "status": r.status,
        "ranges": r.ranges,
        "compared": r.compared,
        "affected": r.affected,
        "fixed_version": r.fixed_version,
        "reason": r.reason,
    }


def _ranges(rec: AffectedRecord) -> str:
    parts = [
        f"{rng.type}: " + ", ".join(f"{e.kind.value} {e.version}" for e in rng.events) for rng in rec.ranges
    ]
    if rec.versions:
        shown = ", ".join(rec.versions[:10]) + (" …" if len(rec.versions) > 10 else "")
        parts.append(f"versions: {shown}")
    return "; ".join(parts) or rec.status.value


def _in_group(rec: AffectedRecord, ids: set[str]) -> bool:
    return rec.advisory_id in ids or not ids.isdisjoint(rec.aliases)


def _steps(matcher: VulnerabilityMatcher, keys: Iterable[LookupKey], ids: set[str]) -> list[RecordStep]:
    out: list[RecordStep] = []
    for key in keys:
        for rec in matcher.index.lookup(key.ecosystem, key.release, key.name):
            if not _in_group(rec, ids):
                continue
            label = f"{key.ecosystem.value}{':' + key.release if key.release else ''}/{key.name}"
            if rec.status is AffectedStatus.NOT_AFFECTED:
                verdict = "distro verdict, no version compared"
                out.append(RecordStep(rec.advisory_id, rec.source, label, rec.status.value, _ranges(rec),
                                      verdict, False, reason=rec.reason))  # fmt: skip
                continue
            hits = CompiledKey((rec,)).evaluate(key.version)
            affected = 0 in hits
            fixed = hits.get(0, "") or (rec.fixed_versions[0] if rec.fixed_versions else "")
            if rec.status in (AffectedStatus.UNFIXED, AffectedStatus.WONT_FIX):
                compared = f"{rec.status.value}: every version of {key.name} in this release"
            elif affected:
                compared = f"{key.version} is inside an affected range" + (
                    f" (fixed in {fixed})" if fixed else ""
                )
            else:
                compared = f"{key.version} is outside every affected range" + (
                    f" (fixed in {fixed})" if fixed else ""
                )
            out.append(RecordStep(rec.advisory_id, rec.source, label, rec.status.value, _ranges(rec),
                                  compared, affected, fixed, rec.reason))  # fmt: skip
    return out


def _group_ids(
    matcher: VulnerabilityMatcher, packages: list[Package], os: OSInfo | None, vul_id: str
) -> set[str]:
    """The vulnerability's alias group as the records of these packages spell it (CVE ↔ GHSA ↔ PYSEC)."""
    ids = {vul_id}
    for _ in range(2):  # two rounds join ids that only meet through a third record
        for pkg in packages:
            for key in _keys(matcher, pkg, os):
                for rec in matcher.index.lookup(key.ecosystem, key.release, key.name):
                    if _in_group(rec, ids):
                        ids.add(rec.advisory_id)
                        ids.update(rec.aliases)
    return ids


def _keys(matcher: VulnerabilityMatcher, pkg: Package, os: OSInfo | None) -> list[LookupKey]:
    for m in matcher.matchers:
        if m.handles(pkg):
            return m.keys(pkg, os)
    return []


def explain(matcher: VulnerabilityMatcher, inventory: Inventory, vul_id: str) -> list[Explanation]:
    """One explanation per package any record of the vulnerability's alias group names."""
    os, packages = inventory.os, inventory.packages
    ids = _group_ids(matcher, packages, os, vul_id)
    owners = {f"{p.type.value}:{p.name}": p for p in packages if p.type.is_os}
    table = matcher.index.coverage_table() if isinstance(matcher.index, CoverageSource) else ({}, {})
    unchecked = {name for e in coverage_of(os, packages, table) if not e.covered for name in e.unchecked}
    out: list[Explanation] = []
    for pkg in packages:
        own = _steps(matcher, _keys(matcher, pkg, os), ids)
        if pkg.owner:
            owner = owners.get(pkg.owner)
            via = _steps(matcher, _keys(matcher, owner, os), ids) if owner is not None else []
            if not own and not via:
                continue
            exp = Explanation(vul_id, pkg, f"OS-owned by {pkg.owner}: judged by the distro's advisories "
                              "for the owning package only", records=via, ignored=own)  # fmt: skip
            _verdict_owned(exp, owner, unchecked)
        else:
            if not own:
                continue
            route = "OS package: distro advisories by source and binary name" if pkg.type.is_os else (
                f"{pkg.ecosystem.value} advisories by package name")  # fmt: skip
            exp = Explanation(vul_id, pkg, route, records=own)
            _verdict(exp)
        out.append(exp)
    return out


def _verdict(exp: Explanation) -> None:
    if any(r.status == AffectedStatus.NOT_AFFECTED.value for r in exp.records):
        exp.verdict = NOT_AFFECTED
        exp.detail = next(r.reason for r in exp.records if r.status == AffectedStatus.NOT_AFFECTED.value)
    elif any(r.affected for r in exp.records):
        exp.verdict = AFFECTED
        fixes = sorted({r.fixed_version for r in exp.records if r.affected and r.fixed_version})
        exp.detail = f"fixed in {', '.join(fixes)}" if fixes else "no fixed version published"
    else:
        exp.verdict = FIXED
        exp.detail = "the installed version is outside every affected range"


def _verdict_owned(exp: Explanation, owner: Package | None, unchecked: set[str]) -> None:
    if owner is not None and f"{owner.name} {owner.version}" in unchecked:
        exp.verdict = UNCHECKED
        exp.detail = f"no advisories are loaded for {owner.ecosystem.value} {owner.name}'s release"
        return
    if exp.records:
        _verdict(exp)
        if exp.verdict != AFFECTED and any(r.affected for r in exp.ignored):
            exp.verdict = BACKPORTED
            exp.detail = "the upstream range says affected; the distro's records say fixed"
        return
    upstream = any(r.affected for r in exp.ignored)
    exp.verdict = BACKPORTED if upstream else FIXED
    exp.detail = (
        "the upstream range says affected; the distro lists no open issue for the owning package"
        if upstream
        else "no record affects the owning package"
    )


def as_text(explanations: list[Explanation], vul_id: str) -> str:
    if not explanations:
        return f"{vul_id}: no advisory record of this id (or its aliases) names any package of the image\n"
    lines: list[str] = []
    for e in explanations:
        p = e.package
        lines.append(f"{e.vul_id} · {p.name} {p.version} ({p.ecosystem.value or p.type.value})")
        lines.append(f"  file     {p.path}" + (f"  [layer {p.layer_digest[:19]}]" if p.layer_digest else ""))
        lines.append(f"  package  {p.purl or p.name}" + (f"  owned by {p.owner}" if p.owner else ""))
        lines.append(f"  route    {e.route}")
        for r in e.records:
            lines.append(f"  record   {r.advisory_id} [{r.feed}] {r.key} status={r.status}")
            lines.append(f"           ranges: {r.ranges}")
            lines.append(f"           {r.compared}" + (f" — {r.reason}" if r.reason else ""))
        for r in e.ignored:
            lines.append(
                f"  ignored  {r.advisory_id} [{r.feed}] {r.key}: {r.compared} (distro is authoritative)"
            )
        lines.append(f"  verdict  {e.verdict.upper()}: {e.detail}")
        lines.append("")
    return "\n".join(lines)
