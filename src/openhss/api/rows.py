"""Wire responses read from service rows by attribute name (`from_attributes`), not copied field by field.

A row (ORM object or service dataclass) usually names most of a wire model's fields itself; `wire` reads
those, and the caller names only what the row calls otherwise, computes, or does not hold (a second row
of a join, a constant the HSS shape requires). Validation is the wire model's own, so a row that lacks a
field or holds the wrong type is a loud error here, not a silently wrong response.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


class _View:
    """`source`'s attributes, with `values` in front of them."""

    __slots__ = ("_source", "_values")

    def __init__(self, source: object, values: dict[str, object]) -> None:
        self._source = source
        self._values = values

    def __getattr__(self, name: str) -> object:
        values = self._values
        if name in values:
            return values[name]
        return getattr(self._source, name)


def wire(model: type[M], source: object, **values: object) -> M:
    """`model` validated from `source`'s same-named attributes, `values` overriding or adding fields."""
    return model.model_validate(_View(source, values), from_attributes=True)
