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
from typing import Any

import httpx

from openhss.config import Settings
from openhss.scan.analyzers.base import Analyzer
from openhss.scan.analyzers.registry import all_analyzers
from openhss.scan.matcher import VulnerabilityMatcher
from openhss.vulndb.bundle import BundleError, BundleInfo, is_bundle, read_bundle, write_bundle
from openhss.vulndb.download import DownloadError, Fetched, fetch
from openhss.vulndb.enrichment.base import EnrichmentSource
from openhss.vulndb.enrichment.registry import ENRICHMENT_SOURCES
from openhss.vulndb.rulepacks.base import PackError, RulePackSource
from openhss.vulndb.rulepacks.hash_list import HashListSource
from openhss.vulndb.rulepacks.registry import RULE_PACK_SOURCES
from openhss.vulndb.rulepacks.store import PackBuilder, PackState, RulePackStore
from openhss.vulndb.rulepacks.yara_pack import YaraPackSource
from openhss.vulndb.sources.base import AdvisorySource, Feed, SourceError
from openhss.vulndb.sources.registry import SOURCES
from openhss.vulndb.store import (
    SCHEMA_VERSION,
    AdvisoryStore,
    CorruptStore,
    Generation,
    SourceState,
    SqliteAdvisoryIndex,
    StoreBuilder,
    changed_keys,
)

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: The `--ecosystem` value that selects the malware rule packs and hash lists.
MALWARE_FEEDS = "malware"


class VulnDbError(RuntimeError):
    """An update or import that could not complete; the previous database stays in place."""


class EmptyFeed(SourceError):
    """A feed file that parsed but yielded nothing: never stored, so it cannot replace real data or leave
    an empty source behind."""


#: Either kind of feed the advisory store keeps: package advisories, or CVE enrichment.
Source = AdvisorySource | EnrichmentSource


def load_feed(builder: StoreBuilder, source: Source, path: Path, name: str) -> int:
    """Replace what feed `name` contributed with what `path` holds, as one unit of the build.

    Raises SourceError (the feed's earlier rows are kept) when the file cannot be read or yields no
    records at all."""
    with builder.feed():
        builder.replace_source(name)
        if isinstance(source, EnrichmentSource):
            n = builder.add_enrichment(name, source.parse(path, name))
        else:
            n = builder.add(source.parse(path, name))
        if n == 0:
            what = "file" if path.is_file() else "directory (searched recursively)"
            raise EmptyFeed(
                f"{path}: no {source.name} records in this {what} (no advisories, or only for ecosystems"
                " openhss does not scan); nothing imported"
            )
    return n


@dataclass(slots=True)
class SyncReport:
    """What one update/import did: per feed the record count (None: not modified), errors, changed keys."""

    counts: dict[str, int | None] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    changed: set[tuple[str, str]] = field(default_factory=set)
    #: Rule files left out of an imported pack (does not compile here …), as warnings.
    rejected: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DbStatus:
    path: Path
    exists: bool
    sources: list[SourceState]
    packs: list[PackState] = field(default_factory=list)
    #: Why the store exists but cannot be read ("" when it is fine).
    problem: str = ""
    #: Names of the sources that are CVE enrichment (scores, EPSS, KEV rows), not advisories.
    enrichment: frozenset[str] = frozenset()

    @property
    def total(self) -> int:
        """Advisory records (enrichment rows are counted apart: they describe CVEs, not packages)."""
        return sum(s.count for s in self.sources if s.name not in self.enrichment)

    @property
    def enrichment_total(self) -> int:
        return sum(s.count for s in self.sources if s.name in self.enrichment)


class VulnDbService:
    """Advisories (`advisories.sqlite`) and malware rule packs / hash lists (`malware/`), side by side
    under one directory, each swapped in atomically by its own update."""

    def __init__(
        self,
        directory: Path,
        sources: Sequence[AdvisorySource] = SOURCES,
        *,
        enrichers: Sequence[EnrichmentSource] = ENRICHMENT_SOURCES,
        rule_packs: Sequence[str] = (),
        hash_lists: Sequence[str] = (),
        pack_sources: Sequence[RulePackSource] = RULE_PACK_SOURCES,
    ) -> None:
        """`rule_packs`/`hash_lists`: URLs `update` fetches for the malware analyzer."""
        self.store = AdvisoryStore(directory)
        self.sources = tuple(sources)
        self.enrichers = tuple(enrichers)
        self.downloads = directory / "downloads"
        self.packs = RulePackStore(directory / "malware")
        self.pack_sources = tuple(pack_sources)
        self.pack_urls = {YaraPackSource.name: list(rule_packs), HashListSource.name: list(hash_lists)}

    @classmethod
    def from_settings(cls, settings: Settings) -> VulnDbService:
        return cls(
            settings.data_dir / "vulndb",
            rule_packs=settings.malware_rule_packs,
            hash_lists=settings.malware_hash_lists,
        )

    def feeds(self, ecosystems: Iterable[str] = ()) -> list[tuple[Source, Feed]]:
        """Selected feeds (advisories, then enrichment); without a selection, every default feed."""
        wanted = {e.lower() for e in ecosystems}
        every: list[Source] = [*self.sources, *self.enrichers]
        return [
            (s, f)
            for s in every
            for f in s.feeds()
            if (f.ecosystem.lower() in wanted if wanted else f.default)
        ]

    def pack_feeds(self, ecosystems: Iterable[str] = ()) -> list[tuple[RulePackSource, Feed]]:
        """Rule-pack and hash-list downloads: part of a full update, or asked for as `-e malware`."""
        wanted = {e.lower() for e in ecosystems}
        if wanted and MALWARE_FEEDS not in wanted:
            return []
        return [(s, f) for s in self.pack_sources for f in s.feeds(self.pack_urls.get(s.name, []))]

    def _fetch(
        self, http: httpx.Client, url: str, name: str, previous_url: str, etag: str, last_modified: str
    ) -> tuple[Path, Fetched]:
        dest = self.downloads / _SAFE.sub("_", name)
        have_file = dest.exists() and previous_url == url
        got = fetch(
            http, url, dest, etag=etag if have_file else "", last_modified=last_modified if have_file else ""
        )
        return dest, got

    def _update_packs(
        self,
        http: httpx.Client,
        feeds: list[tuple[RulePackSource, Feed]],
        mirror: str | None,
        report: SyncReport,
    ) -> None:
        with self.packs.update() as builder:
            for source, feed in feeds:
                url = f"{mirror.rstrip('/')}/{feed.mirror_path}" if mirror else feed.url
                previous = builder.source(feed.name)
                try:
                    dest, got = self._fetch(
                        http, url, feed.name,
                        previous.url if previous else "",
                        previous.etag if previous else "",
                        previous.last_modified if previous else "",
                    )  # fmt: skip
                except DownloadError as exc:
                    report.errors.append(f"{feed.name}: {exc}")
                    continue
                if got.path is None and previous is not None:
                    previous.synced_at = time.time()
                    report.counts[feed.name] = None
                    continue
                state = self._stage(builder, source, dest, feed.name, report)
                if state is not None:
                    state.url, state.etag, state.last_modified = url, got.etag, got.last_modified
                    state.sha256 = got.sha256

    def _stage(
        self, builder: PackBuilder, source: RulePackSource, path: Path, name: str, report: SyncReport
    ) -> PackState | None:
        try:
            staged = source.stage(path, builder.staging(name), name)
        except (PackError, OSError) as exc:
            builder.discard(name)
            report.errors.append(f"{name}: {exc}")
            return None
        state = PackState(
            name, source.name, staged.rules, staged.hashes, time.time(), rejected=staged.rejected
        )
        builder.record(state)
        report.counts[name] = staged.rules + staged.hashes
        report.rejected.extend(f"{name}: {where}: {why}" for where, why in staged.rejected)
        return state

    def update(
        self, ecosystems: Iterable[str] = (), mirror: str | None = None, client: httpx.Client | None = None
    ) -> SyncReport:
        """Download every selected feed (conditional GET) and rebuild the store from what changed."""
        feeds = self.feeds(ecosystems)
        pack_feeds = self.pack_feeds(ecosystems)
        if not feeds and not pack_feeds:
            raise VulnDbError(f"no advisory feed for ecosystem(s) {', '.join(ecosystems)}")
        self.downloads.mkdir(parents=True, exist_ok=True)
        report = SyncReport()
        before = self.store.key_digests()
        own_client = client is None
        http = client or httpx.Client(timeout=httpx.Timeout(60.0, connect=15.0))
        try:
            if pack_feeds:
                self._update_packs(http, pack_feeds, mirror, report)
            if feeds:
                self._update_advisories(http, feeds, mirror, report)
        finally:
            if own_client:
                http.close()
        report.changed = changed_keys(before, self.store.key_digests())
        return report

    def _update_advisories(
        self,
        http: httpx.Client,
        feeds: list[tuple[Source, Feed]],
        mirror: str | None,
        report: SyncReport,
    ) -> None:
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
                    n = load_feed(builder, source, dest, feed.name)
                except SourceError as exc:
                    report.errors.append(f"{feed.name}: {exc}")
                    continue
                builder.record_source(
                    SourceState(feed.name, n, time.time(), url, got.etag, got.last_modified, got.sha256)
                )
                report.counts[feed.name] = n

    def _source_for(self, path: Path) -> Source | RulePackSource:
        """Decided by content: rule packs first, because the OSV source takes any zip or directory
        (a zip of `.yar` files, or a text of SHA-256 lines, is never an advisory feed)."""
        head = b""
        if path.is_file():
            with path.open("rb") as fh:
                head = fh.read(4096)
        for source in self.sources:
            if source.name != "osv" and source.accepts(path, head):
                return source
        for enricher in self.enrichers:
            if enricher.accepts(path, head):
                return enricher
        for pack in self.pack_sources:
            if pack.accepts(path, head):
                return pack
        for source in self.sources:
            if source.accepts(path, head):
                return source
        raise VulnDbError(
            f"{path}: not an OSV zip/directory, Debian tracker JSON, Alpine secdb file, native npm/RubyGems/"
            "Packagist advisories, CVE JSON 5, NVD, KEV or EPSS file, YARA rule pack or SHA-256 hash list"
        )

    def bundle(self, out: Path) -> BundleInfo:
        """Write the current advisory database as one verifiable file (`vulndb/bundle.py`)."""
        if not self.store.exists():
            raise VulnDbError(f"no advisory database at {self.store.path}; run `openhss db update` first")
        return write_bundle(self.store.path, out, SCHEMA_VERSION)

    def import_bundle(self, path: Path) -> SyncReport:
        """Replace the advisory database with a verified bundle; nothing changes unless it verifies."""
        before = self.store.key_digests()
        manifest: dict[str, Any] = {}

        def write(tmp: Path) -> None:
            manifest.update(read_bundle(path, tmp, SCHEMA_VERSION))

        try:
            self.store.install(write)
        except BundleError as exc:
            raise VulnDbError(str(exc)) from exc
        report = SyncReport()
        for src in manifest.get("sources") or []:
            report.counts[str(src["name"])] = int(src["count"])
        report.changed = changed_keys(before, self.store.key_digests())
        return report

    def import_paths(self, paths: Sequence[Path]) -> SyncReport:
        """Offline import (air-gapped sites): zips/dirs of OSV JSON, Debian tracker JSON, Alpine secdb,
        native npm/RubyGems/Packagist repositories, CVE JSON 5 / NVD / KEV / EPSS files, YARA rule packs
        (zip/tar of .yar, or one .yar), hash lists (text/CSV of SHA-256), or one advisory bundle."""
        for p in paths:
            if not p.exists():
                raise VulnDbError(f"{p}: no such file or directory")
        bundles = [p for p in paths if is_bundle(p)]
        if bundles:
            if len(paths) > 1:
                raise VulnDbError(
                    f"{bundles[0]}: an advisory bundle replaces the whole database; import it alone"
                )
            return self.import_bundle(bundles[0])
        plan = [(p, self._source_for(p)) for p in paths]
        report = SyncReport()
        packs = [(p, s) for p, s in plan if isinstance(s, RulePackSource)]
        if packs:
            with self.packs.update() as pack_builder:
                for path, pack in packs:
                    name = pack.feed_name(path)
                    state = self._stage(pack_builder, pack, path, name, report)
                    if state is None:
                        raise VulnDbError(report.errors[-1])
                    state.url = f"file://{path.resolve()}"
        advisories = [(p, s) for p, s in plan if not isinstance(s, RulePackSource)]
        if not advisories:
            return report
        before = self.store.key_digests()
        with self.store.update() as builder:
            for path, source in advisories:
                name = source.feed_name(path)
                try:
                    n = load_feed(builder, source, path, name)
                except SourceError as exc:
                    raise VulnDbError(str(exc)) from exc
                builder.record_source(SourceState(name, n, time.time(), f"file://{path.resolve()}"))
                report.counts[name] = n
        report.changed = changed_keys(before, self.store.key_digests())
        return report

    def status(self) -> DbStatus:
        try:
            sources = self.store.sources()
        except CorruptStore as exc:
            return DbStatus(self.store.path, True, [], self.packs.sources(), problem=str(exc))
        kinds = {e.name for e in self.enrichers}
        enrichment = frozenset(s.name for s in sources if s.name.split(":", 1)[0] in kinds)
        return DbStatus(
            self.store.path, self.store.exists(), sources, self.packs.sources(), enrichment=enrichment
        )

    def malware_analyzers(self) -> list[type[Analyzer]] | None:
        """The analyzer registry with the malware analyzer extended by the imported packs (None when
        nothing was imported: the registry as it is)."""
        current = self.packs.current()
        if current is None:
            return None
        from openhss.scan.analyzers.malware import MalwareAnalyzer  # YARA: only when malware is scanned

        configured = MalwareAnalyzer.with_packs([current])
        return [configured if cls is MalwareAnalyzer else cls for cls in all_analyzers()]

    def open_index(self) -> SqliteAdvisoryIndex:
        return self.store.open_index()

    def matcher(self) -> VulnerabilityMatcher:
        """A matcher over the current store, for one-shot use (`openhss scan`, the CLI's re-match);
        raises VulnDbError when there is no database yet. A long-lived process matches through its
        runtime's `MatcherCache` instead, which keeps the matcher's warm caches across images."""
        return MatcherCache(self.store).get()


class MatcherCache:
    """The matchers of one store file, one per file generation, most recent few kept (LRU).

    A matcher's compiled range tables and per-package verdicts are what make matching fast, so a
    worker keeps using one across images; but they describe one advisory set, so once `db update`
    swaps the file in, the next `get` opens a new matcher on the new generation. An evicted matcher
    is not closed: a scan still holding it finishes on the generation it started with.

    A process that matches many images holds one, on its `services.runtime.Runtime` (the API, the
    embedded and the Celery workers share it through that object); there is no process-wide cache.
    """

    def __init__(self, store: AdvisoryStore, size: int = 2) -> None:
        self.store = store
        self.size = size
        self._lock = threading.Lock()
        self._matchers: OrderedDict[Generation, VulnerabilityMatcher] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings) -> MatcherCache:
        """The cache of the deployment's advisory store (`DATA_DIR/vulndb`)."""
        return cls(VulnDbService.from_settings(settings).store)

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
            try:
                generation, index = self.store.open_generation()
            except CorruptStore as exc:
                raise VulnDbError(str(exc)) from None
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
