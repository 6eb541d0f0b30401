"""Faults end in a correct final state.

`openhss serve` is SIGKILLed while its embedded worker is inside an export (held there by a table lock
the test takes on PostgreSQL, so "during" is deterministic, not a race): after a restart the task fails
within one sweep interval, saying why, and the export type is free again at once. A corrupt advisory
database is one clear error (API: HSS body, no stack in the log; CLI: one line). Data files are private.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select, text

from openhss.db.engine import transaction
from openhss.db.models import ExportTask, Image
from openhss.domain import signing
from openhss.domain import upload as upload_json
from openhss.domain.report import ImageSummary
from openhss.domain.upload import ScanUpload
from openhss.services import exports, results
from openhss.services.identity import Scope
from openhss.services.images import ImageFilter
from openhss.services.runtime import bootstrap_admin, open_runtime
from openhss.services.vulndb import VulnDbService
from tests.api.conftest import NGINX_VULS, nginx_inventory
from tests.scan_sources.builders import build_oci
from tests.support.pg import temp_database
from tests.support.server import free_port
from tests.support.service import ADMIN_AK, ADMIN_SK, PROJECT, make_settings, running_service
from tests.support.signed import signed_headers
from tests.worker.helpers import os_layer, wait_for

EXPORT = f"/v5/{PROJECT}/image/local-vulnerability/export?export_size=1000"


class Serve:
    """`openhss serve` in its own process (embedded worker, sweep every second)."""

    def __init__(self, data_dir: Path, database_url: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "OPENHSS_DATA_DIR": str(data_dir),
            "OPENHSS_DATABASE_URL": database_url,
            "OPENHSS_ADMIN_ACCESS_KEY": ADMIN_AK,
            "OPENHSS_ADMIN_SECRET_KEY": ADMIN_SK,
            "OPENHSS_ADMIN_PASSWORD": secrets.token_urlsafe(12),
            "OPENHSS_DEFAULT_PROJECT_ID": PROJECT,
            "OPENHSS_LOCAL_AGENT": "false",
            "OPENHSS_SCANS__SWEEP_INTERVAL_SECONDS": "1",
            "OPENHSS_SCANS__LEASE_SECONDS": "600",  # recovery must not wait for the lease to run out
        }
        cmd = [sys.executable, "-m", "openhss.entry", "serve", "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(self._healthy, 60, "serve answers /health")

    def _healthy(self) -> bool:
        try:
            return httpx.get(self.base + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def post(self, path: str, body: bytes) -> httpx.Response:
        url = self.base + path
        headers = {"content-type": "application/json"}
        headers.update(signing.sign(ADMIN_AK, ADMIN_SK, "POST", url, headers, body))
        return httpx.post(url, headers=headers, content=body, timeout=30)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def pg_data(tmp_path: Path) -> Iterator[tuple[Path, str, str]]:
    """A seeded database with one export task as the API leaves it (running, not yet picked up)."""
    with temp_database() as url:
        settings = make_settings(tmp_path, url)
        rt = open_runtime(settings)
        bootstrap_admin(rt)
        with transaction(rt.sessions) as s:
            for i in range(3):
                img = Image(
                    project_id=PROJECT, image_type="local", image_id=f"sha256:{i:064x}", image_name=f"app{i}"
                )
                s.add(img)
                s.flush()
                results.record_scan(s, img.id, nginx_inventory(), NGINX_VULS)
            query = exports.VulExport(ImageFilter(), operate_all=True)
            task = exports.create_export(s, Scope(PROJECT, frozenset({"0"})), 1000, query, enqueue=False)
            task.create_time -= 5000  # its message "lost": the sweep of the next serve sends it
            task_id = task.task_id
        rt.engine.dispose()
        yield tmp_path, url, task_id


def _task(url: str, task_id: str) -> ExportTask:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(ExportTask).where(ExportTask.task_id == task_id)).one()
            return ExportTask(**row._mapping)
    finally:
        engine.dispose()


@pytest.mark.slow
def test_serve_killed_during_an_export_fails_it_on_restart_and_frees_its_type(
    pg_data: tuple[Path, str, str],
) -> None:
    data_dir, url, task_id = pg_data
    blocker = create_engine(url).connect()
    # The export's file-writing query will wait on this lock: the kill lands inside the export.
    blocker.begin()
    blocker.execute(text("LOCK TABLE image_vulnerabilities IN ACCESS EXCLUSIVE MODE"))
    serve = Serve(data_dir, url)
    try:
        wait_for(lambda: bool(_task(url, task_id).lease_owner), 30, "the worker took the export")
        time.sleep(0.3)
        serve.kill()
        blocker.rollback()  # the lock goes; the killed process's connections went with it

        orphan = _task(url, task_id)
        assert orphan.task_status == "running" and orphan.lease_owner  # what a crash leaves

        # The lease has 10 minutes left: ending now shows the dead runner was recognised, not waited out.
        serve = Serve(data_dir, url)
        wait_for(lambda: _task(url, task_id).task_status != "running", 30, "the orphaned export ended")
        final = _task(url, task_id)
        assert final.task_status == "failure" and final.failed_reason == exports.ORPHANED
        # The type is free at once: a new export is accepted (not HSS.1035) and finishes.
        again = serve.post(EXPORT, b'{"operate_all": true}')
        assert again.status_code == 200, again.text
        new_id = again.json()["task_id"]
        wait_for(lambda: _task(url, new_id).task_status == "success", 60, "the new export finished")
    finally:
        blocker.close()
        serve.stop()


@pytest.mark.slow
def test_data_files_are_private_to_the_service(tmp_path: Path) -> None:
    """Embedded `openhss serve`: the data dir is 0700 and every file it writes there (database, its
    WAL, the broker, the secret key, an export) 0600, whatever the umask of whoever started it."""
    data_dir = tmp_path / "data"
    old = os.umask(0o022)
    try:
        serve = Serve(data_dir, "")
    finally:
        os.umask(old)
    try:
        created = serve.post(EXPORT, b'{"operate_all": true}')
        assert created.status_code == 200, created.text
        engine_url = f"sqlite:///{data_dir / 'openhss.db'}"
        task_id = created.json()["task_id"]
        wait_for(lambda: _task(engine_url, task_id).task_status == "success", 60, "the export finished")
    finally:
        serve.stop()
    assert (data_dir.stat().st_mode & 0o777) == 0o700
    names = {p.name for p in data_dir.rglob("*") if p.is_file()}
    assert {"openhss.db", "broker.db", "secret.key"} <= names, names
    assert any(p.parent.parent.name == "exports" for p in data_dir.rglob("*") if p.is_file())
    loose = {
        str(p.relative_to(data_dir)): oct(p.stat().st_mode & 0o777)
        for p in data_dir.rglob("*")
        if (p.stat().st_mode & 0o077)
    }
    assert not loose, loose


def test_a_corrupt_advisory_database_is_one_clear_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with running_service(tmp_path / "svc") as svc:
        store = VulnDbService.from_settings(svc.runtime.settings).store.path
        store.parent.mkdir(parents=True, exist_ok=True)
        store.write_bytes(b"SQLite format 3\x00" + secrets.token_bytes(8192))
        upload = upload_json.to_json(
            ScanUpload(ImageSummary("app:1", "oci", "", "sha256:" + "c" * 64, "linux", "amd64"))
        )
        caplog.set_level(logging.INFO)
        for _ in range(2):
            url = svc.base_url + f"/v5/{PROJECT}/image/cicd/images?cicd_name=ci&image_name=app"
            headers = signed_headers(svc, "POST", url, upload)
            resp = httpx.post(url, headers=headers, content=upload, timeout=30)
            assert resp.status_code == 503, resp.text
            assert resp.json()["error_code"] == "HSS.0503" and "unreadable" in resp.json()["error_msg"]
        assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
        env = {**os.environ, "OPENHSS_DATA_DIR": str(svc.runtime.settings.data_dir)}
        status = subprocess.run(
            [sys.executable, "-m", "openhss.entry", "db", "status"], env=env, capture_output=True, text=True
        )
        assert status.returncode != 0 and "unreadable" in status.stderr
        assert len(status.stderr.strip().splitlines()) == 1, status.stderr
        built = build_oci(tmp_path / "img", [os_layer()], tag="app")
        scan = subprocess.run(
            [
                sys.executable,
                "-m",
                "openhss.entry",
                "scan",
                "--db",
                str(store),
                "--no-cache",
                "-q",
                f"oci:{built.oci_dir}:app",
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        assert scan.returncode == 1 and "unreadable" in scan.stderr  # a runtime failure (README: exit codes)
        assert len(scan.stderr.strip().splitlines()) == 1, scan.stderr
