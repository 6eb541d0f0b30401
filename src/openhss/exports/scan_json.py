"""The `openhss scan --format json` document: stable keys that CI pipelines and scripts parse.

Key names are part of the CLI's contract (issue text and README); additions are fine, renames are not.
"""

from __future__ import annotations

from typing import Any

from openhss.domain.enums import FindingKind
from openhss.domain.models import FileRecord, Finding, Package
from openhss.domain.report import ImageReport
from openhss.domain.vulnerability import VulnerabilityFinding

SCHEMA_VERSION = 1

#: JSON key per non-CVE finding kind.
FINDING_KEYS: dict[FindingKind, str] = {
    FindingKind.SECRET: "secrets",
    FindingKind.MALWARE: "malware",
    FindingKind.BASELINE: "baseline",
    FindingKind.BUILD_COMMAND_RISK: "build_command_risks",
    FindingKind.NON_COMPLIANT_APP: "non_compliant_apps",
}


def package_doc(p: Package) -> dict[str, Any]:
    return {
        "name": p.name,
        "version": p.version,
        "ecosystem": p.ecosystem.value,
        "purl": p.purl,
        "type": p.type.value,
        "path": p.path,
        "layer_digest": p.layer_digest,
        "licenses": list(p.licenses),
        "source_name": p.source_name,
        "source_version": p.source_version,
        "arch": p.arch,
    }


def vulnerability_doc(v: VulnerabilityFinding) -> dict[str, Any]:
    return {
        "vul_id": v.vul_id,
        "aliases": list(v.aliases),
        "package": v.package_name,
        "version": v.package_version,
        "ecosystem": v.ecosystem.value,
        "purl": v.purl,
        "fixed_version": v.fixed_version,
        "status": v.status,
        "severity": v.severity.value,
        "cvss_score": v.cvss_score,
        "cvss_vector": v.cvss_vector,
        "type": v.type.value,
        "path": v.path,
        "layer_digest": v.layer_digest,
        "title": v.title,
        "urls": list(v.urls),
    }


def finding_doc(f: Finding) -> dict[str, Any]:
    return {
        "rule_id": f.rule_id,
        "severity": f.severity.value,
        "title": f.title,
        "path": f.path,
        "layer_digest": f.layer_digest,
        "line": f.line,
        "evidence": f.evidence,
        "remediation": f.remediation,
        "count": f.count,
        "examples": list(f.examples),
    }


def file_doc(f: FileRecord) -> dict[str, Any]:
    return {
        "path": f.path,
        "size": f.size,
        "mode": f"{f.mode:04o}",
        "uid": f.uid,
        "gid": f.gid,
        "file_type": f.file_type,
        "sha256": f.sha256,
        "layer_digest": f.layer_digest,
    }


def report_doc(report: ImageReport) -> dict[str, Any]:
    img = report.image
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "image": {
            "ref": img.ref,
            "transport": img.transport,
            "digest": img.digest,
            "config_digest": img.config_digest,
            "platform": f"{img.os_name}/{img.architecture}",
            "size": img.size,
            "created": img.created,
            "user": img.user,
            "repo_tags": list(img.repo_tags),
            "os": {
                "family": report.os.family if report.os else "",
                "version": report.os.version if report.os else "",
                "codename": report.os.codename if report.os else "",
                "name": report.os.name if report.os else "",
            },
            "layers": [
                {
                    "digest": layer.digest,
                    "diff_id": layer.diff_id,
                    "size": layer.size,
                    "media_type": layer.media_type,
                    "created_by": layer.created_by,
                    "cached": layer.cached,
                }
                for layer in report.layers
            ],
        },
        "packages": [package_doc(p) for p in report.packages],
        "vulnerabilities": [vulnerability_doc(v) for v in report.vulnerabilities],
        "files": [file_doc(f) for f in report.files],
    }
    for kind, key in FINDING_KEYS.items():
        doc[key] = [finding_doc(f) for f in report.findings if f.kind is kind]
    doc["skipped"] = [{"path": p, "reason": r} for p, r in report.skipped]
    doc["warnings"] = list(report.warnings)
    doc["duration_seconds"] = report.seconds
    return doc
