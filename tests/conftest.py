"""Shared fixtures. `shared_dir` skips, with the reason, when ../shared is absent (a user's fresh clone)."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import httpx
import httpx._transports.default as _httpx_transport
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("OPENHSS_SHARED_DIR", REPO.parent / "shared"))


_create_ssl_context = httpx.create_ssl_context
_SSL_CONTEXTS: dict[tuple[str, str], ssl.SSLContext] = {}


def _shared_default_ssl_context(
    verify: ssl.SSLContext | str | bool = True, cert: object = None, trust_env: bool = True
) -> ssl.SSLContext:
    """httpx's default SSL context, built once per CA setting instead of once per client.

    `httpx.get()`/`post()`/`request()` make a client per call and every client loads the whole CA bundle
    into a new SSL context: 0.05 s idle, 0.28 s at load 13, more than the loopback request it serves (the
    tests make thousands). The context is the one httpx would build, for the same SSL_CERT_FILE/DIR (the
    cache key, so a test that points them at its own CA still gets its own); an explicit `verify` or
    `cert` is passed through untouched. Contexts are safe to share across connections and threads."""
    if verify is not True or cert is not None or not trust_env:
        return _create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)  # type: ignore[arg-type]
    key = (os.environ.get("SSL_CERT_FILE", ""), os.environ.get("SSL_CERT_DIR", ""))
    if key not in _SSL_CONTEXTS:
        _SSL_CONTEXTS[key] = _create_ssl_context()
    return _SSL_CONTEXTS[key]


_httpx_transport.create_ssl_context = _shared_default_ssl_context  # type: ignore[attr-defined]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files from current output")


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data directory {SHARED} is absent (only present beside the project checkout)")
    return SHARED
