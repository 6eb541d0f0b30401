"""The registry client against a small real HTTP registry that misbehaves on purpose.

Debian's docker-registry cannot be told to send 500s, tamper with manifests, cut blobs short or run
a token server, so this serves the same Distribution API paths from a built image with a switch
per misbehaviour, over a real socket, and checks the HSS status each one ends in.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from openhss.domain.enums import ScanStatus
from openhss.scan.errors import AuthenticationFailed, DigestMismatch, DownloadFailed, PlatformNotFound
from openhss.scan.image import Platform
from openhss.scan.sources.base import Credentials, SourceOptions
from openhss.scan.sources.registry import list_platforms, open_image

from .builders import BuiltImage, LayerSpec, build_oci, sample_layers, sha
from .test_sources import check, read_image

TOKEN = base64.b64encode(b"token-for-test").decode()


@dataclass
class Behaviour:
    blobs: dict[str, bytes]
    manifests: dict[str, tuple[bytes, str]]
    bearer: bool = False
    fail_first: int = 0
    tamper_manifest: bool = False
    truncate_blob: bool = False
    delay: float = 0.0
    seen: list[str] = field(default_factory=list)


def _handler(b: Behaviour) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            b.seen.append(self.path)
            host = self.headers["Host"]
            if self.path.startswith("/token"):
                if self.headers.get("Authorization") != "Basic " + base64.b64encode(b"tester:pw").decode():
                    return self._send(401)
                assert "scope=repository%3Atest%2Fapp%3Apull" in self.path
                return self._send(200, json.dumps({"token": TOKEN}).encode())
            if b.bearer and self.headers.get("Authorization") != f"Bearer {TOKEN}":
                chal = f'Bearer realm="http://{host}/token",service="test"'
                return self._send(401, b"{}", {"WWW-Authenticate": chal})
            if self.path == "/v2/":
                return self._send(200, b"{}")
            if b.fail_first > 0:
                b.fail_first -= 1
                return self._send(503 if b.fail_first % 2 else 429)
            if b.delay:
                time.sleep(b.delay)
            ref = self.path.rsplit("/", 1)[-1]
            if "/manifests/" in self.path and ref in b.manifests:
                body, mt = b.manifests[ref]
                digest = sha(body)
                if b.tamper_manifest:
                    body = body.replace(b'"schemaVersion": 2', b'"schemaVersion":  2')
                return self._send(200, body, {"Content-Type": mt, "Docker-Content-Digest": digest})
            if "/blobs/" in self.path and ref in b.blobs:
                data = b.blobs[ref]
                if b.truncate_blob and len(data) > 1000:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.close_connection = True
                    return None
                return self._send(200, data)
            return self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')

    return H


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    return build_oci(tmp_path_factory.mktemp("img"), sample_layers(), tag="app")


def _serve(b: Behaviour) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(b))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def behaviour(image: BuiltImage) -> Behaviour:
    mt = "application/vnd.oci.image.manifest.v1+json"
    return Behaviour(
        blobs=dict(image.blobs),
        manifests={"1.0": (image.manifest, mt), image.manifest_digest: (image.manifest, mt)},
    )


@pytest.fixture
def host(behaviour: Behaviour) -> Iterator[str]:
    yield from _serve(behaviour)


OPTS = SourceOptions(insecure=True, retries=3, backoff=0.01, timeout=2.0)


def test_bearer_token_flow(image: BuiltImage, behaviour: Behaviour, host: str) -> None:
    behaviour.bearer = True
    opts = SourceOptions(insecure=True, credentials=Credentials("tester", "pw"))
    with open_image(f"{host}/test/app:1.0", opts) as h:
        check(h, image)
    assert any(p.startswith("/token") for p in behaviour.seen)
    with pytest.raises(AuthenticationFailed):
        open_image(
            f"{host}/test/app:1.0", SourceOptions(insecure=True, credentials=Credentials("tester", "no"))
        )


def test_retries_429_and_5xx_then_succeeds(image: BuiltImage, behaviour: Behaviour, host: str) -> None:
    behaviour.fail_first = 3
    with open_image(f"{host}/test/app:1.0", OPTS) as h:
        check(h, image)
    behaviour.fail_first = 100
    with pytest.raises(DownloadFailed, match="after 4 attempt") as exc:
        open_image(f"{host}/test/app:1.0", OPTS)
    assert exc.value.status is ScanStatus.DOWNLOAD_FAILED


def test_slow_registry_times_out(behaviour: Behaviour, host: str) -> None:
    behaviour.delay = 1.0
    with pytest.raises(DownloadFailed, match="ReadTimeout"):
        open_image(f"{host}/test/app:1.0", SourceOptions(insecure=True, retries=1, backoff=0.01, timeout=0.3))


def test_manifest_digest_mismatch(behaviour: Behaviour, host: str, image: BuiltImage) -> None:
    behaviour.tamper_manifest = True
    with pytest.raises(DigestMismatch):
        open_image(f"{host}/test/app:1.0", OPTS)
    with pytest.raises(DigestMismatch):
        open_image(f"{host}/test/app@{image.manifest_digest}", OPTS)


def test_truncated_blob(behaviour: Behaviour, host: str) -> None:
    behaviour.truncate_blob = True
    with open_image(f"{host}/test/app:1.0", OPTS) as h, pytest.raises(DownloadFailed):
        read_image(h)


def test_index_without_matching_platform(tmp_path: Path, behaviour: Behaviour, host: str) -> None:
    arm = build_oci(tmp_path, [LayerSpec("a").add_bytes("x", b"arm")], arch="arm64")
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": arm.manifest_digest,
                    "size": len(arm.manifest),
                    "platform": {"os": "linux", "architecture": "arm64"},
                }
            ],
        }
    ).encode()
    behaviour.manifests["multi"] = (index, "application/vnd.oci.image.index.v1+json")
    behaviour.manifests[arm.manifest_digest] = (arm.manifest, "application/vnd.oci.image.manifest.v1+json")
    behaviour.blobs.update(arm.blobs)
    assert list_platforms(f"{host}/test/app:multi", OPTS) == [Platform("linux", "arm64")]
    with pytest.raises(PlatformNotFound):
        open_image(f"{host}/test/app:multi", OPTS)
    with open_image(
        f"{host}/test/app:multi", SourceOptions(insecure=True, platform=Platform("linux", "arm64"))
    ) as h:
        assert h.image.manifest_digest == arm.manifest_digest
