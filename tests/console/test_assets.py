"""The vendored htmx is the pinned release file, served from the package with its licence beside it."""

from __future__ import annotations

import hashlib
from importlib import resources

from openhss.console.render import static_file

HTMX_SHA256 = "491955cd1810747d7d7b9ccb936400afb760e06d25d53e4572b64b6563b2784e"  # htmx 2.0.3 htmx.min.js


def test_vendored_htmx_is_the_pinned_release() -> None:
    static = resources.files("openhss.console").joinpath("static")
    body = static.joinpath("htmx.min.js").read_bytes()
    assert hashlib.sha256(body).hexdigest() == HTMX_SHA256
    assert b'version:"2.0.3"' in body
    licence = static.joinpath("htmx.LICENSE").read_text()
    assert "Zero-Clause BSD" in licence and HTMX_SHA256 in licence


def test_htmx_is_served_as_javascript() -> None:
    response = static_file("htmx.min.js")
    assert response.media_type in {"text/javascript", "application/javascript"}
    assert hashlib.sha256(bytes(response.body)).hexdigest() == HTMX_SHA256
