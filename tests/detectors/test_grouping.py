"""Repeated baseline findings of one rule in one directory are one finding with a count and examples,
after whiteouts; other kinds stay one per file."""

from __future__ import annotations

from openhss.domain.enums import FindingKind, Severity
from openhss.domain.models import Finding
from openhss.scan.analyzers.baseline_files import BaselineFileAnalyzer
from openhss.scan.grouping import group_repeated

from .helpers import Member, file, scan_layers, whiteout


def _cache_layer(n: int) -> list[Member]:
    return [file(f"var/cache/apt/archives/pkg{i:03d}_1.0_amd64.deb", b"!<arch>\n") for i in range(n)]


def test_apt_cache_rows_become_one_finding_with_count() -> None:
    inv = scan_layers(
        [_cache_layer(92), [whiteout("var/cache/apt/archives/pkg000_1.0_amd64.deb")]], [BaselineFileAnalyzer]
    )
    raw = [f for f in inv.findings if f.rule_id == "baseline-package-cache"]
    assert len(raw) == 91  # one per file that is still there: the whiteout cleared one
    grouped = [f for f in group_repeated(inv.findings) if f.rule_id == "baseline-package-cache"]
    assert len(grouped) == 1
    only = grouped[0]
    assert only.count == 91
    assert only.path == "var/cache/apt/archives/"
    assert only.examples[0] == "var/cache/apt/archives/pkg001_1.0_amd64.deb"
    assert len(only.examples) == 3
    assert only.evidence.startswith("91 files: pkg001_1.0_amd64.deb")


def test_other_kinds_and_single_findings_are_untouched() -> None:
    def f(kind: FindingKind, rule: str, path: str) -> Finding:
        return Finding(kind=kind, rule_id=rule, severity=Severity.HIGH, title=rule, path=path)

    findings = [
        f(FindingKind.MALWARE, "m", "tmp/a"),
        f(FindingKind.MALWARE, "m", "tmp/b"),
        f(FindingKind.BASELINE, "world-writable", "etc/a"),
        f(FindingKind.BASELINE, "world-writable", "usr/b"),
        f(FindingKind.BASELINE, "no-user", ""),
    ]
    assert group_repeated(findings) == findings
