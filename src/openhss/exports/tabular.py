"""Row-streaming XLSX and CSV writers for the HSS export reports.

Exports can hold a fleet's worth of rows, so writers consume an iterator and never hold the result set:
XlsxWriter runs in `constant_memory` mode (each row is flushed to its temp file as soon as the next one
starts) and CSV writes straight through. Columns are declared per report type here, once, so the file
header, the README table and the API field names cannot drift apart.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import xlsxwriter


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str
    width: int = 18


def _c(key: str, title: str, width: int = 18) -> Column:
    return Column(key, title, width)


_IMAGE = [
    _c("image_name", "Image name", 28),
    _c("image_version", "Image version"),
    _c("image_id", "Image ID", 24),
]

#: Columns per report type: the two seed exports' `security_report_type`s plus the vulnerability export.
REPORT_COLUMNS: dict[str, list[Column]] = {
    "local-vulnerability": [
        *_IMAGE,
        _c("vul_id", "Vulnerability ID", 20),
        _c("vul_name", "Vulnerability name", 36),
        _c("type", "Vulnerability type", 12),
        _c("repair_necessity", "Severity", 10),
        _c("cvss_score", "CVSS score", 10),
        _c("app_name", "Software", 22),
        _c("app_version", "Installed version", 18),
        _c("fixed_version", "Fixed version", 18),
        _c("status", "Fix status", 12),
        _c("handle_status", "Handling status", 12),
        _c("app_path", "Path", 40),
        _c("layer_digest", "Layer", 24),
        _c("cve_ids", "CVE IDs", 24),
        _c("latest_scan_time", "Latest scan time", 20),
    ],
    "malwares": [
        *_IMAGE,
        _c("malware_name", "Malware", 28),
        _c("rule_id", "Rule", 22),
        _c("severity", "Severity", 10),
        _c("file_path", "File path", 40),
        _c("file_hash", "SHA-256", 30),
        _c("layer_digest", "Layer", 24),
        _c("latest_scan_time", "Latest scan time", 20),
    ],
    "apps": [
        *_IMAGE,
        _c("app_name", "Software", 24),
        _c("app_version", "Version", 18),
        _c("app_type", "Type", 10),
        _c("ecosystem", "Ecosystem", 12),
        _c("purl", "Package URL", 40),
        _c("app_path", "Path", 40),
        _c("licenses", "Licenses", 24),
        _c("layer_digest", "Layer", 24),
    ],
    "files": [
        *_IMAGE,
        _c("file_path", "File path", 40),
        _c("file_type", "File type", 14),
        _c("file_size", "Size (bytes)", 12),
        _c("mode", "Mode", 8),
        _c("owner", "Owner uid:gid", 12),
        _c("file_hash", "SHA-256", 30),
        _c("layer_digest", "Layer", 24),
    ],
    "sensitive-info": [
        *_IMAGE,
        _c("sensitive_info_name", "Sensitive information", 28),
        _c("rule_id", "Rule", 22),
        _c("severity", "Severity", 10),
        _c("file_path", "File path", 40),
        _c("line", "Line", 6),
        _c("content", "Evidence (masked)", 30),
        _c("handle_status", "Handling status", 12),
        _c("layer_digest", "Layer", 24),
    ],
    "non-compliant-app": [
        *_IMAGE,
        _c("app_name", "Software", 24),
        _c("app_version", "Version", 18),
        _c("rule_id", "Policy rule", 22),
        _c("severity", "Severity", 10),
        _c("reason", "Reason", 40),
        _c("app_path", "Path", 40),
    ],
    "build-command-risks": [
        *_IMAGE,
        _c("rule_id", "Rule ID", 22),
        _c("risk_name", "Risk", 30),
        _c("risk_level", "Risk level", 10),
        _c("command", "Build instruction", 60),
        _c("remediation", "Remediation", 40),
    ],
}

#: Sheet names (Excel allows 31 chars, no `/`).
SHEET_NAMES: dict[str, str] = {
    "local-vulnerability": "Vulnerabilities",
    "malwares": "Malicious files",
    "apps": "Software",
    "files": "Files",
    "sensitive-info": "Sensitive information",
    "non-compliant-app": "Non-compliant software",
    "build-command-risks": "Build command risks",
}


def cell(value: Any) -> str | int | float:
    """Spreadsheet-safe scalar. Text starting with a formula sigil is prefixed with `'`: image content is
    hostile, and a package named `=HYPERLINK(...)` must not become a live formula in the reader's Excel."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def write_xlsx(path: Path, report_type: str, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write one sheet; returns the number of data rows written."""
    columns = REPORT_COLUMNS[report_type]
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False})
    try:
        header = workbook.add_format({"bold": True, "bg_color": "#DDE6F0", "border": 1})
        sheet = workbook.add_worksheet(SHEET_NAMES[report_type])
        for index, col in enumerate(columns):
            sheet.set_column(index, index, col.width)
            sheet.write_string(0, index, col.title, header)
        sheet.freeze_panes(1, 0)
        count = 0
        for count, row in enumerate(rows, start=1):
            for index, col in enumerate(columns):
                value = cell(row.get(col.key))
                if isinstance(value, str):
                    sheet.write_string(count, index, value)
                else:
                    sheet.write_number(count, index, value)
        if count:
            sheet.autofilter(0, 0, count, len(columns) - 1)
    finally:
        workbook.close()
    return count


def write_csv(path: Path, report_type: str, rows: Iterable[Mapping[str, Any]]) -> int:
    columns = REPORT_COLUMNS[report_type]
    count = 0
    # utf-8-sig so Excel opens non-ASCII (Chinese image names) correctly.
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow([c.title for c in columns])
        for row in rows:
            writer.writerow([cell(row.get(c.key)) for c in columns])
            count += 1
    return count


Writer = Callable[[Path, str, Iterable[Mapping[str, Any]]], int]

#: file format → (writer, media type, file extension)
FORMATS: dict[str, tuple[Writer, str, str]] = {
    "xlsx": (write_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "csv": (write_csv, "text/csv; charset=utf-8", "csv"),
}
