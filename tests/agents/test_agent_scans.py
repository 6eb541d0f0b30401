"""Scans that run where the image is: an agent scanning from its podman store, and a CI pipeline
uploading its build's scan. Both upload the inventory only; the server matches vulnerabilities."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from huaweicloudsdkhss.v5 import (
    ListCicdImagesRequest,
    ListImageLocalRequest,
    ListImageScanTaskRequest,
    ListImageVulnerabilitiesRequest,
    ListVulAffectImagesRequest,
)

from openhss.config import ScanSettings
from tests.api.conftest import sdk
from tests.scan_sources.builders import build_oci, write_docker_archive, write_oci_archive
from tests.scan_sources.peers import podman_service
from tests.support.service import Service, running_service
from tests.support.signed import signed_headers
from tests.worker.helpers import CERTIFI_VUL, ZLIB_VUL, app_layer, import_advisories, os_layer


def _signed(svc: Service, method: str, path: str, body: bytes) -> dict[str, str]:
    headers = {"Content-Type": "application/octet-stream", "X-Project-Id": svc.project_id}
    return signed_headers(svc, method, svc.base_url + path, body, headers=headers)


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

        def agent_args(cache: Path) -> list[str]:
            return [
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
                str(cache),
                "--once",
            ]

        # One cycle: report (the new image queues a scan), heartbeat, claim the job, scan, upload.
        run = _openhss(*agent_args(tmp_path / "cache"), env={"OPENHSS_SK": svc.sk})
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
        assert "0/2 layers from cache" in run.stderr
        assert any((tmp_path / "cache").iterdir())

        # A second image sharing the OS layer, scanned with an empty local cache: the OS layer's
        # analysis comes from the server's shared cache, only the new app layer is read.
        second = build_oci(tmp_path / "img2", [os_layer(), app_layer("v2")], tag="app")
        archive2 = write_docker_archive(second, tmp_path / "app2.tar", "docker.io/team/scanned:3.2")
        subprocess.run([*argv, "load", "-q", "-i", str(archive2)], check=True, capture_output=True)
        run2 = _openhss(*agent_args(tmp_path / "cache2"), env={"OPENHSS_SK": svc.sk})
        assert run2.returncode == 0, run2.stderr
        assert "1/2 layers from cache" in run2.stderr, run2.stderr
        rows = {r.image_version: r for r in client.list_image_local(ListImageLocalRequest()).data_list}
        assert rows["3.2"].scan_status == "success" and rows["3.2"].vul_num == 3

        # The shared cache refuses what is not a layer analysis.
        bad = httpx.put(
            f"{svc.base_url}/v5/{svc.project_id}/agent/layer-cache/{'a' * 64}",
            content=b"\x28\xb5\x2f\xfd not really zstd",
            headers=_signed(
                svc,
                "PUT",
                f"/v5/{svc.project_id}/agent/layer-cache/{'a' * 64}",
                b"\x28\xb5\x2f\xfd not really zstd",
            ),
        )
        assert bad.status_code == 400 and bad.json()["error_code"] == "HSS.0001"


def test_cicd_upload_is_listed(tmp_path: Path) -> None:
    built = build_oci(tmp_path / "img", [os_layer(), app_layer()], tag="app")
    archive = write_oci_archive(built, tmp_path / "build.oci.tar")
    with running_service(tmp_path / "svc") as svc:
        args = ["scan", "--upload", "--server", svc.base_url, "--ak", svc.ak, "--project-id", svc.project_id]
        args += ["--cicd-name", "jenkins-web", "--no-cache", "-f", "json", f"oci-archive:{archive}"]
        # The server has no advisories yet: the upload is refused with a clear reason.
        refused = _openhss(*args, env={"OPENHSS_SK": svc.sk, "OPENHSS_DATA_DIR": str(tmp_path / "cli")})
        assert refused.returncode == 1 and "advisory database" in refused.stderr, refused.stderr
        import_advisories(svc.runtime.settings, tmp_path)
        ok = _openhss(
            *args, "--exit-code", "5", env={"OPENHSS_SK": svc.sk, "OPENHSS_DATA_DIR": str(tmp_path / "cli")}
        )
        assert ok.returncode == 5, ok.stderr  # the server found vulnerabilities: the gate fails
        assert json.loads(ok.stdout)["server"]["vul_num"] == 3  # the server's result, on stdout
        listed = sdk(svc).list_cicd_images(ListCicdImagesRequest(cicd_name="jenkins-web"))
        assert listed.total_num == 1
        img = listed.data_list[0]
        assert (img.image_name, img.image_version, img.image_type) == ("build.oci.tar", "latest", "cicd")
        assert img.image_id == built.config_digest and img.vul_num == 3 and img.scan_status == "success"
        hit = sdk(svc).list_vul_affect_images(
            ListVulAffectImagesRequest(
                vul_id=CERTIFI_VUL, type="app_vul", image_type="cicd", is_handled=False
            )
        )
        assert [i.image_id for i in hit.data_list] == [built.config_digest]
        # Uploading the same build again replaces its results instead of adding a row.
        again = _openhss(*args, env={"OPENHSS_SK": svc.sk, "OPENHSS_DATA_DIR": str(tmp_path / "cli")})
        assert again.returncode == 0, again.stderr
        assert sdk(svc).list_cicd_images(ListCicdImagesRequest()).total_num == 1
