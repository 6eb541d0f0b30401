"""Where imported rule packs live: `<data_dir>/vulndb/malware/current` → one generation directory.

Why generations and a symlink: a scan loads the pack directory once and compiles it; an update builds
the next generation beside it and swaps the `current` link with one `rename`, so a loader sees the old
set or the new one, never half of each. The previous generation is kept so a loader that resolved the
link just before the swap can still read it; older ones are removed.

Layout of a generation: one sub-directory per feed (rule files / `hashes.txt`, as the malware analyzer
loads them) and `sources.json`, the bookkeeping `db status` prints and conditional GETs use.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_META = "sources.json"


@dataclass(slots=True)
class PackState:
    """One feed's contribution: counts and sync validators."""

    name: str
    kind: str
    rules: int = 0
    hashes: int = 0
    synced_at: float = 0.0
    url: str = ""
    etag: str = ""
    last_modified: str = ""
    sha256: str = ""
    rejected: list[tuple[str, str]] = field(default_factory=list)

    @property
    def age_seconds(self) -> float:
        return max(0.0, time.time() - self.synced_at)

    @property
    def directory(self) -> str:
        return _SAFE.sub("_", self.name)


def _read_meta(gen: Path) -> dict[str, PackState]:
    path = gen / _META
    if not path.is_file():
        return {}
    out: dict[str, PackState] = {}
    for raw in json.loads(path.read_text()):
        raw["rejected"] = [tuple(r) for r in raw.get("rejected", [])]
        state = PackState(**raw)
        out[state.name] = state
    return out


class PackBuilder:
    """Write side of one update; obtained from `RulePackStore.update()`."""

    def __init__(self, gen: Path, states: dict[str, PackState]) -> None:
        self.gen = gen
        self.states = states

    def source(self, name: str) -> PackState | None:
        return self.states.get(name)

    def staging(self, name: str) -> Path:
        """An empty directory for a feed's new content; it replaces the old content on `record`."""
        d = self.gen / f".staging-{_SAFE.sub('_', name)}"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        return d

    def discard(self, name: str) -> None:
        """Drop a failed feed's staging: the content carried over from the previous generation stays."""
        shutil.rmtree(self.gen / f".staging-{_SAFE.sub('_', name)}", ignore_errors=True)

    def record(self, state: PackState) -> None:
        staged = self.gen / f".staging-{state.directory}"
        if staged.is_dir():
            final = self.gen / state.directory
            shutil.rmtree(final, ignore_errors=True)
            staged.rename(final)
        self.states[state.name] = state


class RulePackStore:
    LINK = "current"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def current(self) -> Path | None:
        """The generation directory a scan should load now, resolved (stable even if swapped later)."""
        link = self.directory / self.LINK
        try:
            target = link.resolve(strict=True)
        except (FileNotFoundError, RuntimeError):
            return None
        return target if target.is_dir() else None

    def sources(self) -> list[PackState]:
        gen = self.current()
        return sorted(_read_meta(gen).values(), key=lambda s: s.name) if gen else []

    @contextlib.contextmanager
    def update(self) -> Iterator[PackBuilder]:
        """Copy the current generation, let the caller change it, swap it in; on error nothing changes."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / ".update.lock").open("a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            old = self.current()
            gen = self.directory / f"gen-{time.time_ns()}-{uuid.uuid4().hex[:8]}"
            if old is not None:
                shutil.copytree(old, gen, copy_function=os.link)  # hard links: content is never edited
            else:
                gen.mkdir()
            try:
                builder = PackBuilder(gen, _read_meta(gen))
                yield builder
                (gen / _META).unlink(missing_ok=True)  # a hard link to the old generation's file
                (gen / _META).write_text(json.dumps([asdict(s) for s in builder.states.values()], indent=1))
                tmp_link = self.directory / f".{self.LINK}.{uuid.uuid4().hex}"
                tmp_link.symlink_to(gen.name)
                tmp_link.replace(self.directory / self.LINK)  # atomic
            except BaseException:
                shutil.rmtree(gen, ignore_errors=True)
                raise
            keep = {gen.name, old.name if old is not None else ""}
            for stale in self.directory.glob("gen-*"):
                if stale.name not in keep:
                    shutil.rmtree(stale, ignore_errors=True)
