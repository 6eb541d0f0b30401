"""Scans submitted through the official SDK run to real results: embedded (SQLite, SQLAlchemy broker,
in-process worker) and distributed (PostgreSQL + `openhss worker` processes on Redis and RabbitMQ)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from huaweicloudsdkhss.v5 import (
    BatchScanLocalImageRequest,
    CreateManualImageScanTaskReqInfo,
    CreateManualImageScanTaskReqInfoImageInfo,
    CreateManualImageScanTaskRequest,
    ListImageAppsRequest,
    ListImageLocalRequest,
    ListImageScanTaskRequest,
    ListImageVulnerabilitiesRequest,
    LocalImageBatchScanRequestBody,
    LocalImageInfo,
)
from sqlalchemy import func, select

from openhss.db.engine import transaction
from openhss.db.models import Image, ImageApp
from openhss.db.scheduling import ImageInventory, LayerCacheEntry
from openhss.services.runtime import open_runtime
from openhss.worker.embedded import start_embedded_worker
from tests.api.conftest import sdk
from tests.support.pg import temp_database
from tests.support.server import free_port
from tests.support.service import (
    ADMIN_AK,
    ADMIN_PASSWORD,
    ADMIN_SK,
    PROJECT,
    Service,
    make_settings,
    running_service,
)
from tests.worker.brokers import BROKERS, cleanup_broker, require_broker
from tests.worker.helpers import (
    CERTIFI_VUL,
    ZLIB_VUL,
    ZSTD_VUL,
    add_image,
    build_image,
    import_advisories,
    settings_env,
    wait_for,
    worker_process,
)


def _image_id(svc: Service, pk: int) -> str:
    with transaction(svc.runtime.sessions) as s:
        return s.scalars(select(Image.image_id).where(Image.id == pk)).one()


def _local(c: Any) -> dict[str, Any]:
    resp = c.list_image_local(ListImageLocalRequest(enterprise_project_id="all_granted_eps", limit=200))
    return {r.image_name: r for r in resp.data_list}


def check_scan_results(svc: Service, tmp: Path) -> None:
    c = sdk(svc)
    good = add_image(svc.runtime.sessions, "e2e/app", build_image(tmp / "img"))
    bad = add_image(svc.runtime.sessions, "e2e/missing", f"oci:{tmp / 'nowhere'}:app")
    c.batch_scan_local_image(
        BatchScanLocalImageRequest(
            region="cn-north-4",
            body=LocalImageBatchScanRequestBody(
                operate_all=False,
                image_info_list=[LocalImageInfo(image_id=_image_id(svc, pk)) for pk in (good, bad)],
            ),
        )
    )
    wait_for(
        lambda: {r.scan_status for r in _local(c).values()} <= {"success", "download_failed", "failed"},
        90,
        "both scans to end",
    )
    rows = _local(c)
    assert rows["e2e/app"].scan_status == "success", rows["e2e/app"].scan_failed_desc
    assert rows["e2e/app"].latest_scan_time > 0 and rows["e2e/app"].vul_num == 3
    assert rows["e2e/missing"].scan_status == "download_failed"
    assert "nowhere" in rows["e2e/missing"].scan_failed_desc or rows["e2e/missing"].scan_failed_desc

    app_id = _image_id(svc, good)
    apps = c.list_image_apps(ListImageAppsRequest(image_id=app_id, image_type="local_image", limit=200))
    assert {"zlib1g", "libzstd1", "certifi"} <= {a.app_name for a in apps.data_list}
    vulns = c.list_image_vulnerabilities(
        ListImageVulnerabilitiesRequest(
            image_id=app_id, image_type="local_image", namespace="", image_name="e2e/app", tag_name="1.0"
        )
    )
    assert {v.vul_id for v in vulns.data_list} == {ZLIB_VUL, ZSTD_VUL, CERTIFI_VUL}
    [task] = c.list_image_scan_task(ListImageScanTaskRequest(type="image_scan")).data_list
    assert task.task_status == 100 and task.success_num == 1 and task.failed_num == 1
    assert [f.image_name for f in task.failed_images] == ["e2e/missing"]

    # A rescan of the unchanged image reads every layer from the shared cache; one result set remains.
    c.create_manual_image_scan_task(
        CreateManualImageScanTaskRequest(
            global_image_type="local",
            body=CreateManualImageScanTaskReqInfo(
                is_all=False, image_info=[CreateManualImageScanTaskReqInfoImageInfo(image_id=app_id)]
            ),
        )
    )
    wait_for(
        lambda: (
            c.list_image_scan_task(ListImageScanTaskRequest(type="image_scan")).data_list[0].task_status
            == 100
        ),
        60,
        "the rescan",
    )
    with transaction(svc.runtime.sessions) as s:
        assert s.scalar(select(func.count()).select_from(LayerCacheEntry)) == 2
        assert s.scalar(select(func.count()).where(ImageApp.image_pk == good)) == len(apps.data_list)
        assert s.get(ImageInventory, good) is not None
        img = s.get(Image, good)
        assert (
            img is not None and img.scan_status == "success" and img.latest_scan_time >= img.first_scan_time
        )


@pytest.mark.slow
def test_embedded_scan_through_the_api(tmp_path: Path) -> None:
    with running_service(tmp_path) as svc:
        import_advisories(svc.runtime.settings, tmp_path)
        worker = start_embedded_worker(svc.runtime.settings)
        try:
            check_scan_results(svc, tmp_path)
        finally:
            worker.stop()


@contextmanager
def distributed(tmp: Path, broker: str) -> Iterator[Service]:
    require_broker(broker)
    prefix = f"t{uuid.uuid4().hex[:10]}."
    with temp_database() as url, running_service(tmp, url, broker_url=broker, queue_prefix=prefix) as svc:
        try:
            yield svc
        finally:
            cleanup_broker(svc.runtime.settings)


@pytest.mark.slow
@pytest.mark.parametrize("broker", BROKERS)
def test_distributed_scan_through_the_api(tmp_path: Path, broker: str) -> None:
    with distributed(tmp_path, broker) as svc:
        import_advisories(svc.runtime.settings, tmp_path)
        with worker_process(svc.runtime.settings, tmp_path / "worker.log", concurrency=2) as w:
            try:
                check_scan_results(svc, tmp_path)
            except AssertionError:
                print(w.output())
                raise


@pytest.mark.slow
def test_openhss_serve_runs_submitted_scans(tmp_path: Path) -> None:
    """`make run` mode: the `openhss serve` process (API + embedded worker + periodic thread) completes
    scans submitted through the SDK."""
    port = free_port()
    settings = make_settings(tmp_path)
    env = {
        **settings_env(settings),
        "OPENHSS_PORT": str(port),
        "OPENHSS_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "OPENHSS_ADMIN_ACCESS_KEY": ADMIN_AK,
        "OPENHSS_ADMIN_SECRET_KEY": ADMIN_SK,
        "OPENHSS_DEFAULT_PROJECT_ID": PROJECT,
        # Only the images this test registers: not whatever a Docker/podman socket on the machine holds.
        "OPENHSS_LOCAL_AGENT": "false",
    }
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "openhss.cli", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(base + "/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 60, "openhss serve to listen")
        rt = open_runtime(settings, migrate_schema=False)
        try:
            import_advisories(settings, tmp_path)
            check_scan_results(Service(base, rt), tmp_path)
        finally:
            rt.engine.dispose()
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
