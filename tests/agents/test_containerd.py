"""Kubernetes pods through containerd's CRI namespace: an agent reading `k8s.io` reports the pod's
container (with its pod labels) and the cluster it runs in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from huaweicloudsdkhss.v5 import ListImageLocalRequest, ListLocalImageContainersRequest

from openhss.db.models import Container, Host, Image
from tests.api.conftest import sdk
from tests.scan_sources.builders import LayerSpec, build_oci, write_oci_archive
from tests.scan_sources.peers import containerd
from tests.support.service import running_service

BUSYBOX = Path("/bin/busybox")
POD_LABELS = {
    "io.kubernetes.pod.name": "web-7d9f-x2",
    "io.kubernetes.pod.namespace": "shop",
    "io.kubernetes.pod.uid": "6f1c2d7e-pod-uid",
    "io.kubernetes.container.name": "web",
}


@pytest.mark.slow
def test_agent_reports_kubernetes_pods_from_containerd(tmp_path: Path) -> None:
    if not BUSYBOX.exists():
        pytest.skip("busybox-static is not installed (see scripts/test-debs.txt)")
    layer = LayerSpec().add_bytes("etc/os-release", b"ID=debian\n").add_file(BUSYBOX, "bin/busybox", 0o755)
    built = build_oci(
        tmp_path / "img", [layer], tag="1.0", config_extra={"Cmd": ["/bin/busybox", "sleep", "300"]}
    )
    archive = write_oci_archive(built, tmp_path / "pod.oci.tar")
    work = tmp_path / "ctrd"
    work.mkdir()
    with containerd(work) as (sock, ctr), running_service(tmp_path / "svc") as svc:
        k8s = [ctr, "-a", sock, "-n", "k8s.io"]
        subprocess.run(
            [*k8s, "images", "import", "--base-name", "docker.io/shop/web", str(archive)],
            check=True,
            capture_output=True,
        )
        labels = [arg for k, v in POD_LABELS.items() for arg in ("--label", f"{k}={v}")]
        subprocess.run(
            [*k8s, "containers", "create", *labels, "docker.io/shop/web:1.0", "web-c1"], check=True
        )
        try:
            subprocess.run([*k8s, "tasks", "start", "-d", "web-c1"], check=True, capture_output=True)
            cmd = [sys.executable, "-m", "openhss.entry", "agent", "--server", svc.base_url, "--ak", svc.ak]
            cmd += ["--project-id", svc.project_id, "--containerd-socket", sock, "--no-scan", "--once"]
            cmd += ["--host-id", "node-k1", "--cluster-id", "cce-prod", "--cluster-name", "prod"]
            run = subprocess.run(
                cmd, env={**os.environ, "OPENHSS_SK": svc.sk}, capture_output=True, text=True
            )
            assert run.returncode == 0, run.stderr
            client = sdk(svc)
            rows = client.list_image_local(ListImageLocalRequest(pod_name="web-7d9f")).data_list
            assert [(r.image_name, r.image_version, r.image_id) for r in rows] == [
                ("docker.io/shop/web", "1.0", built.config_digest)
            ]
            assert (rows[0].host_num, rows[0].container_num) == (1, 1)
            containers = client.list_local_image_containers(
                ListLocalImageContainersRequest(image_name="docker.io/shop/web", image_version="1.0")
            ).data_list
            assert [(c.container_id, c.container_name, c.pod_name, c.pod_id) for c in containers] == [
                ("web-c1", "web", "web-7d9f-x2", "6f1c2d7e-pod-uid")
            ]
            with svc.runtime.sessions() as s:
                host = s.query(Host).one()
                assert (host.cluster_id, host.cluster_name, host.docker_type) == (
                    "cce-prod",
                    "prod",
                    "containerd",
                )
                assert s.query(Container).one().namespace == "shop"
                assert s.query(Image).one().cluster_id == "cce-prod"
        finally:
            subprocess.run([*k8s, "tasks", "kill", "-s", "KILL", "web-c1"], capture_output=True, check=False)
            subprocess.run([*k8s, "tasks", "rm", "-f", "web-c1"], capture_output=True, check=False)
            subprocess.run([*k8s, "containers", "rm", "web-c1"], capture_output=True, check=False)
