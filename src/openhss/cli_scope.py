"""`--skip-dirs`, `--skip-files` and `--timeout`: what a CLI scan reads, and for how long.

Skipped paths are never handed to an analyzer (so a vendored test tree of fake keys is not even read),
and the layer cache keys of such a scan are salted with the patterns: an analysis made with a path
skipped must not answer a later scan that reads it, nor the reverse.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openhss.scan.analyzers.base import Analyzer, FileEntry
    from openhss.scan.cache import LayerCache
    from openhss.scan.walk import LayerAnalysis

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """`90`, `90s`, `5m`, `1h`, `500ms` → seconds (> 0)."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"invalid duration {text!r}; use e.g. 90s, 5m or 1h")
    return float(match.group(1)) * _UNIT[match.group(2)]


def _norm(glob: str) -> str:
    return glob.strip().lstrip("/").removeprefix("./").rstrip("/")


@dataclass(frozen=True, slots=True)
class SkipRules:
    """Globs over image-root-relative paths (`**` and `*` both cross `/`, as in Trivy)."""

    dirs: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    @classmethod
    def of(cls, dirs: Sequence[str], files: Sequence[str]) -> SkipRules:
        split = [g for text in dirs for g in text.split(",") if _norm(g)]
        split_f = [g for text in files for g in text.split(",") if _norm(g)]
        return cls(tuple(_norm(g) for g in split), tuple(_norm(g) for g in split_f))

    def __bool__(self) -> bool:
        return bool(self.dirs or self.files)

    def skips(self, path: str) -> bool:
        path = path.lstrip("/")
        if any(fnmatch.fnmatchcase(path, g) for g in self.files):
            return True
        return any(fnmatch.fnmatchcase(path, g) or fnmatch.fnmatchcase(path, g + "/*") for g in self.dirs)

    @property
    def salt(self) -> str:
        return hashlib.sha256(repr((sorted(self.dirs), sorted(self.files))).encode()).hexdigest()[:16]


def skipping_analyzers(classes: Sequence[type[Analyzer]], rules: SkipRules) -> list[type[Analyzer]]:
    """Subclasses of each analyzer that decline skipped paths; same name and version otherwise."""
    out: list[type[Analyzer]] = []
    for cls in classes:

        def wants(self: Any, entry: FileEntry, _base: type[Analyzer] = cls) -> bool:
            return not rules.skips(entry.path) and _base.wants(self, entry)

        out.append(type(cls.__name__, (cls,), {"wants": wants, "__module__": cls.__module__}))
    return out


class SaltedCache:
    """A layer cache whose keys also depend on the skip rules."""

    def __init__(self, inner: LayerCache, salt: str) -> None:
        self._inner = inner
        self._salt = salt

    def _key(self, key: str) -> str:
        return hashlib.sha256(f"{key}:{self._salt}".encode()).hexdigest()

    def get(self, key: str) -> LayerAnalysis | None:
        return self._inner.get(self._key(key))

    def put(self, key: str, analysis: LayerAnalysis) -> None:
        self._inner.put(self._key(key), analysis)


def deadline_check(seconds: float | None) -> Callable[[], bool] | None:
    """A `should_stop` that turns true once `seconds` have passed (checked at layer boundaries)."""
    if seconds is None:
        return None
    deadline = time.monotonic() + seconds
    return lambda: time.monotonic() >= deadline
