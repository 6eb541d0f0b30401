from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from openhss.services.runtime import Runtime, bootstrap_admin, open_runtime
from tests.support.pg import temp_database
from tests.support.service import BACKENDS, Service, make_settings, service_on


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'openhss.db'}"
    else:
        with temp_database() as url:
            yield url


@pytest.fixture
def runtime(db_url: str, tmp_path: Path) -> Iterator[Runtime]:
    rt = open_runtime(make_settings(tmp_path, db_url))
    bootstrap_admin(rt)
    yield rt
    rt.engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with service_on(request.param, tmp_path_factory.mktemp("svc")) as svc:
        yield svc
