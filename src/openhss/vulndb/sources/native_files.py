"""Reading the native advisory repositories as they are carried in: a zip of the repository, or a
checkout of it (a directory, walked recursively). Members are picked by their path in the repository,
bounded in size, never extracted to disk."""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import yaml

from openhss.vulndb.sources.base import MAX_DOCUMENT_BYTES, SourceError

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
