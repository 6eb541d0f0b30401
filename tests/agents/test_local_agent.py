"""`openhss serve` runs an agent for its own host: with `make run` alone, the images of the machine
running the service are listed as local images and scanned where they are.

The host's Engine API here is a private podman service (own storage); serve is a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx
import pytest
from huaweicloudsdkhss.v5 import (
    BatchScanLocalImageRequest,
    ListImageLocalRequest,
    ListLocalImageHostsRequest,
    LocalImageBatchScanRequestBody,
    LocalImageInfo,
)

from openhss.agent.local import KEY_DESCRIPTION, LOCAL_AGENT_USER, detect_docker_host
from openhss.db.engine import transaction
from openhss.services import identity
from openhss.services.runtime import open_runtime
from tests.api.conftest import sdk
from tests.scan_sources.builders import build_oci, write_docker_archive
from tests.scan_sources.peers import podman_service
from tests.support.server import free_port
from tests.support.service import (
    ADMIN_AK,
    ADMIN_PASSWORD,
    ADMIN_SK,
    PROJECT,
    Service,
    make_settings,
)
from tests.worker.helpers import app_layer, import_advisories, os_layer, settings_env, wait_for


@contextmanager
def _serve(tmp: Path, port: int, **env: str) -> Iterator[tuple[str, Path]]:
    """`openhss serve` as a subprocess with known admin credentials; yields (base URL, its log)."""
    settings = make_settings(tmp)
    full = {
        **settings_env(settings),
        "OPENHSS_PORT": str(port),
        "OPENHSS_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "OPENHSS_ADMIN_ACCESS_KEY": ADMIN_AK,
        "OPENHSS_ADMIN_SECRET_KEY": ADMIN_SK,
        "OPENHSS_DEFAULT_PROJECT_ID": PROJECT,
        "OPENHSS_AGENT_HEARTBEAT_SECONDS": "1",
        **env,
    }
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / f"serve-{port}.log"
    log: IO[bytes] = path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "openhss.cli", "serve"], env=full, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, path.read_text()
        try:
            return httpx.get(base + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, 30, "openhss serve to listen")
        yield base, path
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


@pytest.mark.slow
def test_serve_reports_and_scans_its_own_hosts_images(tmp_path: Path) -> None:
    built = build_oci(tmp_path / "img", [os_layer(), app_layer()], tag="app")
    archive = write_docker_archive(built, tmp_path / "app.tar", "docker.io/team/onhost:2.0")
    data = tmp_path / "svc"
    with podman_service(tmp_path / "podman") as (sock, argv):
        subprocess.run([*argv, "load", "-q", "-i", str(archive)], check=True, capture_output=True)
        settings = make_settings(data)
        with _serve(data, free_port(), OPENHSS_LOCAL_AGENT_DOCKER_HOST=f"unix://{sock}") as (base, log):
            rt = open_runtime(settings, migrate_schema=False)
            try:
                import_advisories(settings, tmp_path)
                client = sdk(Service(base, rt))

                def listed() -> bool:
                    rows = client.list_image_local(ListImageLocalRequest()).data_list
                    return bool(rows) and rows[0].host_num == 1

                wait_for(listed, 20, "the local agent's report")
                rows = client.list_image_local(ListImageLocalRequest()).data_list
                assert [(r.image_name, r.image_version) for r in rows] == [("docker.io/team/onhost", "2.0")]
                assert rows[0].image_id == built.config_digest and rows[0].host_num == 1
                hosts = client.list_local_image_hosts(
                    ListLocalImageHostsRequest(image_name="docker.io/team/onhost", image_version="2.0")
                ).data_list
                assert len(hosts) == 1 and hosts[0].agent_status == "online"
                assert hosts[0].docker_type == "podman"

                client.batch_scan_local_image(
                    BatchScanLocalImageRequest(
                        body=LocalImageBatchScanRequestBody(
                            operate_all=False, image_info_list=[LocalImageInfo(image_id=rows[0].image_id)]
                        )
                    )
                )

                def scanned() -> bool:
                    row = client.list_image_local(ListImageLocalRequest()).data_list[0]
                    return row.scan_status in ("success", "failed", "download_failed")

                wait_for(scanned, 30, "the local agent's scan")
                row = client.list_image_local(ListImageLocalRequest()).data_list[0]
                assert row.scan_status == "success", (row.scan_failed_desc, log.read_text())
                assert row.vul_num == 3

                # The agent signs with a built-in operator key the service read back from its database;
                # its secret is never written to the log.
                with transaction(rt.sessions) as session:
                    keys = identity.list_access_keys(session, LOCAL_AGENT_USER)
                    assert [k.description for k in keys] == [KEY_DESCRIPTION]
                    user = identity.get_user(session, LOCAL_AGENT_USER)
                    assert user.role == "operator" and not user.password_hash
                    found = identity.lookup_access_key(session, rt.box, keys[0].access_key)
                    assert found is not None
                    secret = found[1]
            finally:
                rt.engine.dispose()
        text = log.read_text()
        assert f"local agent: reporting this host's images from unix://{sock}" in text
        assert secret not in text
        # A restart reuses the same key instead of minting another.
        with _serve(data, free_port(), OPENHSS_LOCAL_AGENT_DOCKER_HOST=f"unix://{sock}"):
            pass
        rt = open_runtime(settings, migrate_schema=False)
        try:
            with transaction(rt.sessions) as session:
                assert len(identity.list_access_keys(session, LOCAL_AGENT_USER)) == 1
        finally:
            rt.engine.dispose()


@pytest.mark.slow
def test_serve_without_an_engine_socket_starts_and_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here.sock"
    with _serve(tmp_path / "svc", free_port(), OPENHSS_LOCAL_AGENT_DOCKER_HOST=f"unix://{missing}") as (
        base,
        log,
    ):
        assert httpx.get(base + "/health", timeout=5).status_code == 200
    lines = [line for line in log.read_text().splitlines() if "local agent" in line]
    assert lines == [f"openhss: local agent not started: no Docker Engine API socket at unix://{missing}"]


def test_docker_host_detection(tmp_path: Path) -> None:
    import socket

    run = tmp_path / "xdg"
    (run / "podman").mkdir(parents=True)
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(run / "podman" / "podman.sock"))
        env = {"XDG_RUNTIME_DIR": str(run), "DOCKER_HOST": f"unix://{tmp_path}/absent.sock"}
        found = detect_docker_host("", env)
        # The machine's own Docker socket, if it has one, comes first; otherwise the user's podman one.
        if not Path("/var/run/docker.sock").is_socket():
            assert found == f"unix://{run}/podman/podman.sock"
        assert detect_docker_host("tcp://10.0.0.1:2375", env) == "tcp://10.0.0.1:2375"
        assert detect_docker_host(f"unix://{tmp_path}/absent.sock", env) is None
        assert detect_docker_host(str(run / "podman" / "podman.sock"), {}) == (
            f"unix://{run}/podman/podman.sock"
        )
        assert detect_docker_host("", {"DOCKER_HOST": "tcp://h:2376"}) == "tcp://h:2376"
