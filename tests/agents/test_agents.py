"""Two agents (two processes, two host identities, two podman stores) against one server.

Images are built here from real bytes (Debian's static busybox) and loaded into podman; a container
really runs (runc). The server's view is read back through the official SDK's local-image APIs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from huaweicloudsdkhss.v5 import (
    HssClient,
    ListImageLocalRequest,
    ListLocalImageContainersRequest,
    ListLocalImageHostsRequest,
)

from openhss.db.engine import transaction
from openhss.services import agents
from tests.api.conftest import sdk
from tests.scan_sources.builders import BuiltImage, LayerSpec, build_oci, write_docker_archive
from tests.scan_sources.peers import need, podman_service
from tests.support.service import Service, running_service

BUSYBOX = Path("/bin/busybox")
RUN_FLAGS = [
    "--runtime",
    "runc",
    "--network",
    "none",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
]


def _image(tmp: Path, marker: str, with_busybox: bool = False) -> BuiltImage:
    layer = LayerSpec().add_bytes("etc/os-release", b'ID=debian\nVERSION_ID="12"\n')
    layer.add_bytes("app/marker.txt", marker.encode())
    if with_busybox:
        layer.add_file(BUSYBOX, "bin/busybox", 0o755)
    return build_oci(tmp, [layer], tag="app", config_extra={"Cmd": ["/bin/busybox", "sleep", "300"]})


def _load(argv: list[str], built: BuiltImage, tmp: Path, repo_tag: str) -> str:
    safe = repo_tag.replace("/", "_").replace(":", "_")
    archive = write_docker_archive(built, tmp / f"{safe}.tar", repo_tag)
    subprocess.run([*argv, "load", "-q", "-i", str(archive)], check=True, capture_output=True)
    return built.config_digest


def _agent(svc: Service, sock: str, host: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "openhss.entry", "agent", "--server", svc.base_url, "--ak", svc.ak]
    cmd += ["--project-id", svc.project_id, "--docker-host", f"unix://{sock}", "--once", "-q"]
    cmd += ["--host-id", f"ecs-{host}", "--host-name", f"node-{host}", "--public-ip", "203.0.113.9"]
    env = {**os.environ, "OPENHSS_SK": svc.sk}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _run_agents(svc: Service, *stores: tuple[str, str]) -> None:
    procs = [_agent(svc, sock, host) for sock, host in stores]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()


def _local(client: HssClient, **kw: object) -> dict[str, dict[str, object]]:
    resp = client.list_image_local(ListImageLocalRequest(limit=200, **kw))
    return {f"{i.image_name}:{i.image_version}": i.to_dict() for i in resp.data_list}


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[tuple[str, list[str]], tuple[str, list[str]]]]:
    need("runc")
    if not BUSYBOX.exists():
        pytest.skip("busybox-static is not installed (see scripts/test-debs.txt)")
    with podman_service(tmp_path / "a") as a, podman_service(tmp_path / "b") as b:
        yield a, b


@pytest.mark.slow
def test_two_agents_one_server(
    stores: tuple[tuple[str, list[str]], tuple[str, list[str]]], tmp_path: Path
) -> None:
    (sock_a, argv_a), (sock_b, argv_b) = stores
    shared = _image(tmp_path / "shared", "shared", with_busybox=True)
    only_a = _image(tmp_path / "only-a", "a")
    only_b = _image(tmp_path / "only-b", "b")
    shared_id = _load(argv_a, shared, tmp_path, "docker.io/test/shared:1.0")
    assert _load(argv_b, shared, tmp_path, "docker.io/test/shared:1.0") == shared_id
    only_a_id = _load(argv_a, only_a, tmp_path, "docker.io/test/only-a:1.0")
    only_b_id = _load(argv_b, only_b, tmp_path, "docker.io/test/only-b:1.0")
    run = subprocess.run(
        [*argv_a, "run", "-d", "--name", "web-1", *RUN_FLAGS, "docker.io/test/shared:1.0"],
        capture_output=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr.decode()
    container_id = run.stdout.decode().strip()
    try:
        with running_service(tmp_path / "svc") as svc:
            client = sdk(svc)
            _run_agents(svc, (sock_a, "a"), (sock_b, "b"))

            images = _local(client)
            assert set(images) == {
                "docker.io/test/shared:1.0",
                "docker.io/test/only-a:1.0",
                "docker.io/test/only-b:1.0",
            }
            one = images["docker.io/test/shared:1.0"]
            assert one["image_id"] == shared_id
            assert (one["host_num"], one["container_num"]) == (2, 1)
            assert images["docker.io/test/only-a:1.0"]["image_id"] == only_a_id
            b = images["docker.io/test/only-b:1.0"]
            assert (b["host_num"], b["container_num"]) == (1, 0)
            on_b = {"docker.io/test/shared:1.0", "docker.io/test/only-b:1.0"}
            assert set(_local(client, host_name="node-b")) == on_b
            assert set(_local(client, has_container=True)) == {"docker.io/test/shared:1.0"}

            hosts = client.list_local_image_hosts(
                ListLocalImageHostsRequest(image_name="docker.io/test/shared", image_version="1.0")
            )
            assert hosts.total_num == 2
            by_name = {h.host_name: h for h in hosts.data_list}
            assert set(by_name) == {"node-a", "node-b"}
            assert by_name["node-a"].host_id == "ecs-a" and by_name["node-a"].agent_status == "online"
            assert by_name["node-a"].public_ip == "203.0.113.9" and by_name["node-a"].docker_type == "podman"
            assert by_name["node-a"].private_ip

            containers = client.list_local_image_containers(
                ListLocalImageContainersRequest(image_name="docker.io/test/shared", image_version="1.0")
            )
            assert containers.total_num == 1
            c = containers.data_list[0]
            assert (c.container_id, c.container_name, c.host_name) == (container_id, "web-1", "node-a")

            # Changes: the container stops, only-b is removed from host b, only-a is retagged on host a.
            subprocess.run([*argv_a, "rm", "-f", "-t", "0", "web-1"], check=True, capture_output=True)
            subprocess.run([*argv_b, "rmi", "docker.io/test/only-b:1.0"], check=True, capture_output=True)
            subprocess.run(
                [*argv_a, "tag", "docker.io/test/only-a:1.0", "docker.io/test/renamed:2.0"],
                check=True,
                capture_output=True,
            )
            subprocess.run([*argv_a, "rmi", "docker.io/test/only-a:1.0"], check=True, capture_output=True)
            _run_agents(svc, (sock_a, "a"), (sock_b, "b"))
            images = _local(client)
            assert set(images) == {"docker.io/test/shared:1.0", "docker.io/test/renamed:2.0"}
            assert images["docker.io/test/renamed:2.0"]["image_id"] == only_a_id
            one = images["docker.io/test/shared:1.0"]
            assert (one["host_num"], one["container_num"]) == (2, 0)
            assert only_b_id not in {i["image_id"] for i in images.values()}

            # Host b stops reporting: after the timeout it is offline, and its images stay listed.
            later = datetime.now(UTC) + timedelta(seconds=svc.runtime.settings.agent_offline_seconds + 5)
            with transaction(svc.runtime.sessions) as s:
                assert agents.mark_offline(s, svc.runtime.settings.agent_offline_seconds, now=later) == 2
            hosts = client.list_local_image_hosts(
                ListLocalImageHostsRequest(image_name="docker.io/test/shared", image_version="1.0")
            )
            assert {h.agent_status for h in hosts.data_list} == {"offline"}
            assert _local(client, host_name="node-b")["docker.io/test/shared:1.0"]["host_num"] == 2
            # Heartbeating again brings a host back online.
            _run_agents(svc, (sock_a, "a"))
            req = ListLocalImageHostsRequest(image_name="docker.io/test/shared")
            hosts = client.list_local_image_hosts(req)
            status = {h.host_name: h.agent_status for h in hosts.data_list}
            assert status == {"node-a": "online", "node-b": "offline"}
    finally:
        subprocess.run([*argv_a, "rm", "-f", "-t", "0", "web-1"], capture_output=True, check=False)
