"""`db update` against a local HTTP mirror: ETag/Last-Modified 304s, resumed transfers, checksums."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from openhss.cli_db import db_app
from openhss.services.vulndb import VulnDbService
from openhss.vulndb.download import DownloadError, fetch
from tests.vulndb.helpers import osv, write_zip


class Mirror(ThreadingHTTPServer):
    root: Path
    log: list[tuple[str, int]]
    corrupt_md5: bool = False


class Handler(BaseHTTPRequestHandler):
    server: Mirror

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = (self.server.root / self.path.lstrip("/").replace("%20", " ")).resolve()
        if not path.is_relative_to(self.server.root) or not path.is_file():
            self._reply(404)
            return
        data = path.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        modified = formatdate(path.stat().st_mtime, usegmt=True)
        if self.headers.get("If-None-Match") == etag:
            self._reply(304)
            return
        start = 0
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and self.headers.get("If-Range") == etag:
            start = int(rng[6:].split("-")[0])
        status = 206 if start else 200
        self.server.log.append((self.path, status))  # before replying: the client may look right after
        self.send_response(status)
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", modified)
        md5 = hashlib.md5(data, usedforsecurity=False).digest()
        if self.server.corrupt_md5:
            md5 = bytes(16)
        self.send_header("x-goog-hash", f"crc32c=AAAAAA==, md5={base64.b64encode(md5).decode()}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def _reply(self, status: int) -> None:
        self.server.log.append((self.path, status))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    root = tmp_path / "mirror"
    (root / "PyPI").mkdir(parents=True)
    write_zip(root / "PyPI" / "all.zip", [
        osv("PYSEC-1", "PyPI", "requests", events=[{"introduced": "0"}, {"fixed": "2.20.0"}]),
    ])  # fmt: skip
    server = Mirror(("127.0.0.1", 0), Handler)
    server.root, server.log = root.resolve(), []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(m: Mirror) -> str:
    return f"http://127.0.0.1:{m.server_address[1]}"


def test_update_then_not_modified_then_changed(mirror: Mirror, tmp_path: Path) -> None:
    svc = VulnDbService(tmp_path / "db")
    first = svc.update(["PyPI"], mirror=_url(mirror))
    assert first.errors == [] and first.counts == {"osv:PyPI": 1} and first.changed == {("PyPI", "requests")}
    state = svc.status().sources[0]
    assert state.etag and state.sha256 and state.url.endswith("/PyPI/all.zip")

    second = svc.update(["PyPI"], mirror=_url(mirror))
    assert second.counts == {"osv:PyPI": None} and second.changed == set()
    assert mirror.log[-1] == ("/PyPI/all.zip", 304)
    assert svc.status().sources[0].count == 1

    write_zip(mirror.root / "PyPI" / "all.zip", [
        osv("PYSEC-1", "PyPI", "requests", events=[{"introduced": "0"}, {"fixed": "2.20.0"}]),
        osv("PYSEC-2", "PyPI", "urllib3", events=[{"introduced": "0"}, {"fixed": "1.24.2"}]),
    ])  # fmt: skip
    third = svc.update(["PyPI"], mirror=_url(mirror))
    assert third.counts == {"osv:PyPI": 2} and third.changed == {("PyPI", "urllib3")}


def test_resume_and_checksum(mirror: Mirror, tmp_path: Path) -> None:
    url = f"{_url(mirror)}/PyPI/all.zip"
    data = (mirror.root / "PyPI" / "all.zip").read_bytes()
    dest = tmp_path / "all.zip"
    with httpx.Client() as client:
        etag = client.get(url).headers["etag"]
        # an interrupted earlier transfer: half the bytes and the validator of the entity they came from
        (tmp_path / "all.zip.part").write_bytes(data[: len(data) // 2])
        (tmp_path / "all.zip.part-etag").write_text(etag)
        got = fetch(client, url, dest)
        assert mirror.log[-1] == ("/PyPI/all.zip", 206)
        assert dest.read_bytes() == data and got.sha256 == hashlib.sha256(data).hexdigest()
        mirror.corrupt_md5 = True
        with pytest.raises(DownloadError, match="checksum"):
            fetch(client, url, tmp_path / "other.zip")
        assert not (tmp_path / "other.zip").exists()


def test_cli_update_import_status(mirror: Mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENHSS_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    res = runner.invoke(db_app, ["status"])
    assert res.exit_code == 1 and "no advisory database" in res.output
    res = runner.invoke(db_app, ["update", "--ecosystem", "PyPI", "--mirror", _url(mirror)])
    assert res.exit_code == 0, res.output
    assert "osv:PyPI: 1 records" in res.output
    res = runner.invoke(db_app, ["update", "--ecosystem", "npm", "--mirror", _url(mirror)])
    assert res.exit_code == 1 and "HTTP 404" in res.output
    go = write_zip(tmp_path / "Go.zip", [osv("GO-1", "Go", "golang.org/x/net", events=[{"introduced": "0"}])])
    res = runner.invoke(db_app, ["import", str(go)])
    assert res.exit_code == 0 and "osv:Go: 1 records" in res.output
    res = runner.invoke(db_app, ["import", str(tmp_path / "nope.zip")])
    assert res.exit_code == 1 and res.output.count("\n") == 1
    res = runner.invoke(db_app, ["status"])
    assert res.exit_code == 0 and "2 records from 2 sources" in res.output and "osv:Go" in res.output
