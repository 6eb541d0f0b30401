"""rpm ≥ 4.16's SQLite backend (`rpmdb.sqlite`): table `Packages(hnum, blob)`.

sqlite needs a file, so the member is copied to a private temporary file and opened read-only and
immutable (no journal, no WAL replay: nothing is ever written back or beside it).
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from openhss.scan.analyzers.os.rpmdb.header import RpmHeaderError


def iter_sqlite_blobs(f: BinaryIO) -> Iterator[bytes]:
    with tempfile.TemporaryDirectory(prefix="openhss-rpmdb-") as tmp:
        path = Path(tmp) / "rpmdb.sqlite"
        with path.open("wb") as out:
            shutil.copyfileobj(f, out, 1024 * 1024)
        try:
            conn = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)
        except sqlite3.Error as exc:
            raise RpmHeaderError(f"sqlite rpmdb: {exc}") from exc
        try:
            cur = conn.execute("SELECT blob FROM Packages ORDER BY hnum")
            for (blob,) in cur:
                if isinstance(blob, bytes):
                    yield blob
        except sqlite3.Error as exc:
            raise RpmHeaderError(f"sqlite rpmdb: {exc}") from exc
        finally:
            conn.close()
