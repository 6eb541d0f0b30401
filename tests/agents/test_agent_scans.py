"""Scans that run where the image is: an agent scanning from its podman store, and a CI pipeline
uploading its build's scan. Both upload the inventory only; the server matches vulnerabilities."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from huaweicloudsdkhss.v5 import (
    ListCicdImagesRequest,
    ListImageLocalRequest,
    ListImageScanTaskRequest,
    ListImageVulnerabilitiesRequest,
)

from openhss.config import ScanSettings
from tests.api.conftest import sdk
from tests.scan_sources.builders import build_oci, write_docker_archive, write_oci_archive
from tests.scan_sources.peers import podman_service
from tests.support.service import running_service
from tests.worker.helpers import CERTIFI_VUL, ZLIB_VUL, app_layer, import_advisories, os_layer


def _openhss(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openhss.entry", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_agent_scans_new_image_on_its_host(tmp_path: Path) -> None:
    built = build_oci(tmp_path / "img", [os_layer(), app_layer()], tag="app")
    archive = write_docker_archive(built, tmp_path / "app.tar", "docker.io/team/scanned:3.1")
    with (
        podman_service(tmp_path / "podman") as (sock, argv),
        running_service(tmp_path / "svc", scans=ScanSettings(scan_on_new_image=True)) as svc,
    ):
        subprocess.run([*argv, "load", "-q", "-i", str(archive)], check=True, capture_output=True)
        import_advisories(svc.runtime.settings, tmp_path)
        # One cycle: report (the new image queues a scan), heartbeat, claim the job, scan, upload.
        run = _openhss(
            "agent",
            "--server",
            svc.base_url,
            "--ak",
            svc.ak,
            "--project-id",
            svc.project_id,
            "--docker-host",
            f"unix://{sock}",
            "--host-id",
            "ecs-scan",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--once",
            env={"OPENHSS_SK": svc.sk},
        )
        assert run.returncode == 0, run.stderr
        assert "scanned sha256:" in run.stderr
        client = sdk(svc)
        rows = client.list_image_local(ListImageLocalRequest()).data_list
        assert [(r.image_name, r.image_version) for r in rows] == [("docker.io/team/scanned", "3.1")]
        row = rows[0]
        assert row.scan_status == "success", row.scan_failed_desc
        assert row.vul_num == 3 and row.image_id == built.config_digest
        vuls = client.list_image_vulnerabilities(
            ListImageVulnerabilitiesRequest(
                image_type="local",
                image_id=row.image_id,
                namespace="docker.io",
                image_name=row.image_name,
                tag_name=row.image_version,
                limit=200,
            )
        )
        assert {ZLIB_VUL, CERTIFI_VUL} <= {v.vul_id for v in vuls.data_list}
        tasks = client.list_image_scan_task(
            ListImageScanTaskRequest(type="image_scan", global_image_type="local")
        )
        assert tasks.total_num == 1 and tasks.data_list[0].task_status in (100, "100")
        # Nothing left for the agent; layers were analysed on the host, into its own cache.
        assert any((tmp_path / "cache").iterdir())


def test_cicd_upload_is_listed(tmp_path: Path) -> None:
    built = build_oci(tmp_path / "img", [os_layer(), app_layer()], tag="app")
    archive = write_oci_archive(built, tmp_path / "build.oci.tar")
    with running_service(tmp_path / "svc") as svc:
        args = ["scan", "--upload", "--server", svc.base_url, "--ak", svc.ak, "--project-id", svc.project_id]
        args += ["--cicd-name", "jenkins-web", "--no-cache", "-f", "json", f"oci-archive:{archive}"]
        # The server has no advisories yet: the upload is refused with a clear reason.
        refused = _openhss(*args, env={"OPENHSS_SK": svc.sk, "OPENHSS_DATA_DIR": str(tmp_path / "cli")})
        assert refused.returncode == 2 and "advisory database" in refused.stderr, refused.stderr
        import_advisories(svc.runtime.settings, tmp_path)
        ok = _openhss(
            *args, "--exit-code", "5", env={"OPENHSS_SK": svc.sk, "OPENHSS_DATA_DIR": str(tmp_path / "cli")}
        )
        assert ok.returncode == 5, ok.stderr  # the server found vulnerabilities: the gate fails
        assert "3 vulnerabilities" in ok.stderr
        listed = sdk(svc).list_cicd_images(ListCicdImagesRequest(cicd_name="jenkins-web"))
        assert listed.total_num == 1
        img = listed.data_list[0]
        assert (img.image_name, img.image_version, img.image_type) == ("build.oci.tar", "latest", "cicd")
        assert img.image_id == built.config_digest and img.vul_num == 3 and img.scan_status == "success"
        # Uploading the same build again replaces its results instead of adding a row.
        again = _openhss(*args, env={"OPENHSS_SK": svc.sk, "OPENHSS_DATA_DIR": str(tmp_path / "cli")})
        assert again.returncode == 0, again.stderr
        assert sdk(svc).list_cicd_images(ListCicdImagesRequest()).total_num == 1
