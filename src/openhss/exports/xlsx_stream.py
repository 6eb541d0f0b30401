"""A minimal streaming XLSX writer: sheet XML is generated row by row straight into the zip entry.

Why not XlsxWriter: even in `constant_memory` mode it spends ~50 µs per row of an export (cell objects,
a temporary XML file, then a second pass to zip it), which puts a million-row export near a minute
before the database has produced a single row. An export sheet needs none of its features: text and
numbers, one bold header row, column widths, a frozen header and an autofilter. Writing that subset by
hand is a few templates, and inline strings (no shared-string table) keep memory flat whatever the
row count. The output is checked by reading it back with openpyxl in the tests.

Text cells are escaped for XML; characters XML 1.0 cannot carry (control characters, lone surrogates)
are written the way Excel itself encodes them (`_xHHHH_`), with a literal `_xHHHH_` in the data
protected as `_x005F_xHHHH_`, as XlsxWriter does. Cells longer than Excel's 32,767-character limit are
truncated. A sheet that would pass Excel's 1,048,576-row limit continues on a new sheet of the same
name plus a number, each with its own header row.
"""

from __future__ import annotations

import math
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import quoteattr

#: Excel's limits.
MAX_ROWS = 1_048_576
MAX_CELL_CHARS = 32_767
MAX_SHEET_NAME = 31

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

_STYLES = (
    _XML_DECL + f'<styleSheet xmlns="{_MAIN_NS}">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="3"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FFDDE6F0"/><bgColor indexed="64"/>'
    "</patternFill></fill></fills>"
    '<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
    '<border><left style="thin"><color auto="1"/></left><right style="thin"><color auto="1"/></right>'
    '<top style="thin"><color auto="1"/></top><bottom style="thin"><color auto="1"/></bottom>'
    "<diagonal/></border></borders>"
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="1" xfId="0" applyFont="1" applyFill="1" '
    'applyBorder="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)

_ROOT_RELS = (
    _XML_DECL + f'<Relationships xmlns="{_PKG_REL_NS}">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="xl/workbook.xml"/></Relationships>'
)

#: Characters that need work before they can go into `<t>`: XML specials, what XML 1.0 forbids, and a
#: literal `_xHHHH_` that Excel would otherwise decode.
_NEEDS_WORK = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]|_x[0-9A-Fa-f]{4}_")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _fix(match: re.Match[str]) -> str:
    text = match.group()
    if text in _ENTITIES:
        return _ENTITIES[text]
    if len(text) > 1:
        return "_x005F_" + text
    code = ord(text)
    if 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return f"_x{code:04X}_"


def _text_cell(value: str) -> str:
    if len(value) > MAX_CELL_CHARS:
        value = value[:MAX_CELL_CHARS]
    if _NEEDS_WORK.search(value):
        value = _NEEDS_WORK.sub(_fix, value)
    if value.strip() != value:
        return f'<c t="inlineStr"><is><t xml:space="preserve">{value}</t></is></c>'
    return f'<c t="inlineStr"><is><t>{value}</t></is></c>'


def _other_cell(value: str | int | float) -> str:
    if isinstance(value, str):
        return _text_cell(value) if value else "<c/>"
    if isinstance(value, float) and not math.isfinite(value):
        return _text_cell(str(value))
    return f"<c><v>{value!r}</v></c>"


Scalar = str | int | float
#: Turns any value into a scalar (the caller's policy: formula neutralising, dates, lists).
Sanitizer = Callable[[Any], Scalar]


def _identity(value: Any) -> Scalar:
    clean: Scalar = "" if value is None else value
    return clean


class RowEncoder:
    """Turns rows into `<c>` elements. The hot loop of every export: export columns repeat the same
    values across rows (image names, layers, severities, statuses, package names), so the encoded cell
    of each short text is remembered in a bounded table and most cells cost one dict lookup; the
    sanitizer runs only on a miss."""

    _MAX_ENTRIES = 20_000
    _MAX_CACHED_CHARS = 256

    def __init__(self, sanitize: Sanitizer = _identity) -> None:
        self._pieces: dict[str, str] = {}
        self._sanitize = sanitize

    def _encode(self, value: Any) -> str:
        clean = self._sanitize(value)
        if type(clean) is str:
            return _text_cell(clean) if clean else "<c/>"
        return _other_cell(clean)

    def row(self, values: Sequence[Any]) -> str:
        pieces = self._pieces
        parts = []
        for v in values:
            kind = type(v)
            if kind is str:
                piece = pieces.get(v)
                if piece is None:
                    piece = self._encode(v)
                    if len(v) <= self._MAX_CACHED_CHARS:
                        if len(pieces) >= self._MAX_ENTRIES:
                            pieces.clear()
                        pieces[v] = piece
                parts.append(piece)
            elif kind is int:
                parts.append(f"<c><v>{v}</v></c>")
            elif v is None:
                parts.append("<c/>")
            else:
                parts.append(self._encode(v))
        return "".join(parts)


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


@dataclass(frozen=True, slots=True)
class SheetSpec:
    name: str
    titles: Sequence[str]
    widths: Sequence[int]


@dataclass(slots=True)
class _Written:
    name: str
    rows: int  # data rows, header excluded


def _sheet_name(base: str, part: int) -> str:
    base = "".join("_" if ch in "[]:*?/\\" else ch for ch in base)[:MAX_SHEET_NAME] or "Sheet"
    if part == 1:
        return base
    suffix = f" {part}"
    return base[: MAX_SHEET_NAME - len(suffix)] + suffix


class _SheetStream:
    """One `xl/worksheets/sheetN.xml` entry being written; rows are buffered and encoded in batches."""

    _FLUSH_EVERY = 512

    def __init__(self, fh: IO[bytes], spec: SheetSpec, sanitize: Sanitizer) -> None:
        self._fh = fh
        self._buffer: list[str] = []
        self._encoder = RowEncoder(sanitize)
        self.rows = 0
        cols = "".join(
            f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
            for i, w in enumerate(spec.widths, start=1)
        )
        header = "".join(
            f'<c s="1" t="inlineStr"><is><t>{_NEEDS_WORK.sub(_fix, t)}</t></is></c>' for t in spec.titles
        )
        self._ncols = len(spec.titles)
        self._buffer.append(
            _XML_DECL + f'<worksheet xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
            '<sheetViews><sheetView workbookViewId="0">'
            '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft"/></sheetView></sheetViews>'
            f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData><row r="1">{header}</row>'
        )

    def add(self, values: Sequence[Any]) -> None:
        self.rows += 1
        self._buffer.append(f'<row r="{self.rows + 1}">{self._encoder.row(values)}</row>')
        if len(self._buffer) >= self._FLUSH_EVERY:
            self._flush()

    def _flush(self) -> None:
        self._fh.write("".join(self._buffer).encode("utf-8"))
        self._buffer.clear()

    def close(self) -> None:
        self._buffer.append("</sheetData>")
        if self.rows:
            self._buffer.append(f'<autoFilter ref="A1:{column_letter(self._ncols - 1)}{self.rows + 1}"/>')
        self._buffer.append("</worksheet>")
        self._flush()
        self._fh.close()


def write_workbook(
    path: Path,
    spec: SheetSpec,
    rows: Iterable[Sequence[Any]],
    *,
    sanitize: Sanitizer = _identity,
    compresslevel: int = 1,
    rows_per_sheet: int = MAX_ROWS - 1,
) -> int:
    """Stream `rows` into a one-report workbook; returns data rows. Values other than str/int/None go
    through `sanitize` (and so do strings, once per distinct value), which must return a scalar.

    Deflate level 1 because export XML is highly repetitive: it compresses nearly as well as level 6 at
    a fraction of the CPU, and the CPU is what bounds an export.
    """
    written: list[_Written] = []
    per_sheet = max(1, min(rows_per_sheet, MAX_ROWS - 1))
    total = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
        iterator: Iterator[Sequence[Any]] = iter(rows)
        part = 0
        pending = next(iterator, None)
        while part == 0 or pending is not None:
            part += 1
            name = _sheet_name(spec.name, part)
            with zf.open(f"xl/worksheets/sheet{part}.xml", "w", force_zip64=True) as raw:
                sheet = _SheetStream(raw, spec, sanitize)
                while pending is not None and sheet.rows < per_sheet:
                    sheet.add(pending)
                    pending = next(iterator, None)
                sheet.close()
            written.append(_Written(name, sheet.rows))
            total += sheet.rows
        _write_package(zf, written, len(spec.titles))
    return total


def _write_package(zf: zipfile.ZipFile, sheets: list[_Written], ncols: int) -> None:
    last_col = column_letter(ncols - 1)
    sheet_elems = "".join(
        f'<sheet name={quoteattr(s.name)} sheetId="{i}" r:id="rId{i}"/>' for i, s in enumerate(sheets, 1)
    )
    filters = "".join(
        f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
        f"'{s.name.replace(chr(39), chr(39) * 2)}'!$A$1:${last_col}${s.rows + 1}</definedName>"
        for i, s in enumerate(sheets)
        if s.rows
    )
    defined = f"<definedNames>{filters}</definedNames>" if filters else ""
    zf.writestr(
        "xl/workbook.xml",
        _XML_DECL + f'<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
        f'<bookViews><workbookView activeTab="0"/></bookViews><sheets>{sheet_elems}</sheets>{defined}'
        "</workbook>",
    )
    sheet_type = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
    styles_type = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles"
    rels = "".join(
        f'<Relationship Id="rId{i}" Type="{sheet_type}" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, len(sheets) + 1)
    )
    rels += f'<Relationship Id="rId{len(sheets) + 1}" Type="{styles_type}" Target="styles.xml"/>'
    zf.writestr(
        "xl/_rels/workbook.xml.rels",
        _XML_DECL + f'<Relationships xmlns="{_PKG_REL_NS}">{rels}</Relationships>',
    )
    zf.writestr("xl/styles.xml", _STYLES)
    zf.writestr("_rels/.rels", _ROOT_RELS)
    ct_sheet = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{ct_sheet}"/>'
        for i in range(1, len(sheets) + 1)
    )
    zf.writestr(
        "[Content_Types].xml",
        _XML_DECL + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        f"{overrides}</Types>",
    )
