"""Templates, formatting filters and the console's static assets (all served from the package).

htmx is vendored: `static/htmx.min.js` is the htmx 2.0.3 release file, pinned by its sha256 in
`static/htmx.LICENSE` (0BSD) and in the console asset test, so the console needs no CDN, no node build
and no Django wheel.
"""

from __future__ import annotations

import mimetypes
import re
import time
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from openhss import __version__
from openhss.console.session import CSRF_FIELD, CSRF_HEADER, ConsoleUser
from openhss.db.models import Image
from openhss.domain.coverage import describe
from openhss.domain.errors import NotFound

#: Severity words (vulnerability, finding and image levels) → the badge class the CSS colours.
SEVERITY_CLASS = {
    "critical": "sev-critical",
    "high": "sev-high",
    "medium": "sev-medium",
    "low": "sev-low",
    "unknown": "sev-unknown",
    "security": "sev-ok",
    "immediate_repair": "sev-high",
    "delay_repair": "sev-medium",
    "not_needed_repair": "sev-low",
}
RANK_NAME = {4: "Critical", 3: "High", 2: "Medium", 1: "Low", 0: "Unknown"}
STATUS_CLASS = {
    "success": "st-ok",
    "finished": "st-ok",
    "scanning": "st-run",
    "running": "st-run",
    "waiting_for_scan": "st-wait",
    "unscan": "st-idle",
    "image_scan_stop": "st-idle",
    "failed": "st-bad",
    "failure": "st-bad",
    "download_failed": "st-bad",
    "image_oversized": "st-bad",
    "vul_status_unfix": "st-bad",
    "vul_status_ignored": "st-idle",
    "vul_status_fixed": "st-ok",
    "unhandled": "st-bad",
    "ignored": "st-idle",
    "handled": "st-ok",
    "online": "st-ok",
    "offline": "st-bad",
}
STATUS_LABEL = {
    "waiting_for_scan": "queued",
    "unscan": "not scanned",
    "image_scan_stop": "stopped",
    "download_failed": "download failed",
    "image_oversized": "oversized",
    "vul_status_unfix": "open",
    "vul_status_ignored": "ignored",
    "vul_status_fixed": "fixed",
}


def _ms_time(ms: int | None) -> str:
    if not ms:
        return "—"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    s = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s // size} {unit} ago"
    return "just now"


def _ms_ago(ms: int | None) -> str:
    return _ago(time.time() - ms / 1000) if ms else "never"


def _size(n: int | None) -> str:
    value = float(n or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def _short(digest: str | None, n: int = 12) -> str:
    if not digest:
        return "—"
    algo, _, hexpart = digest.partition(":")
    return (hexpart or algo)[:n]


def _words(text: str | None, n: int = 160) -> str:
    """At most `n` characters, cut at a word boundary with an ellipsis (never mid-word)."""
    value = " ".join((text or "").split())
    if len(value) <= n:
        return value
    cut = value[: n + 1].rsplit(" ", 1)[0] if " " in value[:n] else value[:n]
    return cut.rstrip(",.;:") + "…"


def _full_name(image: Image) -> str:
    """The image name with its registry namespace (organization) when the stored name lacks it."""
    ns = (image.organization or "").strip("/")
    if ns and not image.image_name.startswith(ns + "/"):
        return f"{ns}/{image.image_name}"
    return image.image_name


#: Names the service gives tasks it creates: `manual_scan_<epoch ms>` and the like.
_TASK_NAME = re.compile(r"^([a-z]+(?:_[a-z]+)*?)_(\d{13})$")


def _task_label(name: str) -> str:
    """`manual_scan_1796516808621` → `Manual scan, 2026-12-01 08:06 UTC`; a name a person chose stays."""
    m = _TASK_NAME.match(name or "")
    if m is None:
        return name
    return f"{m.group(1).replace('_', ' ').capitalize()}, {_ms_time(int(m.group(2)))}"


def _sev(value: object) -> str:
    if isinstance(value, int):
        value = RANK_NAME.get(value, "Unknown")
    return SEVERITY_CLASS.get(str(value).lower(), "sev-unknown")


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("openhss.console", "templates"),
        autoescape=select_autoescape(["html", "svg"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        ms_time=_ms_time,
        ago=_ago,
        ms_ago=_ms_ago,
        size=_size,
        short=_short,
        sev=_sev,
        words=_words,
        full_name=_full_name,
        task_label=_task_label,
        status_class=lambda v: STATUS_CLASS.get(str(v), "st-idle"),
        status_label=lambda v: STATUS_LABEL.get(str(v), str(v).replace("_", " ")),
        rank_name=lambda r: RANK_NAME.get(int(r), "Unknown"),
        coverage_text=describe,
    )
    env.globals.update(version=__version__, csrf_field=CSRF_FIELD, csrf_header=CSRF_HEADER)
    return env


def page(request: Request, name: str, user: ConsoleUser | None, **values: Any) -> HTMLResponse:
    """Render one template; `status_code` among the values sets the response status."""
    status_code = int(values.pop("status_code", 200))
    base = str(request.scope.get("root_path", "")).rstrip("/")
    html = (
        environment()
        .get_template(name)
        .render(request=request, base=base, user=user, path=request.url.path, **values)
    )
    response = HTMLResponse(html, status_code=status_code)
    # Pages carry a CSRF token and user data: never cache them, never frame them.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@cache
def _asset(name: str) -> tuple[bytes, str]:
    ref = resources.files("openhss.console").joinpath("static", name)
    if not ref.is_file():
        raise NotFound(f"no console asset {name}")
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return ref.read_bytes(), media


def static_file(name: str) -> Response:
    body, media = _asset(name)
    return Response(body, media_type=media, headers={"Cache-Control": "public, max-age=3600"})
