"""Registry credentials and the connectivity check under attack: a stored password never follows an
address change, the check is not a port-scan oracle, the server's own loopback and the cloud metadata
address are out of reach unless allowed, and an invalid CA bundle is a 400 that leaves no file."""

from __future__ import annotations

import secrets
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from openhss.config import RegistryTargets
from openhss.db.engine import transaction
from openhss.domain.errors import InvalidRequest
from openhss.services import identity, registries
from tests.scan_sources.peers import registry
from tests.support.service import PROJECT, Service, running_service

from .conftest import send, signed

USER = "ci"
REGISTRIES = f"/v5/{PROJECT}/image/registries"


class Listener:
    """An attacker's endpoint: accepts connections and records every byte sent to it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    self.received += conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    peer = Listener()
    yield peer
    peer.close()


#: Stands for a registry when `docker-registry` is not installed: rows are then stored directly.
UNCHECKED = "registry.invalid:5000"


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A real registry with a password when the machine has one; else an address nothing answers."""
    password = secrets.token_urlsafe(16)
    if shutil.which("docker-registry") is None:
        yield UNCHECKED, password
        return
    with registry(tmp_path_factory.mktemp("reg"), htpasswd=(USER, password)) as host:
        yield host, password


def _stored(svc: Service, name: str, host: str, password: str) -> str:
    """Save a registry (through the API when a real one runs, where the check passes)."""
    if host != UNCHECKED:
        assert _call(svc, "POST", REGISTRIES, _body(name, host, password)).status_code == 200
        return _registry_id(svc, name)
    fields = registries.RegistryFields(**_body(name, host, password))
    with transaction(svc.runtime.sessions) as session:
        scope = identity.Scope(PROJECT, frozenset({"0"}))
        return registries.add_registry(session, svc.runtime.box, scope, fields).registry_id


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    # This deployment's registries run on this host, so it allows loopback targets explicitly.
    targets = RegistryTargets(allow_loopback=True)
    with running_service(tmp_path_factory.mktemp("regsec"), registry_targets=targets) as service:
        yield service


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(tmp_path_factory.mktemp("regstrict")) as service:
        yield service


def _body(name: str, addr: str, password: str | None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "registry_name": name,
        "registry_type": "Other",
        "api_version": "V2",
        "protocol": "http",
        "registry_addr": addr,
        "registry_username": USER,
        "connect_cluster_id": "c",
        "get_scan_image_channel": "Other",
        **extra,
    }
    if password is not None:
        body["registry_password"] = password
    return body


def _call(svc: Service, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    url, headers, raw = signed(svc, method, path, body)
    return send(method, url, headers, raw)


def _registry_id(svc: Service, name: str) -> str:
    listed = _call(svc, "GET", REGISTRIES + f"?registry_name={name}&limit=10&offset=0").json()
    return str(listed["data_list"][0]["id"])


def test_an_address_change_without_the_password_sends_the_password_nowhere(
    svc: Service, reg: tuple[str, str], listener: Listener
) -> None:
    host, password = reg
    rid = _stored(svc, "moving", host, password)
    evil = f"127.0.0.1:{listener.port}"
    for change in (
        {"registry_addr": evil},
        {"protocol": "https"},
        {"registry_addr": evil, "protocol": "https"},
        {"ca_cert": "-----BEGIN CERTIFICATE-----\nthe updater's own CA\n-----END CERTIFICATE-----\n"},
    ):
        resp = _call(svc, "PUT", f"{REGISTRIES}/{rid}", _body("moving", host, None, **change))
        assert resp.status_code == 400, resp.text
        assert resp.json()["error_code"] == "HSS.0001" and "registry_password" in resp.json()["error_msg"]
    assert listener.connections == 0 and password.encode() not in listener.received
    # Same address, no password: the stored one still serves (nothing moved).
    if host != UNCHECKED:
        same = _call(svc, "PUT", f"{REGISTRIES}/{rid}", _body("moving", host, None, namespace="team"))
        assert same.status_code == 200, same.text
    # A new address with the password typed again is checked like any new registry.
    moved = _call(svc, "PUT", f"{REGISTRIES}/{rid}", _body("moving", evil, "typed-again"))
    assert moved.status_code == 400
    assert password.encode() not in listener.received


def test_the_connectivity_check_reads_the_same_for_closed_open_and_non_registry_ports(
    svc: Service, listener: Listener
) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    service_port = int(svc.base_url.rsplit(":", 1)[1])
    targets = {
        "closed": f"127.0.0.1:{closed_port}",
        "tcp-404": f"127.0.0.1:{listener.port}",
        "web-app": f"127.0.0.1:{service_port}",
    }
    messages = {}
    for what, addr in targets.items():
        resp = _call(svc, "POST", REGISTRIES, _body(f"probe-{what}", addr, "p"))
        assert resp.status_code == 400, (what, resp.text)
        messages[what] = resp.json()["error_msg"].replace(addr, "ADDR")
    assert len(set(messages.values())) == 1, messages


@pytest.mark.parametrize(
    "addr",
    [
        "127.0.0.1:5000",
        "localhost:5000",
        "[::1]:5000",
        "169.254.169.254",
        "169.254.169.254:80",
        "[fe80::1]:5000",
        "0.0.0.0:5000",
    ],
)
def test_loopback_link_local_and_metadata_targets_are_refused_by_default(strict: Service, addr: str) -> None:
    resp = _call(strict, "POST", REGISTRIES, _body("internal", addr, "p"))
    assert resp.status_code == 400, resp.text
    msg = resp.json()["error_msg"]
    assert "registry target policy" in msg and "registry_addr" in msg


def test_the_target_policy_is_configurable() -> None:
    with pytest.raises(InvalidRequest, match="loopback"):
        registries.check_target(RegistryTargets(), "127.0.0.1:5000")
    registries.check_target(RegistryTargets(allow_loopback=True), "127.0.0.1:5000")
    registries.check_target(RegistryTargets(allow_networks=["127.0.0.1/32"]), "127.0.0.1:5000")
    with pytest.raises(InvalidRequest, match="loopback"):
        registries.check_target(RegistryTargets(allow_networks=["127.0.0.1/32"]), "127.0.0.2:5000")
    with pytest.raises(InvalidRequest, match="link-local"):
        registries.check_target(RegistryTargets(allow_loopback=True), "169.254.169.254")
    registries.check_target(RegistryTargets(), "10.1.2.3:5000")  # on-prem private ranges: allowed
    with pytest.raises(InvalidRequest, match="denied"):
        registries.check_target(RegistryTargets(deny_networks=["10.0.0.0/8"]), "10.1.2.3:5000")


def test_an_invalid_ca_cert_is_a_400_and_leaves_no_file(svc: Service, reg: tuple[str, str]) -> None:
    host, password = reg
    ca_dir = Path(svc.runtime.settings.data_dir) / "registry-ca"
    before = sorted(ca_dir.iterdir()) if ca_dir.exists() else []
    for pem in ("not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"):
        resp = _call(svc, "POST", REGISTRIES, _body("bad-ca", host, password, protocol="https", ca_cert=pem))
        assert resp.status_code == 400, resp.text
        assert "ca_cert" in resp.json()["error_msg"]
    after = sorted(ca_dir.iterdir()) if ca_dir.exists() else []
    assert after == before
