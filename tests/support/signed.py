"""AK/SK-signed HTTP requests to a test service, built by hand.

The official SDK signs the contract tests' calls; these are for what it cannot send: raw or tampered
bodies, a wrong secret, a stale or future date, octet-stream uploads, replays of one exact request.
Every test that signs by hand goes through here so that the header set (and a change to it) is one place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from openhss.domain import signing
from tests.support.service import Service


def signed_headers(
    svc: Service,
    method: str,
    url: str,
    body: bytes = b"",
    *,
    headers: Mapping[str, str] | None = None,
    ak: str | None = None,
    sk: str | None = None,
    when: datetime | None = None,
) -> dict[str, str]:
    """`headers` (content-type JSON unless given) plus the signature of `svc`'s admin key, or of `ak`/`sk`."""
    out = {k.lower(): v for k, v in (headers or {}).items()}
    out.setdefault("content-type", "application/json")
    out.update(signing.sign(ak or svc.ak, sk or svc.sk, method, url, out, body, when))
    return out


def signed_request(
    svc: Service,
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    sk: str | None = None,
    when: datetime | None = None,
    timeout: float = 30,
) -> httpx.Response:
    """`method` on `svc.base_url + path`; `body` is sent as JSON unless `raw` bytes are given."""
    url = svc.base_url + path
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    sent = signed_headers(svc, method, url, data, headers=headers, sk=sk, when=when)
    return httpx.request(method, url, headers=sent, content=data, timeout=timeout)
