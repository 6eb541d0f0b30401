"""Every report layout and file format, one line each (the contracts are in `exports/base.py`).

A layout listed here without a statement in `services/exports.EXPORT_KINDS` (or the reverse) fails
`tests/exports/test_registry.py`; the API, CLI and console offer exactly what is listed.
"""

from __future__ import annotations

from openhss.exports import layouts, tabular
from openhss.exports.base import FileFormat, ReportLayout

LAYOUTS: dict[str, ReportLayout] = {
    layout.name: layout
    for layout in (
        layouts.LOCAL_VULNERABILITY,
        layouts.REGISTRY_VULNERABILITY,
        layouts.CICD_VULNERABILITY,
        layouts.MALWARES,
        layouts.APPS,
        layouts.FILES,
        layouts.SENSITIVE_INFO,
        layouts.NON_COMPLIANT_APP,
        layouts.BUILD_COMMAND_RISKS,
    )
}

_XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

FILE_FORMATS: dict[str, FileFormat] = {
    f.name: f
    for f in (
        FileFormat("xlsx", _XLSX_MEDIA, "xlsx", tabular.write_xlsx, write_values=tabular.write_xlsx_values),
        FileFormat(
            "csv", "text/csv; charset=utf-8", "csv", tabular.write_csv, write_values=tabular.write_csv_values
        ),
    )
}


def media_type_of(extension: str) -> str:
    """The media type a stored export file is served with, from its extension."""
    return next(
        (f.media_type for f in FILE_FORMATS.values() if f.extension == extension), "application/octet-stream"
    )
