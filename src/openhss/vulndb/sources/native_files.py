"""Reading the native advisory repositories as they are carried in: a zip of the repository, or a
checkout of it (a directory, walked recursively). Members are picked by their path in the repository,
bounded in size, never extracted to disk."""

from __future__ import annotations

import logging
import re
import zipfile
import zlib
from abc import abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import yaml

from openhss.domain.advisory import AffectedRecord
from openhss.vulndb.sources.base import MAX_DOCUMENT_BYTES, AdvisorySource, Feed, SourceError

log = logging.getLogger(__name__)

#: One advisory file of these repositories is a few KB; anything near this is not one.
MAX_MEMBER_BYTES = 1024 * 1024


def member_names(path: Path, layout: re.Pattern[str], limit: int = 200) -> list[str]:
    """Up to `limit` repository paths under `path` that match `layout` (for `accepts`)."""
    found: list[str] = []
    if path.is_dir():
        for f in path.rglob("*"):
            rel = f.relative_to(path).as_posix()
            if layout.search(rel) and f.is_file():
                found.append(rel)
                if len(found) >= limit:
                    break
        return found
    try:
        with zipfile.ZipFile(path) as zf:
            return [n for n in zf.namelist() if layout.search(n)][:limit]
    except (zipfile.BadZipFile, OSError):
        return []


def members(path: Path, layout: re.Pattern[str]) -> Iterator[tuple[str, bytes]]:
    """(repository path, bytes) of every member matching `layout`."""
    if path.is_dir():
        for f in sorted(path.rglob("*")):
            rel = f.relative_to(path).as_posix()
            if (
                layout.search(rel)
                and f.is_file()
                and not f.is_symlink()
                and f.stat().st_size <= MAX_MEMBER_BYTES
            ):
                yield rel, f.read_bytes()
        return
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.is_dir() or not layout.search(info.filename) or info.file_size > MAX_MEMBER_BYTES:
                    continue
                try:
                    with zf.open(info) as fh:
                        yield info.filename, fh.read(MAX_DOCUMENT_BYTES + 1)
                except (zlib.error, EOFError, NotImplementedError, OSError) as exc:
                    raise SourceError(f"{path}: corrupt zip member {info.filename} ({exc})") from exc
    except zipfile.BadZipFile as exc:
        raise SourceError(f"{path}: not a zip file ({exc})") from exc


def load_yaml(data: bytes) -> object:
    """A YAML advisory with every scalar as its source string (dates and versions stay text)."""
    try:
        return yaml.load(data, Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader builds no objects
    except yaml.YAMLError:
        return None


class NativeRepositorySource(AdvisorySource):
    """An advisory repository in its own format, carried in as a zip or a checkout (no online feed:
    these are git repositories, not downloadable files). Subclasses read one member."""

    #: Repository paths of advisory files.
    layout: ClassVar[re.Pattern[str]]

    def feeds(self) -> list[Feed]:
        return []

    #: Bytes every advisory file of the format contains (its first member is checked), so a tree that
    #: merely has the same shape (e.g. PyPA's `vulns/<package>/<id>.yaml`) is not taken for this one.
    marker: ClassVar[bytes]

    def accepts(self, path: Path, head: bytes) -> bool:
        if not (path.is_dir() or head.startswith(b"PK\x03\x04")) or not member_names(path, self.layout, 1):
            return False
        try:
            first = next(members(path, self.layout), None)
        except SourceError:
            return False
        return first is not None and self.marker in first[1]

    def feed_name(self, path: Path) -> str:
        return self.name

    def parse(self, path: Path, feed_name: str) -> Iterator[AffectedRecord]:
        for member, data in members(path, self.layout):
            records = self.records(member, data, feed_name)
            if records is None:
                log.warning("%s: %s is not a %s advisory", path, member, self.name)
                continue
            yield from records

    @abstractmethod
    def records(self, member: str, data: bytes, feed_name: str) -> list[AffectedRecord] | None:
        """The records of one advisory file; None when it is not one."""
