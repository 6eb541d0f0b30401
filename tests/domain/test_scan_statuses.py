"""The image scan-status values are declared once (`domain.enums.IMAGE_SCAN_STATUSES`); the HSS
schema's and the console's `Literal`s (kept literal for OpenAPI and validation) must name the same set."""

from __future__ import annotations

import typing

from openhss.api.schemas import ScanStatusAll
from openhss.cli_export import SCAN_STATUSES
from openhss.console.views import ScanStatusQ
from openhss.domain.enums import IMAGE_SCAN_STATUSES, ScanStatus


def test_one_set_of_image_scan_statuses() -> None:
    assert set(IMAGE_SCAN_STATUSES) == {"unscan"} | {s.value for s in ScanStatus}
    assert set(typing.get_args(ScanStatusAll)) == set(IMAGE_SCAN_STATUSES)
    (console_literal, *_) = typing.get_args(ScanStatusQ)
    assert set(typing.get_args(console_literal)) == {"", *IMAGE_SCAN_STATUSES}
    assert SCAN_STATUSES is IMAGE_SCAN_STATUSES
