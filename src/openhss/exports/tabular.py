"""Row-streaming XLSX and CSV writers for the HSS export reports.

Exports can hold a fleet's worth of rows, so writers consume an iterator and never hold the result set:
XLSX goes through the streaming writer in `xlsx_stream` (sheet XML generated row by row into the zip
entry, inline strings), CSV writes straight through. The columns come from the report's layout
(`exports/layouts.py`); these writers are registered as file formats in `exports/registry.py`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openhss.exports.base import ReportLayout
from openhss.exports.xlsx_stream import SheetSpec, write_workbook

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


def _ordered(layout: ReportLayout, rows: Iterable[Mapping[str, Any]]) -> Iterable[list[Any]]:
    keys = layout.keys
    return ([row.get(k) for k in keys] for row in rows)


def write_xlsx(path: Path, layout: ReportLayout, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write one sheet (more past Excel's row limit); returns the number of data rows written."""
    return write_xlsx_values(path, layout, _ordered(layout, rows))


def write_xlsx_values(path: Path, layout: ReportLayout, rows: Iterable[Sequence[Any]]) -> int:
    """`write_xlsx` for rows already in the layout's column order (raw database tuples and the few
    derived values): each goes straight to the sheet encoder, which calls `cell` once per distinct
    text, not once per cell."""
    columns = layout.columns
    spec = SheetSpec(layout.sheet, [c.title for c in columns], [c.width for c in columns])
    return write_workbook(path, spec, rows, sanitize=cell)


def write_csv(path: Path, layout: ReportLayout, rows: Iterable[Mapping[str, Any]]) -> int:
    return write_csv_values(path, layout, _ordered(layout, rows))


def write_csv_values(path: Path, layout: ReportLayout, rows: Iterable[Sequence[Any]]) -> int:
    count = 0
    # utf-8-sig so Excel opens non-ASCII (Chinese image names) correctly.
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow([c.title for c in layout.columns])
        for values in rows:
            writer.writerow([cell(v) for v in values])
            count += 1
    return count
