"""Row-streaming XLSX and CSV writers for the HSS export reports.

Exports can hold a fleet's worth of rows, so writers consume an iterator and never hold the result set:
XLSX goes through the streaming writer in `xlsx_stream` (sheet XML generated row by row into the zip
entry, inline strings), CSV writes straight through. Columns are declared per report type here, once,
so the file header, the README table and the row builders in `services/exports.py` cannot drift apart.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openhss.exports.xlsx_stream import SheetSpec, write_workbook


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

#: Columns per report type: the six `security_report_type`s plus the local-vulnerability export. Keys
#: are the field names of the matching API list endpoint where one exists.
REPORT_COLUMNS: dict[str, list[Column]] = {
    "local-vulnerability": [
        *_IMAGE,
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
    ],
    "malwares": [
        *_IMAGE,
        _c("description", "Malware", 28),
        _c("rule_id", "Rule", 22),
        _c("severity", "Severity", 10),
        _c("file_name", "File name", 20),
        _c("file_path", "File path", 40),
        _c("layer_digest", "Layer", 24),
        _c("found_time", "Found", 20),
    ],
    "apps": [
        *_IMAGE,
        _c("app_name", "Software", 24),
        _c("app_version", "Version", 18),
        _c("app_type", "Type", 10),
        _c("vul_num", "Vulnerabilities", 10),
        _c("licenses", "Licenses", 24),
        _c("app_path", "Path", 40),
        _c("layer_digest", "Layer", 24),
    ],
    "files": [
        *_IMAGE,
        _c("file_name", "File name", 20),
        _c("file_path", "File path", 40),
        _c("file_type", "File type", 14),
        _c("size", "Size (bytes)", 12),
        _c("mode", "Mode", 8),
        _c("sha256", "SHA-256", 30),
        _c("layer_digest", "Layer", 24),
    ],
    "sensitive-info": [
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
    ],
    "non-compliant-app": [
        *_IMAGE,
        _c("app_name", "Software", 24),
        _c("app_version", "Version", 18),
        _c("rule_id", "Policy rule", 22),
        _c("severity", "Severity", 10),
        _c("reason", "Reason", 40),
        _c("app_path", "Path", 40),
        _c("layer_digest", "Layer", 24),
    ],
    "build-command-risks": [
        *_IMAGE,
        _c("rule_id", "Rule ID", 22),
        _c("risk_name", "Risk", 30),
        _c("risk_level", "Risk level", 10),
        _c("command", "Build instruction", 60),
        _c("step", "History step", 8),
        _c("layer_digest", "Layer", 24),
        _c("description", "Remediation", 40),
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


_SIGILS = frozenset("=+-@\t\r")


def cell(value: Any) -> str | int | float:
    """Spreadsheet-safe scalar. Text starting with a formula sigil is prefixed with `'`: image content is
    hostile, and a package named `=HYPERLINK(...)` must not become a live formula in the reader's Excel.

    Runs once per cell of every export, so the common types are tested first by exact type.
    """
    kind = type(value)
    if kind is str:
        text: str = value
        return "'" + text if text and text[0] in _SIGILS else text
    if kind is int or kind is float:
        number: int | float = value
        return number
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
    return cell(str(value))


def _values(report_type: str, rows: Iterable[Mapping[str, Any]]) -> Iterable[list[str | int | float]]:
    keys = [c.key for c in REPORT_COLUMNS[report_type]]
    for row in rows:
        yield [cell(row.get(k)) for k in keys]


def write_xlsx(path: Path, report_type: str, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write one sheet (more past Excel's row limit); returns the number of data rows written."""
    columns = REPORT_COLUMNS[report_type]
    spec = SheetSpec(SHEET_NAMES[report_type], [c.title for c in columns], [c.width for c in columns])
    keys = [c.key for c in columns]
    # Raw values: the writer calls `cell` once per distinct text, not once per cell.
    return write_workbook(path, spec, ([row.get(k) for k in keys] for row in rows), sanitize=cell)


def write_csv(path: Path, report_type: str, rows: Iterable[Mapping[str, Any]]) -> int:
    columns = REPORT_COLUMNS[report_type]
    count = 0
    # utf-8-sig so Excel opens non-ASCII (Chinese image names) correctly.
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow([c.title for c in columns])
        for values in _values(report_type, rows):
            writer.writerow(values)
            count += 1
    return count


Writer = Callable[[Path, str, Iterable[Mapping[str, Any]]], int]

#: file format → (writer, media type, file extension)
FORMATS: dict[str, tuple[Writer, str, str]] = {
    "xlsx": (write_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "csv": (write_csv, "text/csv; charset=utf-8", "csv"),
}
