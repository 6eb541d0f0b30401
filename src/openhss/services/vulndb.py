"""Advisory-database use cases: online update (or from a mirror), offline import, status, matching.

Each call builds a new store file and swaps it in, and reports which (ecosystem, package) keys changed so
the scan-task service can re-match only the stored inventories those keys touch.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import httpx

from openhss.config import Settings
from openhss.scan.matcher import VulnerabilityMatcher
from openhss.vulndb.download import DownloadError, fetch
from openhss.vulndb.sources.base import AdvisorySource, Feed, SourceError
from openhss.vulndb.sources.registry import SOURCES
from openhss.vulndb.store import (
    AdvisoryStore,
    Generation,
    SourceState,
    SqliteAdvisoryIndex,
    changed_keys,
)

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class VulnDbError(RuntimeError):
    """An update or import that could not complete; the previous database stays in place."""


@dataclass(slots=True)
class SyncReport:
    """What one update/import did: per feed the record count (None: not modified), errors, changed keys."""

    counts: dict[str, int | None] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    changed: set[tuple[str, str]] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class DbStatus:
    path: Path
    exists: bool
    sources: list[SourceState]

    @property
    def total(self) -> int:
        return sum(s.count for s in self.sources)


class VulnDbService:
    def __init__(self, directory: Path, sources: Sequence[AdvisorySource] = SOURCES) -> None:
        self.store = AdvisoryStore(directory)
        self.sources = tuple(sources)
        self.downloads = directory / "downloads"

    @classmethod
    def from_settings(cls, settings: Settings) -> VulnDbService:
        return cls(settings.data_dir / "vulndb")

    def feeds(self, ecosystems: Iterable[str] = ()) -> list[tuple[AdvisorySource, Feed]]:
        wanted = {e.lower() for e in ecosystems}
        return [
            (s, f) for s in self.sources for f in s.feeds() if not wanted or f.ecosystem.lower() in wanted
        ]

    def update(
        self, ecosystems: Iterable[str] = (), mirror: str | None = None, client: httpx.Client | None = None
    ) -> SyncReport:
        """Download every selected feed (conditional GET) and rebuild the store from what changed."""
        feeds = self.feeds(ecosystems)
        if not feeds:
            raise VulnDbError(f"no advisory feed for ecosystem(s) {', '.join(ecosystems)}")
        self.downloads.mkdir(parents=True, exist_ok=True)
        report = SyncReport()
        before = self.store.key_digests()
        own_client = client is None
        http = client or httpx.Client(timeout=httpx.Timeout(60.0, connect=15.0))
        try:
            with self.store.update() as builder:
                for source, feed in feeds:
                    url = f"{mirror.rstrip('/')}/{feed.mirror_path}" if mirror else feed.url
                    previous = builder.source(feed.name)
                    dest = self.downloads / _SAFE.sub("_", feed.name)
                    have_file = dest.exists() and previous is not None and previous.url == url
                    try:
                        got = fetch(
                            http, url, dest,
                            etag=previous.etag if have_file and previous else "",
                            last_modified=previous.last_modified if have_file and previous else "",
                        )  # fmt: skip
                    except DownloadError as exc:
                        report.errors.append(f"{feed.name}: {exc}")
                        continue
                    if got.path is None and previous is not None:
                        builder.record_source(
                            SourceState(
                                feed.name,
                                previous.count,
                                time.time(),
                                url,
                                previous.etag,
                                previous.last_modified,
                                previous.sha256,
                            )
                        )
                        report.counts[feed.name] = None
                        continue
                    try:
                        builder.replace_source(feed.name)
                        n = builder.add(source.parse(dest, feed.name))
                    except SourceError as exc:
                        report.errors.append(f"{feed.name}: {exc}")
                        continue
                    builder.record_source(
                        SourceState(feed.name, n, time.time(), url, got.etag, got.last_modified, got.sha256)
                    )
                    report.counts[feed.name] = n
        finally:
            if own_client:
                http.close()
        report.changed = changed_keys(before, self.store.key_digests())
        return report

    def _source_for(self, path: Path) -> AdvisorySource:
        head = b""
        if path.is_file():
            with path.open("rb") as fh:
                head = fh.read(4096)
        for source in self.sources:
            if source.accepts(path, head):
                return source
        raise VulnDbError(f"{path}: not an OSV zip/directory, Debian tracker JSON or Alpine secdb file")

    def import_paths(self, paths: Sequence[Path]) -> SyncReport:
        """Offline import (air-gapped sites): zips/dirs of OSV JSON, Debian tracker JSON, Alpine secdb."""
        for p in paths:
            if not p.exists():
                raise VulnDbError(f"{p}: no such file or directory")
        plan = [(p, self._source_for(p)) for p in paths]
        report = SyncReport()
        before = self.store.key_digests()
        with self.store.update() as builder:
            for path, source in plan:
                name = source.feed_name(path)
                try:
                    builder.replace_source(name)
                    n = builder.add(source.parse(path, name))
                except SourceError as exc:
                    raise VulnDbError(str(exc)) from exc
                builder.record_source(SourceState(name, n, time.time(), f"file://{path.resolve()}"))
                report.counts[name] = n
        report.changed = changed_keys(before, self.store.key_digests())
        return report

    def status(self) -> DbStatus:
        return DbStatus(self.store.path, self.store.exists(), self.store.sources())

    def open_index(self) -> SqliteAdvisoryIndex:
        return self.store.open_index()

    def matcher(self) -> VulnerabilityMatcher:
        """A matcher over the current store; raises VulnDbError when there is no database yet."""
        return MatcherCache.for_store(self.store).get()


class MatcherCache:
    """The matchers of one store file, one per file generation, most recent few kept (LRU).

    A matcher's compiled range tables and per-package verdicts are what make matching fast, so a
    worker keeps using one across images; but they describe one advisory set, so once `db update`
    swaps the file in, the next `get` opens a new matcher on the new generation. An evicted matcher
    is not closed: a scan still holding it finishes on the generation it started with.
    """

    _by_path: ClassVar[dict[Path, MatcherCache]] = {}
    _class_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, store: AdvisoryStore, size: int = 2) -> None:
        self.store = store
        self.size = size
        self._lock = threading.Lock()
        self._matchers: OrderedDict[Generation, VulnerabilityMatcher] = OrderedDict()

    @classmethod
    def for_store(cls, store: AdvisoryStore) -> MatcherCache:
        """The process-wide cache of one store file."""
        key = store.path.resolve()
        with cls._class_lock:
            cache = cls._by_path.get(key)
            if cache is None:
                cache = cls._by_path[key] = cls(AdvisoryStore(store.directory, path=key))
            return cache

    def get(self) -> VulnerabilityMatcher:
        """The matcher for the file as it is now; raises VulnDbError when there is no database yet."""
        try:
            generation = self.store.generation()
        except FileNotFoundError:
            raise VulnDbError(
                f"no advisory database at {self.store.path}; run `openhss db update` or `db import`"
            ) from None
        with self._lock:
            matcher = self._matchers.get(generation)
            if matcher is not None:
                self._matchers.move_to_end(generation)
                return matcher
            generation, index = self.store.open_generation()
            matcher = self._matchers[generation] = VulnerabilityMatcher(index)
            while len(self._matchers) > self.size:
                self._matchers.popitem(last=False)
            return matcher


def open_matcher(settings: Settings, db_file: Path | None = None) -> VulnerabilityMatcher:
    """For `openhss scan --db FILE` and workers: the given store file, else the data dir's.

    Repeated calls return the same matcher (and its warm caches) until the store file is swapped."""
    service = VulnDbService.from_settings(settings)
    if db_file is not None:
        service.store = AdvisoryStore(db_file.parent, path=db_file)
    return service.matcher()
