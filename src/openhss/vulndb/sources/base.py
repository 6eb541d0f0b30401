"""The advisory-source contract.

A source knows its online feeds (URLs, and where a mirror keeps them) and how to turn one downloaded or
hand-carried file into `AffectedRecord`s. Everything that touches the network or the store lives in the
service, so a source is a pure parser plus a list of feeds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

from openhss.domain.advisory import AffectedRecord

T = TypeVar("T")

#: JSON documents larger than this are refused: a feed entry never needs more, hostile input might.
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024


class SourceError(ValueError):
    """A feed file that cannot be read as this source's format."""


@dataclass(frozen=True, slots=True)
class Feed:
    """One downloadable file. `name` is the store's bookkeeping key (`osv:PyPI`, `alpine:v3.18/main`)."""

    name: str
    url: str
    mirror_path: str
    ecosystem: str
    #: False for feeds too large to fetch unasked (NVD's yearly files): `db update -e <ecosystem>` only.
    default: bool = True


class FeedSource(ABC, Generic[T]):
    """A feed format: its online feeds and how a local file or directory becomes rows of type T."""

    name: ClassVar[str]

    @abstractmethod
    def feeds(self) -> list[Feed]:
        """Every feed this source can download (empty: an offline-only format)."""

    @abstractmethod
    def accepts(self, path: Path, head: bytes) -> bool:
        """Whether a local file (its first bytes given) or directory is in this source's format."""

    @abstractmethod
    def feed_name(self, path: Path) -> str:
        """The bookkeeping name of an offline file, so re-importing it replaces its earlier import."""

    @abstractmethod
    def parse(self, path: Path, feed_name: str) -> Iterator[T]:
        """The rows in a local file or directory."""


class AdvisorySource(FeedSource[AffectedRecord]):
    """Package advisories: what the matcher matches."""
