"""Throw-away PostgreSQL databases on the machine's real server (127.0.0.1:5432, trust auth).

Each database is copied from a template that was migrated once (`CREATE DATABASE … TEMPLATE`): a copy is
a file-level clone, where running the 13+ migrations again costs seconds per database, and the suite
makes one for every PostgreSQL service it starts. The template's name carries a digest of the migration
scripts, so a branch with another schema gets its own template and never a stale one; it is built under
an advisory lock (other test processes, xdist workers and other checkouts share this server) and
published by a rename, so a build that dies half-way is never copied. `open_runtime` still runs
`upgrade` on the copy, which finds it at head and does nothing.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import OperationalError

from openhss.db import migrate

ADMIN_URL = os.environ.get("OPENHSS_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_TEMPLATES: dict[str, str] = {}


def _unavailable(reason: str) -> None:
    # In CI the server is part of the machine: its absence is a failure, not a skip.
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL at {ADMIN_URL} unavailable: {reason}")


def _url(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _schema_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(migrate.MIGRATIONS.rglob("*.py")):
        h.update(path.relative_to(migrate.MIGRATIONS).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def _template(conn: Connection) -> str:
    """The migrated template of this schema, built by whichever process gets here first."""
    name = f"openhss_tpl_{_schema_digest()}"
    if name in _TEMPLATES:
        return name
    conn.execute(text("SELECT pg_advisory_lock(hashtext(:n))"), {"n": name})
    try:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        if exists is None:
            building = f"openhss_tpb_{uuid.uuid4().hex[:12]}"
            conn.execute(text(f'CREATE DATABASE "{building}"'))
            engine = create_engine(_url(building))
            try:
                migrate.upgrade(engine)
            finally:
                engine.dispose()
            conn.execute(text(f'ALTER DATABASE "{building}" RENAME TO "{name}"'))
            conn.execute(text(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false'))
    finally:
        conn.execute(text("SELECT pg_advisory_unlock(hashtext(:n))"), {"n": name})
    _TEMPLATES[name] = name
    return name


@contextmanager
def temp_database() -> Iterator[str]:
    """A fresh database at the schema's head, dropped afterwards (even with connections still open)."""
    name = f"openhss_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            template = _template(conn)
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    except OperationalError as exc:
        admin.dispose()
        _unavailable(str(exc).splitlines()[0])
    try:
        yield _url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
