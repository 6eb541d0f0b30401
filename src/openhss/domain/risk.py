"""The risk order: the one sort every list of vulnerability findings uses by default.

Why one function: the CLI table, the JSON/SARIF output, the console lists and exports must agree on what
comes first, and a user reading any of them should see the same top of the list.

Order (README "Prioritisation"), most urgent first:
1. listed in CISA's KEV catalogue (exploited in the wild) before anything that is not;
2. EPSS × severity, descending: the probability of exploitation in the next 30 days times the impact
   (the CVSS base score where there is one, else the midpoint of the severity band; an unrated finding
   weighs as Medium, as its HSS `repair_necessity` says). No EPSS score counts as 0;
3. severity, descending (breaks ties among findings without EPSS);
4. fixability: a finding with a fixed version before one without (it can be acted on now);
5. then vulnerability id, package name and version, so equal risks always list in the same order.
"""

from __future__ import annotations

from typing import Protocol

from openhss.domain.enums import Severity

#: Impact weight of a finding without a CVSS score: the midpoint of its severity band (CVSS v3 bands).
SEVERITY_WEIGHT = {
    Severity.CRITICAL: 9.5,
    Severity.HIGH: 8.0,
    Severity.MEDIUM: 5.5,
    Severity.LOW: 2.0,
    Severity.UNKNOWN: 5.5,
}

RiskKey = tuple[int, float, int, int, float, str, str, str]


class RiskFields(Protocol):
    """What the order reads; `VulnerabilityFinding` has it, and so can a stored row."""

    @property
    def severity(self) -> Severity: ...
    @property
    def cvss_score(self) -> float: ...
    @property
    def epss(self) -> float | None: ...
    @property
    def kev_date_added(self) -> str: ...
    @property
    def fixed_version(self) -> str: ...
    @property
    def vul_id(self) -> str: ...
    @property
    def package_name(self) -> str: ...
    @property
    def package_version(self) -> str: ...


def impact(finding: RiskFields) -> float:
    return finding.cvss_score if finding.cvss_score > 0 else SEVERITY_WEIGHT[finding.severity]


def risk_key(finding: RiskFields) -> RiskKey:
    """Sort key: `sorted(findings, key=risk_key)` lists the most urgent first."""
    weight = impact(finding)
    return (
        0 if finding.kev_date_added else 1,
        -((finding.epss or 0.0) * weight),
        -finding.severity.rank,
        0 if finding.fixed_version else 1,
        -weight,
        finding.vul_id,
        finding.package_name,
        finding.package_version,
    )
