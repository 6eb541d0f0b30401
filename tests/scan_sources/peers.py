"""Real image stores started by tests: Debian's docker-registry, podman's API service, containerd."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (see scripts/test-debs.txt)")
    return path


def need_root(what: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"{what} needs root (its daemon mounts and chowns)")


def wait_until(check: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if callable(check) and check():
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not come up within {timeout}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextmanager
def registry(workdir: Path, htpasswd: tuple[str, str] | None = None, tls: bool = False) -> Iterator[str]:
    """A real `docker-registry` on 127.0.0.1:<free port>; yields `host:port`.

    With `tls`, a self-signed certificate generated now is served and left at `workdir/tls.crt`.
    """
    binary = need("docker-registry")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    auth = ""
    if htpasswd is not None:
        hp = need("htpasswd")
        out = subprocess.run([hp, "-Bbn", *htpasswd], check=True, capture_output=True).stdout
        (workdir / "htpasswd").write_bytes(out)
        auth = f"auth:\n  htpasswd:\n    realm: test\n    path: {workdir / 'htpasswd'}\n"
    scheme, tls_cfg = "http", ""
    if tls:
        scheme = "https"
        cmd = [need("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        cmd += ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        cmd += ["-keyout", str(workdir / "tls.key"), "-out", str(workdir / "tls.crt")]
        subprocess.run(cmd, check=True, capture_output=True)
        tls_cfg = f"  tls:\n    certificate: {workdir / 'tls.crt'}\n    key: {workdir / 'tls.key'}\n"
    (workdir / "config.yml").write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {workdir / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n{tls_cfg}{auth}"
    )
    log = (workdir / "registry.log").open("wb")
    proc = subprocess.Popen([binary, "serve", str(workdir / "config.yml")], stdout=log, stderr=log)
    try:
        url = f"{scheme}://127.0.0.1:{port}/v2/"
        wait_until(lambda: httpx.get(url, verify=False).status_code in (200, 401), "registry")  # noqa: S501 - readiness only
        yield f"127.0.0.1:{port}"
    finally:
        _stop(proc)
        log.close()


def skopeo_copy(src: str, dest: str, *extra: str) -> None:
    skopeo = need("skopeo")
    cmd = [skopeo, "copy", "--quiet", "--insecure-policy", *extra, src, dest]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd}: {proc.stderr.decode()}")


@contextmanager
def podman_service(workdir: Path) -> Iterator[tuple[str, list[str]]]:
    """`podman system service` on a unix socket with its own storage; yields (socket, podman argv)."""
    binary = need("podman")
    need_root("podman system service")
    # podman refuses a runroot longer than 50 characters; pytest's tmp paths are longer.
    short = Path(tempfile.mkdtemp(prefix="ohp-", dir="/tmp"))
    root, run = short / "root", short / "run"
    argv = [
        binary,
        "--root",
        str(root),
        "--runroot",
        str(run),
        "--storage-driver",
        "vfs",
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "none",
    ]
    workdir.mkdir(parents=True, exist_ok=True)
    sock = workdir / "podman.sock"
    log = (workdir / "podman.log").open("wb")
    proc = subprocess.Popen(
        [*argv, "system", "service", "--time=0", f"unix://{sock}"], stdout=log, stderr=log
    )
    try:
        wait_until(lambda: _ping(sock), "podman service")
        yield str(sock), argv
    finally:
        _stop(proc)
        log.close()
        subprocess.run([*argv, "system", "reset", "--force"], capture_output=True, check=False)
        shutil.rmtree(short, ignore_errors=True)


def _ping(sock: Path) -> bool:
    if not sock.exists():
        return False
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://d") as c:
        return c.get("/_ping").status_code == 200


@contextmanager
def containerd(workdir: Path) -> Iterator[tuple[str, str]]:
    """containerd with temp root/state/socket; yields (socket address, ctr binary)."""
    binary = need("containerd")
    ctr = need("ctr")
    need_root("containerd")
    sock = workdir / "containerd.sock"
    (workdir / "config.toml").write_text(
        "version = 2\n"
        f'root = "{workdir / "root"}"\nstate = "{workdir / "state"}"\n'
        f'[grpc]\n  address = "{sock}"\n'
        '[plugins."io.containerd.grpc.v1.cri"]\n  disable_tcp_service = true\n'
        f'[ttrpc]\n  address = "{sock}.ttrpc"\n'
    )
    log = (workdir / "containerd.log").open("wb")
    proc = subprocess.Popen([binary, "--config", str(workdir / "config.toml")], stdout=log, stderr=log)
    try:
        wait_until(
            lambda: subprocess.run([ctr, "-a", str(sock), "version"], capture_output=True).returncode == 0,
            "containerd",
        )
        yield str(sock), ctr
    finally:
        _stop(proc)
        log.close()
