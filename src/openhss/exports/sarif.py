"""SARIF 2.1.0 for CI systems (GitHub code scanning, GitLab, Azure DevOps) from one image's report.

Every vulnerability and finding becomes a `result` whose rule is the advisory id or the detector's stable
`rule_id`; locations are image paths (there is no source tree), and the layer digest travels in
`properties` so a reviewer can find the blob. Secret evidence is already masked by the analyzers.
"""

from __future__ import annotations

import json
from typing import Any

from openhss import __version__
from openhss.domain.coverage import describe, uncovered
from openhss.domain.enums import Severity
from openhss.domain.report import ImageReport
from openhss.exports.scan_json import coverage_doc

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

#: SARIF has three levels; HSS severities map onto them as most CI tools expect.
LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.UNKNOWN: "note",
}
#: GitHub sorts by `security-severity` (a CVSS-like number as a string).
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "2.0",
    Severity.UNKNOWN: "0.0",
}


def _location(path: str) -> list[dict[str, Any]]:
    if not path:
        return []
    return [{"physicalLocation": {"artifactLocation": {"uri": path, "uriBaseId": "IMAGEROOT"}}}]


def document(report: ImageReport) -> dict[str, Any]:
    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []

    def rule(rule_id: str, title: str, severity: Severity, help_text: str, tags: list[str]) -> int:
        if rule_id not in rules:
            rules[rule_id] = {
                "id": rule_id,
                "name": rule_id.replace("-", "_"),
                "shortDescription": {"text": title or rule_id},
                "help": {"text": help_text or title or rule_id},
                "defaultConfiguration": {"level": LEVEL[severity]},
                "properties": {"security-severity": SECURITY_SEVERITY[severity], "tags": tags},
            }
        return list(rules).index(rule_id)

    for v in report.vulnerabilities:
        fix = (
            f"Upgrade {v.package_name} to {v.fixed_version}." if v.fixed_version else f"No fix ({v.status})."
        )
        index = rule(v.vul_id, v.title or v.vul_id, v.severity, fix, ["vulnerability", v.type.value])
        results.append(
            {
                "ruleId": v.vul_id,
                "ruleIndex": index,
                "level": LEVEL[v.severity],
                "message": {
                    "text": f"{v.package_name} {v.package_version} is affected by {v.vul_id} "
                    f"({v.severity.value}). {fix}"
                },
                "locations": _location(v.path),
                "properties": {
                    "package": v.package_name,
                    "installed_version": v.package_version,
                    "fixed_version": v.fixed_version,
                    "purl": v.purl,
                    "aliases": list(v.aliases),
                    "layer_digest": v.layer_digest,
                },
            }
        )
    for f in report.findings:
        index = rule(f.rule_id, f.title, f.severity, f.remediation, [f.kind.value])
        location = _location(f.path)
        if location and f.line:
            location[0]["physicalLocation"]["region"] = {"startLine": f.line}
        results.append(
            {
                "ruleId": f.rule_id,
                "ruleIndex": index,
                "level": LEVEL[f.severity],
                "message": {"text": f"{f.title}: {f.evidence}" if f.evidence else f.title},
                "locations": location,
                "properties": {"kind": f.kind.value, "layer_digest": f.layer_digest},
            }
        )
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "openhss",
                        "version": __version__,
                        "informationUri": "https://github.com/openhss/openhss",
                        "rules": list(rules.values()),
                    }
                },
                "originalUriBaseIds": {"IMAGEROOT": {"uri": "file:///"}},
                "invocations": [_invocation(report)],
                "results": results,
                "properties": _run_properties(report),
            }
        ],
    }


def _run_properties(report: ImageReport) -> dict[str, Any]:
    props: dict[str, Any] = {"image": report.image.ref, "digest": report.image.digest}
    if report.coverage is not None:
        props["coverage"] = [coverage_doc(e) for e in report.coverage]
    return props


def _invocation(report: ImageReport) -> dict[str, Any]:
    """Uncovered OS releases / ecosystems as warning notifications: an empty `results` list next to
    them means "not checked", and code-scanning UIs show notifications beside the results."""
    notes = [{"level": "warning", "message": {"text": describe(e)}} for e in uncovered(report.coverage or [])]
    return {"executionSuccessful": True, "toolExecutionNotifications": notes}


def render(report: ImageReport) -> str:
    return json.dumps(document(report), indent=2, ensure_ascii=False)
