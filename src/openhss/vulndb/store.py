"""The advisory store: one SQLite file, rebuilt into a new file and swapped in with `os.replace`.

Why a separate file and a swap: workers keep reading the old inode while an update builds the next one,
so a scan never sees half an update and no reader ever blocks a writer. Readers open it read-only;
writers serialise on a lock file beside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from openhss.domain.advisory import (
    AffectedRange,
    AffectedRecord,
    AffectedStatus,
    EventKind,
    RangeEvent,
)
from openhss.domain.enums import Ecosystem, Severity

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    source TEXT NOT NULL, ecosystem TEXT NOT NULL, release TEXT NOT NULL, name TEXT NOT NULL,
    advisory_id TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL, ranges TEXT NOT NULL,
    versions TEXT NOT NULL, aliases TEXT NOT NULL, severity TEXT NOT NULL, score REAL NOT NULL,
    vector TEXT NOT NULL, summary TEXT NOT NULL, urls TEXT NOT NULL, published TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (
    name TEXT PRIMARY KEY, count INTEGER NOT NULL, synced_at REAL NOT NULL, url TEXT NOT NULL DEFAULT '',
    etag TEXT NOT NULL DEFAULT '', last_modified TEXT NOT NULL DEFAULT '', sha256 TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_INDEX = "CREATE INDEX IF NOT EXISTS records_key ON records (ecosystem, release, name)"
_COLUMNS = (
    "source, ecosystem, release, name, advisory_id, status, reason, ranges, versions, aliases, severity,"
    " score, vector, summary, urls, published"
)
_INSERT = f"INSERT INTO records ({_COLUMNS}) VALUES ({','.join('?' * 16)})"  # noqa: S608 - constant text
_SELECT = f"SELECT {_COLUMNS} FROM records WHERE ecosystem = ? AND release = ? AND name = ?"  # noqa: S608
_ECOS = {e.value: e for e in Ecosystem}
#: (ecosystem, release) → {source: records}, and source → synced_at (epoch seconds).
CoverageTable = tuple[dict[tuple[str, str], dict[str, int]], dict[str, float]]
#: (device, inode, mtime ns, size) of the store file: see `AdvisoryStore.generation`.
Generation = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class SourceState:
    """Sync bookkeeping for one source: what `db status` prints and what a conditional GET sends."""

    name: str
    count: int
    synced_at: float
    url: str = ""
    etag: str = ""
    last_modified: str = ""
    sha256: str = ""

    @property
    def age_seconds(self) -> float:
        return max(0.0, time.time() - self.synced_at)


def _encode(rec: AffectedRecord) -> tuple[object, ...]:
    ranges = [[r.type, [[e.kind.value, e.version] for e in r.events]] for r in rec.ranges]
    return (
        rec.source,
        rec.ecosystem.value,
        rec.release,
        rec.name,
        rec.advisory_id,
        rec.status.value,
        rec.reason,
        json.dumps(ranges, separators=(",", ":")),
        json.dumps(list(rec.versions), separators=(",", ":")),
        json.dumps(list(rec.aliases), separators=(",", ":")),
        rec.severity.value,
        rec.cvss_score,
        rec.cvss_vector,
        rec.summary,
        json.dumps(list(rec.urls), separators=(",", ":")),
        rec.published,
    )


def _decode(row: tuple[object, ...]) -> AffectedRecord:
    (source, eco, release, name, adv, status, reason, ranges, versions, aliases, sev, score, vector,
     summary, urls, published) = row  # fmt: skip
    return AffectedRecord(
        advisory_id=str(adv),
        ecosystem=_ECOS[str(eco)],
        release=str(release),
        name=str(name),
        ranges=tuple(
            AffectedRange(t, tuple(RangeEvent(EventKind(k), v) for k, v in evs))
            for t, evs in json.loads(str(ranges))
        ),
        versions=tuple(json.loads(str(versions))),
        status=AffectedStatus(str(status)),
        reason=str(reason),
        aliases=tuple(json.loads(str(aliases))),
        severity=Severity(str(sev)),
        cvss_score=float(score),  # type: ignore[arg-type]
        cvss_vector=str(vector),
        summary=str(summary),
        urls=tuple(json.loads(str(urls))),
        published=str(published),
        source=str(source),
    )


class StoreBuilder:
    """Write side of one update; obtained from `AdvisoryStore.update()`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.added = 0

    def replace_source(self, name: str) -> None:
        """Drop everything a source contributed before, so a re-import never leaves stale advisories."""
        self._conn.execute("DELETE FROM records WHERE source = ?", (name,))

    def add(self, records: Iterable[AffectedRecord]) -> int:
        before = self._conn.total_changes
        self._conn.executemany(_INSERT, map(_encode, records))
        n = self._conn.total_changes - before
        self.added += n
        return n

    def record_source(self, state: SourceState) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                state.name,
                state.count,
                state.synced_at,
                state.url,
                state.etag,
                state.last_modified,
                state.sha256,
            ),
        )

    def source(self, name: str) -> SourceState | None:
        row = self._conn.execute("SELECT * FROM sources WHERE name = ?", (name,)).fetchone()
        return SourceState(*row) if row else None


class StoreWriteError(OSError):
    """Rebuilding the store file failed (e.g. the disk is full); the previous file is intact."""


class AdvisoryStore:
    """The store file under `<data_dir>/vulndb/advisories.sqlite`."""

    FILENAME = "advisories.sqlite"

    def __init__(self, directory: Path, path: Path | None = None) -> None:
        """`path` names a store file explicitly (`openhss scan --db FILE`); else the directory's default."""
        self.directory = path.parent if path is not None else directory
        self.path = path if path is not None else directory / self.FILENAME

    @contextlib.contextmanager
    def update(self) -> Iterator[StoreBuilder]:
        """Copy the current file, let the caller change it, swap it in; on error the old file stays."""
        self.directory.mkdir(parents=True, exist_ok=True)
        lock_path = self.directory / ".update.lock"
        with lock_path.open("a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            tmp = self.directory / f".{self.FILENAME}.{os.getpid()}.{threading.get_ident()}.tmp"
            tmp.unlink(missing_ok=True)
            try:
                conn = sqlite3.connect(tmp)
                if self.path.exists():
                    with contextlib.closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as src:
                        src.backup(conn)
                conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
                conn.execute("DROP INDEX IF EXISTS records_key")
                conn.execute("BEGIN")
                builder = StoreBuilder(conn)
                yield builder
                conn.execute(_INDEX)
                conn.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema', ?), ('built_at', ?)",
                    (str(SCHEMA_VERSION), str(time.time())),
                )
                conn.commit()
                conn.execute("PRAGMA journal_mode=DELETE")
                conn.close()
                tmp.replace(self.path)  # atomic: readers see the old or the new file
            except sqlite3.Error as exc:
                # Disk full, I/O error: an OSError like any other file failure, so every caller
                # reports one line; the old file was never touched.
                raise StoreWriteError(
                    f"advisory database not updated ({exc}); the previous database is unchanged"
                ) from exc
            finally:
                tmp.unlink(missing_ok=True)

    def exists(self) -> bool:
        return self.path.exists()

    def _connect(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise FileNotFoundError(
                f"no advisory database at {self.path}; run `openhss db update` or `db import`"
            )
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)

    def sources(self) -> list[SourceState]:
        if not self.path.exists():
            return []
        with contextlib.closing(self._connect()) as conn:
            return [SourceState(*row) for row in conn.execute("SELECT * FROM sources ORDER BY name")]

    def open_index(self) -> SqliteAdvisoryIndex:
        return SqliteAdvisoryIndex(self._connect())

    def generation(self) -> Generation:
        """Identifies one version of the store file: an update swaps in a new inode, and the inode of a
        generation still open (as every cached matcher's is) cannot be reused for the next one."""
        st = self.path.stat()
        return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)

    def open_generation(self) -> tuple[Generation, SqliteAdvisoryIndex]:
        """An index and the generation it reads; retried if the file is swapped while it opens."""
        while True:
            before = self.generation()
            index = self.open_index()
            if self.generation() == before:
                return before, index
            index.close()

    def key_digests(self) -> dict[tuple[str, str], str]:
        """A digest of everything stored per (ecosystem, name): two stores differ on a key iff digests do."""
        return key_digests(self.path) if self.path.exists() else {}


def key_digests(path: Path) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT ecosystem, name, release, advisory_id, status, ranges, versions, severity FROM records"
            " ORDER BY ecosystem, name, release, advisory_id, status, ranges, versions"
        )
        current: tuple[str, str] | None = None
        h = hashlib.blake2b(digest_size=16)
        for eco, name, *rest in rows:
            key = (eco, name)
            if key != current:
                if current is not None:
                    out[current] = h.hexdigest()
                current, h = key, hashlib.blake2b(digest_size=16)
            h.update("\x1f".join(map(str, rest)).encode() + b"\x1e")
        if current is not None:
            out[current] = h.hexdigest()
    return out


def changed_keys(old: dict[tuple[str, str], str], new: dict[tuple[str, str], str]) -> set[tuple[str, str]]:
    """(ecosystem, normalised name) keys whose advisories differ between two store versions."""
    return {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}


class SqliteAdvisoryIndex:
    """`AdvisoryIndex` over a read-only connection; decoded records are cached per key.

    The set of stored keys is loaded once, so the common case (a package no advisory names) costs one
    set lookup and never touches SQLite: that is what makes 100k package-matches per second possible.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._keys = frozenset(conn.execute("SELECT DISTINCT ecosystem, release, name FROM records"))
        self._cache: dict[tuple[str, str, str], tuple[AffectedRecord, ...]] = {}
        self._coverage: CoverageTable | None = None

    def coverage_table(self) -> CoverageTable:
        """Records per (ecosystem, release) and source, and each source's sync time: what a scan's
        coverage report is computed from. One pass over the file, once per opened generation."""
        with self._lock:
            if self._coverage is None:
                per_key: dict[tuple[str, str], dict[str, int]] = {}
                rows = self._conn.execute(
                    "SELECT ecosystem, release, source, COUNT(*) FROM records"
                    " GROUP BY ecosystem, release, source"
                )
                for eco, release, source, n in rows:
                    per_key.setdefault((str(eco), str(release)), {})[str(source)] = int(n)
                synced = {
                    str(n): float(t) for n, t in self._conn.execute("SELECT name, synced_at FROM sources")
                }
                self._coverage = (per_key, synced)
            return self._coverage

    def __len__(self) -> int:
        return len(self._keys)

    def lookup(self, ecosystem: Ecosystem, release: str, name: str) -> tuple[AffectedRecord, ...]:
        key = (ecosystem.value, release, name)
        if key not in self._keys:
            return ()
        hit = self._cache.get(key)
        if hit is None:
            with self._lock:
                rows = self._conn.execute(_SELECT, key).fetchall()
            hit = tuple(_decode(r) for r in rows)
            self._cache[key] = hit
        return hit

    def close(self) -> None:
        self._conn.close()
