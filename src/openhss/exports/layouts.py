"""The columns of every report type, declared once: the file header, the README table and the row
builders in `services/exports.py` read them from here and cannot drift apart.

Keys are the field names of the matching API list endpoint where one exists.
"""

from __future__ import annotations

from openhss.exports.base import Column, ReportLayout


def _c(key: str, title: str, width: int = 18) -> Column:
    return Column(key, title, width)


_IMAGE = (
    _c("image_name", "Image name", 28),
    _c("image_version", "Image version"),
    _c("image_id", "Image ID", 24),
)
_VULNERABILITY = (
    _c("vul_id", "Vulnerability ID", 20),
    _c("type", "Vulnerability type", 12),
    _c("severity", "Severity", 10),
    _c("repair_necessity", "Repair urgency", 16),
    _c("cvss_score", "CVSS score", 10),
    _c("app_name", "Software", 22),
    _c("version", "Installed version", 18),
    _c("fixed_version", "Fixed version", 18),
    _c("solution", "Solution", 30),
    _c("app_path", "Path", 40),
    _c("position", "Layer", 24),
    _c("status", "Fix status", 16),
    _c("handle_status", "Handling status", 12),
    _c("description", "Description", 40),
    _c("first_found_time", "First found", 20),
)

LOCAL_VULNERABILITY = ReportLayout(
    "local-vulnerability", "Local image vulnerabilities", "Vulnerabilities", (*_IMAGE, *_VULNERABILITY)
)
REGISTRY_VULNERABILITY = ReportLayout(
    "registry-vulnerability",
    "Registry image vulnerabilities",
    "Registry vulnerabilities",
    (*_IMAGE, _c("registry_name", "Registry", 20), _c("namespace", "Namespace", 16), *_VULNERABILITY),
)
CICD_VULNERABILITY = ReportLayout(
    "cicd-vulnerability",
    "CI/CD image vulnerabilities",
    "CI-CD vulnerabilities",
    (*_IMAGE, _c("cicd_name", "CI/CD pipeline", 20), *_VULNERABILITY),
)
MALWARES = ReportLayout(
    "malwares",
    "Malware (security report)",
    "Malicious files",
    (
        *_IMAGE,
        _c("description", "Malware", 28),
        _c("rule_id", "Rule", 22),
        _c("severity", "Severity", 10),
        _c("file_name", "File name", 20),
        _c("file_path", "File path", 40),
        _c("layer_digest", "Layer", 24),
        _c("found_time", "Found", 20),
    ),
)
APPS = ReportLayout(
    "apps",
    "Packages (security report)",
    "Software",
    (
        *_IMAGE,
        _c("app_name", "Software", 24),
        _c("app_version", "Version", 18),
        _c("app_type", "Type", 10),
        _c("vul_num", "Vulnerabilities", 10),
        _c("licenses", "Licenses", 24),
        _c("app_path", "Path", 40),
        _c("layer_digest", "Layer", 24),
    ),
)
FILES = ReportLayout(
    "files",
    "Files (security report)",
    "Files",
    (
        *_IMAGE,
        _c("file_name", "File name", 20),
        _c("file_path", "File path", 40),
        _c("file_type", "File type", 14),
        _c("size", "Size (bytes)", 12),
        _c("mode", "Mode", 8),
        _c("sha256", "SHA-256", 30),
        _c("layer_digest", "Layer", 24),
    ),
)
SENSITIVE_INFO = ReportLayout(
    "sensitive-info",
    "Secrets (security report)",
    "Sensitive information",
    (
        *_IMAGE,
        _c("name", "Sensitive information", 28),
        _c("rule_id", "Rule", 22),
        _c("severity", "Severity", 10),
        _c("file_path", "File path", 40),
        _c("position", "Position", 40),
        _c("content", "Evidence (masked)", 30),
        _c("description", "Description", 30),
        _c("handle_status", "Handling status", 12),
        _c("layer_digest", "Layer", 24),
        _c("latest_scan_time", "Found", 20),
    ),
)
NON_COMPLIANT_APP = ReportLayout(
    "non-compliant-app",
    "Non-compliant software (security report)",
    "Non-compliant software",
    (
        *_IMAGE,
        _c("app_name", "Software", 24),
        _c("app_version", "Version", 18),
        _c("rule_id", "Policy rule", 22),
        _c("severity", "Severity", 10),
        _c("reason", "Reason", 40),
        _c("app_path", "Path", 40),
        _c("layer_digest", "Layer", 24),
    ),
)
BUILD_COMMAND_RISKS = ReportLayout(
    "build-command-risks",
    "Build-command risks (security report)",
    "Build command risks",
    (
        *_IMAGE,
        _c("rule_id", "Rule ID", 22),
        _c("risk_name", "Risk", 30),
        _c("risk_level", "Risk level", 10),
        _c("command", "Build instruction", 60),
        _c("step", "History step", 8),
        _c("layer_digest", "Layer", 24),
        _c("description", "Remediation", 40),
    ),
)
