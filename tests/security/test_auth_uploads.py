"""Every upload is bounded before it is inflated or parsed: zstd bombs (declared or not), bodies with
more JSON values than the budget, and oversized streamed bodies are a 413 `HSS.0413`; ordinary uploads,
large ones included (which pass the per-process gate, re-entered by the layer-cache route), go through.
(bench/uploads.py measures the server's RSS under 8 concurrent hostile uploads.)"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import zstandard

from openhss.config import Limits
from openhss.scan.analyzers.base import AnalysisResult
from openhss.scan.cache import encode
from openhss.scan.walk import LayerAnalysis
from tests.support.service import PROJECT, Service, running_service
from tests.support.signed import signed_headers

from .conftest import send, signed

AGENT = f"/v5/{PROJECT}/agent"


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    limits = Limits(max_upload_decompressed_bytes=1 << 20, max_json_values=10_000, large_body_bytes=4096)
    with running_service(tmp_path_factory.mktemp("uploads"), limits=limits) as service:
        url, headers, raw = signed(service, "POST", AGENT + "/register", {"agent_id": "a1", "host_name": "h"})
        assert send("POST", url, headers, raw).status_code == 200
        yield service


def _put_layer(svc: Service, blob: bytes) -> httpx.Response:
    url = svc.base_url + f"{AGENT}/layer-cache/{secrets.token_hex(32)}"
    headers = signed_headers(svc, "PUT", url, blob, headers={"content-type": "application/octet-stream"})
    return httpx.put(url, headers=headers, content=blob, timeout=60)


def _too_large(resp: httpx.Response) -> str:
    assert resp.status_code == 413, (resp.status_code, resp.text)
    body = resp.json()
    assert body["error_code"] == "HSS.0413"
    return str(body["error_msg"])


def test_zstd_bombs_are_refused_before_they_inflate(svc: Service) -> None:
    declared = zstandard.ZstdCompressor(level=19).compress(b"[" + b"0," * (4 << 20) + b"0]")
    assert len(declared) < 8192
    assert "exceeds the limit" in _too_large(_put_layer(svc, declared))
    undeclared = zstandard.ZstdCompressor(level=19, write_content_size=False).compress(b" " * (64 << 20))
    assert "exceeds the limit" in _too_large(_put_layer(svc, undeclared))
    values = zstandard.ZstdCompressor().compress(b"[" + b"[]," * 20_000 + b"[]]")  # small, many values
    assert "JSON values" in _too_large(_put_layer(svc, values))
    garbage = _put_layer(svc, b"\x28\xb5\x2f\xfd not really zstd")
    assert garbage.status_code == 400 and garbage.json()["error_code"] == "HSS.0001"


def test_json_value_bombs_are_refused_before_parsing_on_every_upload_route(svc: Service) -> None:
    bomb = {"agent_id": "a1", "images": [[] for _ in range(6000)]}
    for method, path in (
        ("PUT", AGENT + "/inventory"),
        ("POST", AGENT + "/jobs/1/result?agent_id=a1"),
        ("POST", f"/v5/{PROJECT}/image/cicd/images?cicd_name=ci&image_name=img"),
    ):
        url, headers, raw = signed(svc, method, path, bomb)
        assert "JSON values" in _too_large(send(method, url, headers, raw)), path
        # Declared as something else, the body is counted all the same.
        url, headers, raw = signed(svc, method, path, bomb, headers={"content-type": "text/plain"})
        assert "JSON values" in _too_large(send(method, url, headers, raw)), path


def test_ordinary_uploads_pass_the_gate_concurrently(svc: Service) -> None:
    """Large bodies take the one gate slot in turn (the layer route re-enters it); none deadlocks."""
    # Over `large_body_bytes` on the wire: the middleware takes the slot, the layer route re-enters it.
    big = encode(LayerAnalysis("sha256:" + "b" * 64, AnalysisResult(), warnings=[secrets.token_hex(4000)]))
    assert len(big) > 4096
    images = [{"image_id": f"sha256:{n:064x}", "repo_tags": [f"app{n}:1"]} for n in range(400)]
    inventory = json.dumps({"agent_id": "a1", "images": images}).encode()
    assert len(inventory) > 4096

    def one(i: int) -> int:
        if i % 2:
            return _put_layer(svc, encode(LayerAnalysis(f"sha256:{i:064x}", AnalysisResult()))).status_code
        url, headers, raw = signed(svc, "PUT", AGENT + "/inventory", json.loads(inventory))
        return send("PUT", url, headers, raw).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(one, range(8))) == [200] * 8
    assert _put_layer(svc, big).status_code == 200
