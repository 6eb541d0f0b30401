"""Hostile query strings and bodies against the running API on PostgreSQL (where NUL bytes, huge
integers and odd Unicode are most likely to reach the database driver and fail there).

Every GET operation of the image API is taken from the service's own OpenAPI document; each query
parameter in turn gets wrong types, SQL-ish strings, NUL bytes, Unicode and oversized values while
the required ones keep valid values. Property: 2xx or a 4xx HSS error body, never a 5xx, and never
a stack trace, SQL text or a server path in the response. (tests/api/test_fuzz.py runs schemathesis
over the same document on SQLite; this adds the hand-picked hostile values and PostgreSQL.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.service import ADMIN_PASSWORD, PROJECT, Service

from .conftest import send, signed

HOSTILE = [
    "' OR '1'='1",
    "1; DROP TABLE images; --",
    "a\x00b",
    "%_\\",
    "😀\u202e\u0301",
    "-1",
    "99999999999999999999999999",
    "1e309",
    "[]",
    "A" * 5000,
]
LEAKS = re.compile(
    r"Traceback|File \"|sqlalchemy|psycopg|sqlite3|\bSELECT\b|\bINSERT\b|site-packages|/work/|\.py\b", re.I
)
PATH_VALUES = {"image_id": "sha256:" + "a" * 64, "vul_id": "CVE-2024-0001", "task_id": "t-1"}


@pytest.fixture(scope="module")
def client(pg_service: Service) -> Iterator[httpx.Client]:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": "admin", "password": ADMIN_PASSWORD}},
            },
            "scope": {"project": {"id": PROJECT}},
        }
    }
    token = httpx.post(pg_service.base_url + "/v3/auth/tokens", json=body).headers["X-Subject-Token"]
    with httpx.Client(base_url=pg_service.base_url, headers={"X-Auth-Token": token}, timeout=30) as c:
        yield c


def _valid(param: dict[str, Any]) -> str:
    schema = param.get("schema", {})
    for option in [schema, *schema.get("anyOf", [])]:
        if option.get("enum"):
            return str(option["enum"][0])
        if option.get("type") in ("integer", "number"):
            return str(max(option.get("minimum", 0), 1 if param["name"] == "limit" else 0))
        if option.get("type") == "boolean":
            return "false"
    return "x"


def _operations(client: httpx.Client) -> list[tuple[str, list[dict[str, Any]]]]:
    doc = client.get("/openapi.json").json()
    ops = []
    for path, item in doc["paths"].items():
        if not path.startswith("/v5/{project_id}/") or "get" not in item:
            continue
        concrete = path.replace("{project_id}", PROJECT)
        for name, value in PATH_VALUES.items():
            concrete = concrete.replace("{" + name + "}", value)
        ops.append((concrete, [p for p in item["get"].get("parameters", []) if p["in"] == "query"]))
    return ops


def _check(resp: httpx.Response, what: str) -> None:
    assert resp.status_code < 500, (what, resp.status_code, resp.text[:500])
    assert not LEAKS.search(resp.text), (what, resp.text[:500])
    if resp.status_code >= 400:
        body = resp.json()
        assert set(body) >= {"error_code", "error_msg"}, (what, body)


@pytest.mark.slow
def test_hostile_query_values_never_500_nor_leak(client: httpx.Client) -> None:
    ops = _operations(client)
    assert len(ops) >= 8, ops
    checked = 0
    for path, params in ops:
        base = {p["name"]: _valid(p) for p in params if p.get("required")}
        assert client.get(path, params=base).status_code < 500
        for param in params:
            # NUL and an over-long integer for every parameter (the ones that reached PostgreSQL and
            # failed there), plus two more hostile values in rotation so every value meets many params.
            rotation = [HOSTILE[(checked + k) % len(HOSTILE)] for k in (0, 5)]
            for value in dict.fromkeys(["a\x00b", "99999999999999999999999999", *rotation]):
                resp = client.get(path, params={**base, param["name"]: value})
                _check(resp, f"{path} {param['name']}={value[:40]!r}")
                checked += 1
    assert checked > 300


def test_hostile_path_segments(client: httpx.Client) -> None:
    for value in ["..%2F..%2Fetc%2Fpasswd", "%00", "' OR 1=1 --", "😀", "A" * 3000]:
        for template in ("/v5/{p}/image/{v}/vulnerabilities", "/v5/{v}/image/local-repositories"):
            path = template.format(p=PROJECT, v=value)
            _check(client.get(path, params={"image_type": "local", "limit": 10, "offset": 0}), path[:80])


def test_request_body_limits_and_shapes(pg_service: Service, client: httpx.Client) -> None:
    path = f"/v5/{PROJECT}/image/vulnerability/handle"
    huge = b'{"remark": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    resp = client.post(path, content=huge, headers={"content-type": "application/json"})
    assert resp.status_code == 413 and resp.json()["error_code"] == "HSS.0413"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold on the stream itself
        yield b'{"remark": "'
        for _ in range(12):
            yield b"y" * (1024 * 1024)
        yield b'"}'

    resp = client.post(path, content=chunks(), headers={"content-type": "application/json"})
    assert resp.status_code == 413 and resp.json()["error_code"] == "HSS.0413"

    bodies: list[bytes] = [
        b"[" * 50_000 + b"]" * 50_000,
        b'{"image_type": "local", "type": "linux_vul", "operate_type": "ignore", "select_type": {"$ne": 1}}',
        json.dumps({"image_type": ["local"], "type": 5, "operate_type": None}).encode(),
        json.dumps(
            {
                "image_type": "local\u0000",
                "type": "linux_vul",
                "operate_type": "ignore",
                "select_type": "specific_vul_all_image",
                "vul_id_list": ["' OR 1=1 --", "a\x00"],
            }
        ).encode(),
        b"\xff\xfe{not json",
        b'{"remark": ' + b'"\\ud800"' + b"}",
    ]
    for raw in bodies:
        resp = client.post(path, content=raw, headers={"content-type": "application/json"})
        _check(resp, raw[:60].decode("latin-1"))
        assert resp.status_code in (200, 400), (raw[:60], resp.status_code, resp.text[:300])
    url, headers, raw = signed(pg_service, "POST", path, {"image_type": "local", "type": "x" * 100_000})
    _check(send("POST", url, headers, raw), "long signed body")
