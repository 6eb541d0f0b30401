"""What a new user meets first: the banner of `openhss serve`, `/` leading to the console, API docs that
work with no internet, and an OpenAPI document that says what the HSS operations do."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from openhss.api.openapi_docs import DESCRIPTIONS
from tests.support.service import running_service

SEED_OPERATIONS = (
    "BatchExportLocalVulTask",
    "ExportImageSecurityReportTask",
    "BatchScanLocalImage",
    "ListVulAffectImages",
    "CreateManualImageScanTask",
)


def test_root_redirects_to_the_console_and_docs_are_served_locally(tmp_path: Path) -> None:
    with running_service(tmp_path) as svc, httpx.Client(base_url=svc.base_url) as http:
        root = http.get("/", follow_redirects=False)
        assert root.status_code == 307 and root.headers["location"] == "/console/"
        assert http.get("/", follow_redirects=True).url.path.startswith("/console/")
        for page, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
            html = http.get(page)
            assert html.status_code == 200
            # every script and stylesheet is ours: nothing from a CDN, so the page works offline
            refs = [
                part.split('"', 1)[0] for part in html.text.split('src="')[1:] + html.text.split('href="')[1:]
            ]
            assert refs and all(r.startswith("/") for r in refs), refs
            assert f"/docs-assets/{asset}" in refs
            served = http.get(f"/docs-assets/{asset}")
            assert served.status_code == 200 and len(served.content) > 100_000
        assert http.get("/docs-assets/swagger-ui.css").status_code == 200


def test_openapi_describes_the_hss_operations(tmp_path: Path) -> None:
    with running_service(tmp_path) as svc:
        doc = httpx.get(f"{svc.base_url}/openapi.json").json()
        doc_again = httpx.get(f"{svc.base_url}/openapi.json").json()
    assert doc == doc_again  # applying the descriptions twice changes nothing
    by_name = {op["summary"]: op for item in doc["paths"].values() for op in item.values() if "summary" in op}
    for name in SEED_OPERATIONS:
        assert by_name[name]["description"].startswith(DESCRIPTIONS[name]), name
    assert "0x000f0000" in by_name["CreateManualImageScanTask"]["description"]
    described = [n for n in by_name if n in DESCRIPTIONS]
    assert len(described) == len(DESCRIPTIONS)  # no stale entry: every description names a real operation
    # an operation with its own docstring keeps it after ours
    assert "Not an HSS API" in by_name["UploadCicdImageScan"].get("description", "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_banner_names_the_console(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "OPENHSS_DATA_DIR": str(tmp_path / "data"),
        "OPENHSS_ADMIN_PASSWORD": "first-hour-pw",
    }
    cmd = [
        sys.executable,
        "-m",
        "openhss.entry",
        "serve",
        "--port",
        str(port),
        "--no-worker",
        "--no-local-agent",
    ]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True) as proc:
        try:
            lines: list[str] = []
            deadline = time.monotonic() + 60
            assert proc.stdout is not None
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                lines.append(line)
                if line.startswith("openhss data dir"):
                    break
            text = "".join(lines)
            assert f"openhss console : http://127.0.0.1:{port}/console/" in text, text
            assert f"(docs: http://127.0.0.1:{port}/docs)" in text
            assert f"  console       : http://127.0.0.1:{port}/console/" in text  # first start: credentials
        finally:
            proc.terminate()
            proc.wait(timeout=30)
