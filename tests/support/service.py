"""A fully migrated, bootstrapped service (SQLite or PostgreSQL) with known credentials."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from openhss.api.app import create_app
from openhss.config import Settings
from openhss.services.runtime import Runtime, bootstrap_admin, open_runtime
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


def make_settings(tmp: Path, database_url: str = "") -> Settings:
    return Settings(
        data_dir=tmp,
        database_url=database_url,
        admin_password=ADMIN_PASSWORD,  # type: ignore[arg-type]
        admin_access_key=ADMIN_AK,
        admin_secret_key=ADMIN_SK,  # type: ignore[arg-type]
        default_project_id=PROJECT,
    )


@contextmanager
def running_service(tmp: Path, database_url: str = "") -> Iterator[Service]:
    settings = make_settings(tmp, database_url)
    rt = open_runtime(settings)
    bootstrap_admin(rt)
    with live_server(create_app(settings, rt)) as base:
        yield Service(base, rt)
    rt.engine.dispose()
