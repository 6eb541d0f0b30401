"""XLSX/CSV writers: header + one row per record, read back with openpyxl/csv; hostile text stays text."""

from __future__ import annotations

import csv
import resource
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from openhss.exports.layouts import APPS
from openhss.exports.registry import FILE_FORMATS, LAYOUTS
from openhss.exports.tabular import write_csv, write_xlsx
from openhss.exports.xlsx_stream import SheetSpec, write_workbook


def rows(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {
            "image_name": "库/app",
            "image_version": f"1.{i}",
            "image_id": f"img{i}",
            "app_name": '=HYPERLINK("http://evil")' if i == 0 else f"pkg{i}",
            "app_version": "1.0",
            "licenses": ["MIT", "Apache-2.0"],
            "app_type": "python",
        }


@pytest.mark.parametrize("report_type", sorted(LAYOUTS))
def test_every_report_type_writes_a_header_only_file_when_empty(tmp_path: Path, report_type: str) -> None:
    path = tmp_path / "r.xlsx"
    assert write_xlsx(path, LAYOUTS[report_type], iter(())) == 0
    sheet = openpyxl.load_workbook(path, read_only=True).active
    assert sheet is not None
    got = list(sheet.iter_rows(values_only=True))
    assert got == [tuple(c.title for c in LAYOUTS[report_type].columns)]


def test_xlsx_rows_read_back_and_formulas_are_neutralised(tmp_path: Path) -> None:
    path = tmp_path / "apps.xlsx"
    assert write_xlsx(path, APPS, rows(3)) == 3
    sheet = openpyxl.load_workbook(path).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    titles = [c.title for c in APPS.columns]
    assert list(values[0]) == titles
    first = dict(zip(titles, values[1], strict=True))
    assert first["Software"] == '\'=HYPERLINK("http://evil")'
    assert first["Image name"] == "库/app"
    assert first["Licenses"] == "MIT, Apache-2.0"
    assert sheet.cell(row=2, column=titles.index("Software") + 1).data_type == "s"
    assert len(values) == 4


def test_csv_matches_xlsx(tmp_path: Path) -> None:
    assert write_csv(tmp_path / "a.csv", APPS, rows(5)) == 5
    with (tmp_path / "a.csv").open(encoding="utf-8-sig", newline="") as fh:
        got = list(csv.reader(fh))
    write_xlsx(tmp_path / "a.xlsx", APPS, rows(5))
    sheet = openpyxl.load_workbook(tmp_path / "a.xlsx").active
    assert sheet is not None
    expected = [["" if v is None else str(v) for v in r] for r in sheet.iter_rows(values_only=True)]
    assert got == expected


def test_xlsx_memory_does_not_grow_with_rows(tmp_path: Path) -> None:
    """100,000 rows must not be held: peak RSS grows by far less than the rows' size in memory."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert write_xlsx(tmp_path / "big.xlsx", APPS, rows(100_000)) == 100_000
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 40, grown_mb


def test_formats_registry() -> None:
    assert set(FILE_FORMATS) == {"xlsx", "csv"}


def test_streaming_writer_keeps_hostile_text_as_text(tmp_path: Path) -> None:
    hostile = [
        "a & b < c > d",
        "bell\x07 nul\x00 esc\x1b",
        "_x0041_ stays literal",
        "  leading and trailing  ",
        "lone surrogate \ud800",
        "x" * 40_000,
        '"]]></t></is></c><c><v>1</v></c>',
    ]
    spec = SheetSpec("We/ird:[name]*", ["text", "number"], [10, 10])
    path = tmp_path / "h.xlsx"
    assert write_workbook(path, spec, [[t, i + 0.5] for i, t in enumerate(hostile)]) == len(hostile)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["We_ird__name__"]
    got = list(book.active.iter_rows(values_only=True))
    assert got[0] == ("text", "number")
    texts = [r[0] for r in got[1:]]
    assert [r[1] for r in got[1:]] == [i + 0.5 for i in range(len(hostile))]
    assert texts[0] == "a & b < c > d"
    assert texts[1] is not None and "\x07" not in texts[1] and texts[1].startswith("bell")
    assert texts[2] is not None and "0041" in texts[2]
    assert texts[3] == "  leading and trailing  "
    assert texts[4] == "lone surrogate \ufffd"
    assert texts[5] == "x" * 32_767
    assert texts[6] == '"]]></t></is></c><c><v>1</v></c>'


def test_streaming_writer_continues_on_a_new_sheet_past_the_row_limit(tmp_path: Path) -> None:
    spec = SheetSpec("Software", ["n"], [8])
    path = tmp_path / "r.xlsx"
    assert write_workbook(path, spec, ([i] for i in range(7)), rows_per_sheet=3) == 7
    book = openpyxl.load_workbook(path, read_only=True)
    assert book.sheetnames == ["Software", "Software 2", "Software 3"]
    sheets = [list(book[name].iter_rows(values_only=True)) for name in book.sheetnames]
    assert sheets == [[("n",), (0,), (1,), (2,)], [("n",), (3,), (4,), (5,)], [("n",), (6,)]]
