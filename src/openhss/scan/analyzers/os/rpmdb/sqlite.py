"""rpm ≥ 4.16's SQLite backend (`rpmdb.sqlite`): table `Packages(hnum, blob)`.

The file is attacker-written SQL: its schema can turn `Packages` into a recursive view that never
ends, or a table whose generated column allocates without bound. So nothing the file defines is
executed: `Packages` must be the plain table rpm itself creates (checked on its schema text before
any statement touches it), and the one query runs on a locked-down connection: an authorizer that
allows only reading `Packages` and the schema (no views, triggers, functions, recursion, pragmas),
`trusted_schema=OFF`, `query_only`, a small page cache, a blob-length limit, and a progress handler
that ends the query at the file's time budget or a stop of the scan.

sqlite needs a file, so the member is copied into the scan's scratch dir (charged to its quota) and
opened read-only and immutable (no journal, no WAL replay: nothing is ever written back or beside it).
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from typing import BinaryIO, Final

from openhss.scan import budget as budgets
from openhss.scan.analyzers.os.rpmdb.header import RpmHeaderError
from openhss.scan.errors import BudgetExceeded

#: The schema rpm writes (`CREATE TABLE IF NOT EXISTS '%q' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,
#: blob BLOB NOT NULL)`, stored without IF NOT EXISTS); quoting and spacing may vary, nothing else.
_PACKAGES_SQL: Final = re.compile(
    r"""\s*CREATE\s+TABLE\s+(?P<q>['"`\[]?)Packages['"`\]]?\s*\(\s*hnum\s+INTEGER\s+PRIMARY\s+KEY"""
    r"""(\s+AUTOINCREMENT)?\s*,\s*blob\s+BLOB(\s+NOT\s+NULL)?\s*\)\s*""",
    re.IGNORECASE,
)
#: Longest header blob read; real ones are tens of kB.
MAX_BLOB: Final = 16 * 1024 * 1024
#: All header blobs of one database together (a real one holds a few hundred MB at the very most).
MAX_TOTAL: Final = 1024 * 1024 * 1024
#: Page cache of the connection (negative: KiB), so a big file cannot grow the process through it.
CACHE_KIB: Final = 2048
#: Virtual-machine steps between two looks at the clock.
PROGRESS_STEPS: Final = 10_000
#: Ceiling on the query (a real rpmdb reads in well under a second), within the file's own budget.
DEFAULT_SECONDS: Final = 30.0

_READABLE: Final = frozenset({"packages", "sqlite_master", "sqlite_schema"})


def _authorizer(action: int, arg1: str | None, arg2: str | None, db: str | None, source: str | None) -> int:
    """Allow a SELECT reading `Packages`/the schema directly; deny everything else, in any view or trigger."""
    if source is not None:  # anything on behalf of a view or trigger the file defines
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_SELECT:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_READ and db == "main" and (arg1 or "").lower() in _READABLE:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def iter_sqlite_blobs(f: BinaryIO, size: int) -> Iterator[bytes]:
    try:
        with budgets.scratch_copy(f, size, "rpmdb.sqlite") as path:
            yield from _read(f"{path.as_uri()}?mode=ro&immutable=1")
    except BudgetExceeded as exc:
        raise RpmHeaderError(f"sqlite rpmdb: {exc}") from None


def _read(uri: str) -> Iterator[bytes]:
    deadline = time.monotonic() + min(DEFAULT_SECONDS, budgets.seconds_left(DEFAULT_SECONDS))
    why: list[BaseException] = []

    def progress() -> int:
        try:
            budgets.check()  # the file's budget, and a stop/timeout of the whole scan
            if time.monotonic() > deadline:
                raise BudgetExceeded("query over its time budget")
        except BaseException as exc:  # returned to sqlite as "interrupt"; re-raised below
            why.append(exc)
            return 1
        return 0

    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise RpmHeaderError(f"sqlite rpmdb: {exc}") from exc
    try:
        conn.execute("PRAGMA trusted_schema = OFF")
        conn.execute("PRAGMA query_only = ON")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        conn.execute("PRAGMA mmap_size = 0")
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_BLOB)
        conn.setlimit(sqlite3.SQLITE_LIMIT_EXPR_DEPTH, 64)
        conn.setlimit(sqlite3.SQLITE_LIMIT_COMPOUND_SELECT, 2)
        conn.set_progress_handler(progress, PROGRESS_STEPS)
        conn.set_authorizer(_authorizer)
        rows = conn.execute(
            "SELECT type, sql FROM sqlite_master WHERE name = 'Packages' COLLATE NOCASE"
        ).fetchall()
        if len(rows) != 1 or rows[0][0] != "table" or not _PACKAGES_SQL.fullmatch(str(rows[0][1] or "")):
            raise RpmHeaderError("sqlite rpmdb: Packages is not the plain table rpm creates; not read")
        total = 0
        for (blob,) in conn.execute("SELECT blob FROM Packages"):
            budgets.count_member()
            if isinstance(blob, bytes):
                total += len(blob)
                if total > MAX_TOTAL:
                    raise RpmHeaderError(f"sqlite rpmdb: more than {MAX_TOTAL} bytes of package headers")
                yield blob
    except sqlite3.Error as exc:
        if why and not isinstance(why[0], BudgetExceeded):
            raise why[0] from None  # the scan was stopped or timed out: not this file's problem
        if why:
            raise RpmHeaderError(f"sqlite rpmdb: {why[0]}") from None
        raise RpmHeaderError(f"sqlite rpmdb: {exc}") from exc
    finally:
        conn.close()
