"""`api.rows.wire`: a wire model read from a row's attributes, overrides in front, validation intact."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pydantic import ValidationError

from openhss.api import schemas as s
from openhss.api.rows import wire


@dataclass(frozen=True)
class _Finding:
    file_name: str
    file_path: str
    size: int


def test_same_named_attributes_are_read_and_overrides_win() -> None:
    row = _Finding("passwd", "usr/bin/passwd", 68_248)
    assert wire(s.ImageFileInfo, row).model_dump() == {
        "file_name": "passwd",
        "file_path": "usr/bin/passwd",
        "size": 68_248,
    }
    assert wire(s.ImageFileInfo, row, size=1).size == 1


def test_a_row_missing_a_field_or_of_the_wrong_type_is_refused() -> None:
    @dataclass(frozen=True)
    class NoSize:
        file_name: str
        file_path: str

    with pytest.raises(ValidationError, match="size"):
        wire(s.ImageFileInfo, NoSize("a", "b"))
    with pytest.raises(ValidationError, match="file_name"):
        wire(s.ImageFileInfo, _Finding("a", "b", 1), file_name=3)
