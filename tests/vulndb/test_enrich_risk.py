"""The risk order (`domain.risk.risk_key`) and the KEV / EPSS report filters."""

from __future__ import annotations

from openhss.domain.enums import Ecosystem, Severity, VulType
from openhss.domain.risk import risk_key
from openhss.domain.vulnerability import VulnerabilityFinding
from openhss.services.scanning import ScanFilters


def _f(vid: str, sev: Severity, *, cvss: float = 0.0, epss: float | None = None, kev: str = "",
       fixed: str = "") -> VulnerabilityFinding:  # fmt: skip
    return VulnerabilityFinding(
        vid, "pkg", "1.0", Ecosystem.PYPI, sev, VulType.APP, fixed_version=fixed, cvss_score=cvss,
        epss=epss, kev_date_added=kev,
    )  # fmt: skip


def test_kev_then_epss_times_severity_then_fixability() -> None:
    findings = [
        _f("CRIT-NO-EPSS", Severity.CRITICAL, cvss=9.8),
        _f("LOW-HIGH-EPSS", Severity.LOW, cvss=3.0, epss=0.9),  # 2.7
        _f("HIGH-SOME-EPSS", Severity.HIGH, cvss=7.5, epss=0.5),  # 3.75
        _f("KEV-LOW", Severity.LOW, cvss=2.0, kev="2024-01-01"),
        _f("UNRATED-EPSS", Severity.UNKNOWN, epss=0.1),  # weighs as Medium: 0.55
        _f("HIGH-NO-EPSS-FIXED", Severity.HIGH, cvss=7.5, fixed="2.0"),
        _f("HIGH-NO-EPSS", Severity.HIGH, cvss=7.5),
        _f("UNRATED", Severity.UNKNOWN),
    ]
    order = [f.vul_id for f in sorted(findings, key=risk_key)]
    assert order == [
        "KEV-LOW",
        "HIGH-SOME-EPSS",
        "LOW-HIGH-EPSS",
        "UNRATED-EPSS",
        "CRIT-NO-EPSS",
        "HIGH-NO-EPSS-FIXED",
        "HIGH-NO-EPSS",
        "UNRATED",
    ]


def test_kev_and_min_epss_filters() -> None:
    kev = _f("A", Severity.HIGH, kev="2024-01-01", epss=0.01)
    likely = _f("B", Severity.LOW, epss=0.7)
    unscored = _f("C", Severity.CRITICAL)
    keep = ScanFilters(kev_only=True).keeps_vulnerability
    assert [keep(f) for f in (kev, likely, unscored)] == [True, False, False]
    keep = ScanFilters(min_epss=0.5).keeps_vulnerability
    assert [keep(f) for f in (kev, likely, unscored)] == [False, True, False]
    keep = ScanFilters().keeps_vulnerability
    assert all(keep(f) for f in (kev, likely, unscored))
