"""A fully migrated, bootstrapped service (SQLite or PostgreSQL) with known credentials."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openhss.api.app import create_app
from openhss.config import Settings
from openhss.services import dispatch
from openhss.services.runtime import Runtime, bootstrap_admin, open_runtime
from openhss.worker.app import install
from tests.support.server import live_server

ADMIN_PASSWORD = "admin-pass-" + "for-tests"
ADMIN_AK = "TESTADMINAK000000001"
ADMIN_SK = "test-admin-secret-key-" + "0123456789abcdef"
PROJECT = "proj0123456789abcdef"


@dataclass(frozen=True, slots=True)
class Service:
    base_url: str
    runtime: Runtime
    project_id: str = PROJECT
    ak: str = ADMIN_AK
    sk: str = ADMIN_SK


def make_settings(tmp: Path, database_url: str = "", **overrides: Any) -> Settings:
    return Settings(
        data_dir=tmp,
        database_url=database_url,
        admin_password=ADMIN_PASSWORD,
        admin_access_key=ADMIN_AK,
        admin_secret_key=ADMIN_SK,
        default_project_id=PROJECT,
        **overrides,
    )


#: The two database back-ends a service test runs on (a module fixture's `params`).
BACKENDS = ["sqlite", "postgresql"]


@contextmanager
def service_on(backend: str, tmp: Path, **overrides: Any) -> Iterator[Service]:
    """`running_service` on SQLite in `tmp`, or on a fresh PostgreSQL database (`tests.support.pg`)."""
    if backend == "sqlite":
        with running_service(tmp, **overrides) as svc:
            yield svc
    elif backend == "postgresql":
        from tests.support.pg import temp_database

        with temp_database() as url, running_service(tmp, url, **overrides) as svc:
            yield svc
    else:
        raise ValueError(f"unknown back-end {backend!r}; expected one of {BACKENDS}")


@contextmanager
def runtime_on(backend: str, tmp: Path, **overrides: Any) -> Iterator[Runtime]:
    """A migrated runtime with the admin bootstrapped, no API and no worker: for service-level tests
    that drive the queue and the executor themselves, on SQLite in `tmp` or a fresh PostgreSQL database."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown back-end {backend!r}; expected one of {BACKENDS}")
    from tests.support.pg import temp_database

    with contextlib.ExitStack() as stack:
        url = stack.enter_context(temp_database()) if backend == "postgresql" else ""
        runtime = open_runtime(make_settings(tmp, url, **overrides))
        try:
            bootstrap_admin(runtime)
            yield runtime
        finally:
            runtime.engine.dispose()


@contextmanager
def running_service(tmp: Path, database_url: str = "", **overrides: Any) -> Iterator[Service]:
    """The API on a free port, with this process's task sender installed (`worker.app.install`):
    scans and exports the API queues reach whatever worker the test starts on the same settings."""
    settings = make_settings(tmp, database_url, **overrides)
    rt = open_runtime(settings)
    bootstrap_admin(rt)
    install(settings)
    try:
        with live_server(create_app(settings, rt)) as base:
            yield Service(base, rt)
    finally:
        dispatch.set_sender(None)
        rt.engine.dispose()
