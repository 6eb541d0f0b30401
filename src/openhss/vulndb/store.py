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
from collections.abc import Callable, Iterable, Iterator
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
from openhss.vulndb.enrichment.base import CveScore, EnrichmentRow, EpssScore
from openhss.vulndb.enrichment.derive import derive_enriched

SCHEMA_VERSION = 2
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
CREATE TABLE IF NOT EXISTS cve_scores (
    source TEXT NOT NULL, cve TEXT NOT NULL, provider TEXT NOT NULL, rank INTEGER NOT NULL,
    score REAL NOT NULL, vector TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS epss (
    source TEXT NOT NULL, cve TEXT NOT NULL, score REAL NOT NULL, percentile REAL NOT NULL, date TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kev (source TEXT NOT NULL, cve TEXT NOT NULL, date_added TEXT NOT NULL,
    due_date TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS enriched (
    advisory_id TEXT PRIMARY KEY, severity TEXT NOT NULL, score REAL NOT NULL, vector TEXT NOT NULL,
    severity_source TEXT NOT NULL, epss REAL, epss_percentile REAL, epss_date TEXT NOT NULL,
    kev_date_added TEXT NOT NULL, kev_due_date TEXT NOT NULL
);
"""
#: Tables whose rows belong to one source (feed name): a re-import of that feed replaces them.
_SOURCE_TABLES = ("records", "cve_scores", "epss", "kev")
_ENRICHED = "e.severity, e.score, e.vector, e.severity_source, e.epss, e.epss_percentile, e.epss_date,"
_ENRICHED += " e.kev_date_added, e.kev_due_date"
_INDEX = "CREATE INDEX IF NOT EXISTS records_key ON records (ecosystem, release, name)"
_COLUMNS = (
    "source, ecosystem, release, name, advisory_id, status, reason, ranges, versions, aliases, severity,"
    " score, vector, summary, urls, published"
)
_INSERT = f"INSERT INTO records ({_COLUMNS}) VALUES ({','.join('?' * 16)})"  # noqa: S608 - constant text
_R_COLUMNS = ", ".join("r." + c.strip() for c in _COLUMNS.split(","))
_WHERE = " WHERE r.ecosystem = ? AND r.release = ? AND r.name = ?"
_SELECT = (
    f"SELECT {_R_COLUMNS}, {_ENRICHED} FROM records r"  # noqa: S608 - constant text
    f" LEFT JOIN enriched e ON e.advisory_id = r.advisory_id{_WHERE}"
)
#: A store file written before enrichment existed (schema 1): the same row shape, nothing enriched.
_SELECT_V1 = f"SELECT {_R_COLUMNS}, {', '.join(['NULL'] * 9)} FROM records r{_WHERE}"  # noqa: S608
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
    """A stored record with what its alias group and the CVE feeds add (see `enrichment/derive.py`)."""
    (source, eco, release, name, adv, status, reason, ranges, versions, aliases, sev, score, vector,
     summary, urls, published, e_sev, e_score, e_vector, e_source, epss, epss_pct, epss_date, kev_added,
     kev_due) = row  # fmt: skip
    severity, sev_source = Severity(str(sev)), f"advisory:{source}"
    if severity is Severity.UNKNOWN:
        sev_source = "none"
        if e_sev is not None and e_sev != Severity.UNKNOWN.value:
            severity, score, vector, sev_source = Severity(str(e_sev)), e_score, e_vector, str(e_source)
    elif not score and e_score:  # a distro's word: keep it, and show the CVSS the group has
        score, vector = e_score, e_vector
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
        severity=severity,
        cvss_score=float(score),  # type: ignore[arg-type]
        cvss_vector=str(vector),
        summary=str(summary),
        urls=tuple(json.loads(str(urls))),
        published=str(published),
        source=str(source),
        severity_source=str(sev_source),
        epss=None if epss is None else float(epss),  # type: ignore[arg-type]
        epss_percentile=None if epss_pct is None else float(epss_pct),  # type: ignore[arg-type]
        epss_date=str(epss_date or ""),
        kev_date_added=str(kev_added or ""),
        kev_due_date=str(kev_due or ""),
    )


class StoreBuilder:
    """Write side of one update; obtained from `AdvisoryStore.update()`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.added = 0

    @contextlib.contextmanager
    def feed(self) -> Iterator[None]:
        """One feed's changes as a unit inside the build: an exception undoes them and propagates, and
        the rest of the build (other feeds) is kept."""
        self._conn.execute("SAVEPOINT feed")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK TO feed")
            self._conn.execute("RELEASE feed")
            raise
        self._conn.execute("RELEASE feed")

    def replace_source(self, name: str) -> None:
        """Drop everything a source contributed before, so a re-import never leaves stale advisories."""
        for table in _SOURCE_TABLES:
            self._conn.execute(f"DELETE FROM {table} WHERE source = ?", (name,))  # noqa: S608 - constant

    def add(self, records: Iterable[AffectedRecord]) -> int:
        before = self._conn.total_changes
        self._conn.executemany(_INSERT, map(_encode, records))
        n = self._conn.total_changes - before
        self.added += n
        return n

    def add_enrichment(self, source: str, rows: Iterable[EnrichmentRow]) -> int:
        """CVE scores, EPSS and KEV rows of one feed; joined to records when the build finishes."""
        n = 0
        for row in rows:
            if isinstance(row, CveScore):
                self._conn.execute(
                    "INSERT INTO cve_scores VALUES (?, ?, ?, ?, ?, ?)",
                    (source, row.cve, row.provider, row.rank, row.score, row.vector),
                )
            elif isinstance(row, EpssScore):
                self._conn.execute(
                    "INSERT INTO epss VALUES (?, ?, ?, ?, ?)",
                    (source, row.cve, row.score, row.percentile, row.date),
                )
            else:
                self._conn.execute(
                    "INSERT INTO kev VALUES (?, ?, ?, ?)", (source, row.cve, row.date_added, row.due_date)
                )
            n += 1
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
                # MEMORY, not OFF: a feed that fails mid-build rolls back to its savepoint (`feed()`),
                # which needs a rollback journal; nothing is synced because the file is a scratch copy.
                conn.executescript("PRAGMA journal_mode=MEMORY; PRAGMA synchronous=OFF;" + _SCHEMA)
                conn.execute("DROP INDEX IF EXISTS records_key")
                conn.execute("BEGIN")
                builder = StoreBuilder(conn)
                yield builder
                conn.execute(_INDEX)
                derive_enriched(conn)
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

    def install(self, write: Callable[[Path], None]) -> None:
        """Swap in a complete file that `write` produces at the path it is given (a verified bundle),
        under the same lock as `update`; if `write` raises, the current file stays."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / ".update.lock").open("a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            tmp = self.directory / f".{self.FILENAME}.{os.getpid()}.{threading.get_ident()}.install"
            tmp.unlink(missing_ok=True)
            try:
                write(tmp)
                tmp.replace(self.path)
            finally:
                tmp.unlink(missing_ok=True)

    def exists(self) -> bool:
        return self.path.exists()

    def _connect(self) -> sqlite3.Connection:
        """A read-only connection, refused with `CorruptStore` when the file is not an advisory store
        (damaged, truncated, another file): found once here, not as a stack trace on every lookup."""
        if not self.path.exists():
            raise FileNotFoundError(
                f"no advisory database at {self.path}; run `openhss db update` or `db import`"
            )
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        try:
            conn.execute("SELECT count(*) FROM sources").fetchone()
            conn.execute("SELECT 1 FROM records LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise CorruptStore(
                f"the advisory database {self.path} is unreadable ({exc}); "
                "replace it with `openhss db update` or `openhss db import`"
            ) from None
        return conn

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


class CorruptStore(ValueError):
    """The advisory store file exists but is not a readable advisory database."""


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
        is not None
    )


def key_digests(path: Path) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        has_enriched = _has_table(conn, "enriched")
        enriched = f", {_ENRICHED}" if has_enriched else ""
        join = " LEFT JOIN enriched e ON e.advisory_id = r.advisory_id" if has_enriched else ""
        rows = conn.execute(
            "SELECT r.ecosystem, r.name, r.release, r.advisory_id, r.status, r.ranges, r.versions,"  # noqa: S608
            f" r.severity{enriched} FROM records r{join}"
            " ORDER BY r.ecosystem, r.name, r.release, r.advisory_id, r.status, r.ranges, r.versions"
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
        self._select = _SELECT if _has_table(conn, "enriched") else _SELECT_V1
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
                rows = self._conn.execute(self._select, key).fetchall()
            hit = tuple(_decode(r) for r in rows)
            self._cache[key] = hit
        return hit

    def by_id(self, vul_id: str, limit: int = 200) -> tuple[AffectedRecord, ...]:
        """Records of one advisory, by its id or any alias (a page about one vulnerability needs its
        references, vector and ranges; scans never call this, so no index serves it)."""
        where = " WHERE r.advisory_id = ? OR instr(r.aliases, ?) > 0 LIMIT ?"
        sql = self._select.split(" WHERE ", 1)[0] + where
        with self._lock:
            rows = self._conn.execute(sql, (vul_id, json.dumps(vul_id), limit)).fetchall()
        return tuple(_decode(r) for r in rows)

    def close(self) -> None:
        self._conn.close()
