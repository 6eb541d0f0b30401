"""The two plugin contracts of exports: a report layout (what a file's columns are) and a file format
(how rows become a file).

A report type is a `ReportLayout` here plus the statement that selects its rows in
`services/exports.py` (the database is not the writers' business); a file format is a `FileFormat`.
Both are listed once in `exports/registry.py`, and the API, the CLI and the console take their choices
from there, so a new report type or format is one definition and one registry line, not an edit of
every `if/elif` and `Literal` that names the types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str
    width: int = 18


@dataclass(frozen=True, slots=True)
class ReportLayout:
    """One report type's file shape. `name` is the report type (the export task's type and the file
    name prefix); the row dicts a statement produces are keyed by the columns' `key`s."""

    name: str
    title: str
    sheet: str  # Excel allows 31 characters, no `/`
    columns: tuple[Column, ...]

    @property
    def keys(self) -> list[str]:
        return [c.key for c in self.columns]


#: Writes the rows (consumed one at a time, never held) to `path`; returns the number of rows written.
Writer = Callable[[Path, ReportLayout, Iterable[Mapping[str, Any]]], int]
#: The same, for rows that are already value sequences in the layout's column order: the bulk path of
#: the tabular formats, which then build no per-row mapping (`services.exports.iter_values`).
ValuesWriter = Callable[[Path, ReportLayout, Iterable[Sequence[Any]]], int]


@dataclass(frozen=True, slots=True)
class FileFormat:
    """A file format any report (or only `reports`, e.g. a VEX document of the vulnerability reports)
    can be written in. The writer gets the rows keyed by the layout's column keys."""

    name: str
    media_type: str
    extension: str
    write: Writer
    #: Report types this format can write; None: every report.
    reports: frozenset[str] | None = None
    #: The format's writer for layout-ordered value rows, when it has one (preferred by exports).
    write_values: ValuesWriter | None = None

    def supports(self, report: str) -> bool:
        return self.reports is None or report in self.reports
