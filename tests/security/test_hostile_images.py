"""Hostile images built here, scanned through source → walker → analyzers → report (issue 16).

* An image whose config names a diff_id its layer does not hash to is refused, and nothing is cached
  under the claimed diff_id (it keys the layer cache).
* One hostile member (a 1 MiB name, a 10k-level path, JSON nested 200k deep in a cargo-auditable
  section or a package manifest) is a reported skip; the rest of the image is still scanned.
* An attacker-written `rpmdb.sqlite` (a recursive view, a generated column) is never executed; the copy
  sqlite needs is made in the scan's scratch dir (the audit guard fails the test on any other write).
* A member whose spool would overflow the scan's scratch quota, and an archive over an analyzer's
  member budget, end that file's analysis, not the scan.
* A scan over its wall-clock budget, or stopped, ends with that status even inside an analyzer.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import threading
import time
import zipfile
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from openhss.domain.enums import ScanScope, ScanStatus
from openhss.domain.report import ImageReport
from openhss.scan.analyzers.lang.java import JavaAnalyzer
from openhss.scan.analyzers.os.dpkg import DpkgAnalyzer
from openhss.scan.analyzers.os.release import OSReleaseAnalyzer
from openhss.scan.analyzers.os.rpm import RpmAnalyzer
from openhss.scan.budget import AnalyzerBudget
from openhss.scan.cache import FileLayerCache, cache_key
from openhss.scan.errors import DiffIdMismatch, DownloadFailed
from openhss.scan.pipeline import PipelineOptions, ScanStopped, ScanTimedOut, select_analyzers
from openhss.scan.refs import parse_ref
from openhss.scan.sources.base import SourceOptions
from openhss.scan.sources.distribution import RegistryClient
from openhss.services.scanning import scan_image
from tests.fuzz.harness import guarded
from tests.fuzz.seeds import elf, rpm_header, rpm_sqlite
from tests.scan_sources.builders import LayerSpec, build_oci, rewrite_oci

MiB = 1024 * 1024
DEBIAN = b'ID=debian\nVERSION_ID="12"\n'
DPKG_STATUS = (
    b"Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\nArchitecture: amd64\n\n"
)


def _scan(image: Path, options: PipelineOptions | None = None) -> ImageReport:
    return scan_image(parse_ref(f"oci:{image}:app"), SourceOptions(), options or PipelineOptions())


# --- diff_id --------------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["gzip", "tar"])
def test_a_layer_that_is_not_its_diff_id_is_refused_and_never_cached(
    tmp_path: Path, compression: str
) -> None:
    clean = LayerSpec("clean").add_bytes("etc/os-release", DEBIAN)
    planted = LayerSpec("planted").add_bytes("var/lib/dpkg/status", DPKG_STATUS)
    built = build_oci(tmp_path / "img", [clean, planted], compression=compression)
    # The planted layer claims the clean layer's diff_id: a cache keyed by it would hand the clean
    # analysis to every image "containing" it, and this image would report without its own content.
    claimed = built.diff_ids[0]

    def forge(manifest: dict[str, Any], config: dict[str, Any]) -> None:
        config["rootfs"]["diff_ids"][1] = claimed

    rewrite_oci(tmp_path / "img", forge)
    cache = FileLayerCache(tmp_path / "cache")
    options = PipelineOptions(cache=cache, workers=1)
    with pytest.raises(DiffIdMismatch, match="names diff_id " + claimed) as info:
        _scan(tmp_path / "img", options)
    assert info.value.status is ScanStatus.FAILED
    # The clean layer was read first and cached honestly; the planted layer claiming its diff_id was
    # not answered from that entry (it was read, and refused), and nothing is cached for its blob.
    versions = {a.name: a.version for a in select_analyzers(options.scope)}
    assert cache.get(cache_key(claimed, versions, built.layer_digests[1])) is None
    clean_entry = cache.get(cache_key(claimed, versions, built.layer_digests[0]))
    assert clean_entry is not None and not clean_entry.result.packages
    # The honest image still scans, and its planted layer is its own.
    honest = build_oci(tmp_path / "honest", [clean, planted], compression=compression)
    report = _scan(tmp_path / "honest", PipelineOptions(cache=cache, workers=1))
    assert [p.name for p in report.packages] == ["zlib1g"]
    assert report.layers[1].diff_id == honest.diff_ids[1]


# --- one hostile member -------------------------------------------------------------------------


def _nested_json(depth: int) -> bytes:
    return b'{"packages": ' + b"[" * depth + b"]" * depth + b"}"


def test_one_hostile_member_is_a_reported_skip_not_a_failed_scan(tmp_path: Path) -> None:
    long_name = "n" * MiB
    deep_path = "d/" * 10_000 + "f"
    auditable = elf({".dep-v0": zlib.compress(_nested_json(200_000)), ".text": b"\x90" * 64}, 20 * 1024)
    layer = (
        LayerSpec("hostile")
        .add_bytes("etc/os-release", DEBIAN)
        .add_bytes(long_name, b"hidden")
        .add_bytes(deep_path, b"hidden")
        .add_bytes("usr/local/bin/audited", auditable, mode=0o755)
        .add_bytes("app/package-lock.json", _nested_json(200_000))
        .add_bytes("app/composer.lock", _nested_json(200_000))
        .add_bytes("var/lib/dpkg/status", DPKG_STATUS)
    )
    build_oci(tmp_path / "img", [layer])
    report = _scan(tmp_path / "img")
    assert report.os is not None and report.os.family == "debian"
    assert [p.name for p in report.packages] == ["zlib1g"]  # nothing hid the rest of the layer
    skipped = dict(report.skipped)
    assert any(p.startswith("n" * 50) and "PAX header" in r for p, r in skipped.items()), skipped
    assert any(p.startswith("d/d/") and "exceeds 4096" in r for p, r in skipped.items()), skipped
    assert all(len(p) < 400 for p in skipped)  # the report names them without echoing a megabyte
    assert "nested too deeply" in skipped.get("usr/local/bin/audited", ""), skipped
    assert "nested too deeply" in skipped.get("app/package-lock.json", ""), skipped
    assert "nested too deeply" in skipped.get("app/composer.lock", ""), skipped


# --- rpmdb.sqlite ---------------------------------------------------------------------------------


def _sqlite(*statements: str, tmp: Path) -> bytes:
    path = tmp / f"db-{hashlib.sha256(''.join(statements).encode()).hexdigest()[:8]}.sqlite"
    conn = sqlite3.connect(path)
    for stmt in statements:
        conn.execute(stmt)
    conn.commit()
    conn.close()
    return path.read_bytes()


def _rpm_as_rpm_writes_it(blobs: list[bytes], tmp: Path) -> bytes:
    """rpm's own statement (lib/backend/sqlite.c), so the schema check is held to the real text."""
    path = tmp / "rpm-good.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS 'Name' (key TEXT NOT NULL,hnum INTEGER NOT NULL,idx INTEGER NOT NULL)"
    )
    conn.executemany("INSERT INTO Packages (blob) VALUES (?)", [(b,) for b in blobs])
    conn.commit()
    conn.close()
    return path.read_bytes()


def test_the_rpmdb_connection_runs_nothing_the_file_defines(tmp_path: Path) -> None:
    """Even past the schema check, the authorizer refuses views, functions and recursion."""
    from openhss.scan.analyzers.os.rpmdb.sqlite import _authorizer

    conn = sqlite3.connect(tmp_path / "x.sqlite")
    conn.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    conn.execute("CREATE VIEW v AS SELECT blob FROM Packages")
    conn.set_authorizer(_authorizer)
    assert conn.execute("SELECT blob FROM Packages").fetchall() == []
    for stmt in (
        "SELECT * FROM v",
        "SELECT zeroblob(10)",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r",
        "PRAGMA table_info(v)",
    ):
        with pytest.raises(sqlite3.DatabaseError, match=r"not authorized|prohibited"):
            conn.execute(stmt).fetchall()
    conn.close()


RECURSIVE = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r)"
HOSTILE_RPMDBS = {
    # Never ends: the view the scan would SELECT from recurses forever.
    "recursive-view": (
        "CREATE VIEW Packages AS " + RECURSIVE + " SELECT n AS hnum, zeroblob(64) AS blob FROM r",  # noqa: S608
    ),
    # Grows without bound: every row's blob is computed, a gigabyte each.
    "generated-column": (
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, seed, blob AS (zeroblob(1000000000)))",
        "INSERT INTO Packages (seed) VALUES (1)",
    ),
}


@pytest.mark.parametrize("variant", sorted(HOSTILE_RPMDBS))
def test_attacker_written_rpmdb_sqlite_is_never_executed(tmp_path: Path, variant: str) -> None:
    hostile = _sqlite(*HOSTILE_RPMDBS[variant], tmp=tmp_path)
    good = _rpm_as_rpm_writes_it([rpm_header("bash"), rpm_header("zsh", "5.8", "9.el9")], tmp_path)
    layer = (
        LayerSpec("rpm")
        .add_bytes("etc/os-release", b'ID="rhel"\nVERSION_ID="9.3"\n')
        .add_bytes("var/lib/rpm/rpmdb.sqlite", hostile)
        .add_bytes("usr/lib/sysimage/rpm/rpmdb.sqlite", good)
    )
    build_oci(tmp_path / "img", [layer])
    options = PipelineOptions(analyzers=[OSReleaseAnalyzer, RpmAnalyzer], workers=1)
    with guarded(None, hang_seconds=120) as guard:  # any write outside the scratch dir fails the test
        options.scratch_dir = guard.scratch
        report = _scan(tmp_path / "img", options)
    skipped = dict(report.skipped)
    assert "not the plain table rpm creates" in skipped.get("var/lib/rpm/rpmdb.sqlite", ""), skipped
    assert sorted(p.name for p in report.packages) == ["bash", "zsh"]


def test_rpmdb_reader_is_bounded_by_the_file_budget(tmp_path: Path) -> None:
    """The row loop and sqlite's progress handler both answer to the analyzer's budget."""
    good = rpm_sqlite([rpm_header(f"pkg{i}") for i in range(50)])
    layer = LayerSpec("rpm").add_bytes("var/lib/rpm/rpmdb.sqlite", good)
    build_oci(tmp_path / "img", [layer])
    options = PipelineOptions(
        analyzers=[RpmAnalyzer], analyzer_budget=AnalyzerBudget(max_members=10), workers=1
    )
    report = _scan(tmp_path / "img", options)
    reason = dict(report.skipped).get("var/lib/rpm/rpmdb.sqlite", "")
    assert "opened more than 10 members" in reason, report.skipped


# --- scratch quota and analyzer budgets ----------------------------------------------------------


def test_a_member_over_the_scratch_quota_is_a_skip_not_a_failed_scan(tmp_path: Path) -> None:
    # An executable gzip bomb: 24 MiB of zeros in a few kB of layer, which the malware analyzer would
    # spool to the scratch dir whole.
    bomb = LayerSpec("bomb").add_bytes("usr/bin/bomb", bytes(24 * MiB), mode=0o755)
    small = LayerSpec("small").add_bytes("usr/bin/tool", b"#!/bin/sh\necho hi\n", mode=0o755)
    built = build_oci(tmp_path / "img", [bomb, small])
    assert sum(len(b) for b in built.blobs.values()) < MiB
    options = PipelineOptions(scope=ScanScope.MALWARE, scratch_quota=16 * MiB, workers=1)
    with guarded(None, hang_seconds=120) as guard:
        options.scratch_dir = guard.scratch
        report = _scan(tmp_path / "img", options)
    reason = dict(report.skipped).get("usr/bin/bomb", "")
    assert "scratch quota of 16777216 bytes" in reason, report.skipped
    assert "usr/bin/tool" not in dict(report.skipped)


def _jar(entries: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(entries):
            zf.writestr(f"lib/inner{i}.jar", b"not a zip")
        zf.writestr("META-INF/maven/com.example/outer/pom.properties", "groupId=com.example\n")
    return buf.getvalue()


def test_an_archive_over_the_analyzer_member_budget_is_a_reported_skip(tmp_path: Path) -> None:
    layer = (
        LayerSpec("jars")
        .add_bytes("etc/os-release", DEBIAN)
        .add_bytes("app/many.jar", _jar(200))
        .add_bytes("var/lib/dpkg/status", DPKG_STATUS)
    )
    build_oci(tmp_path / "img", [layer])
    options = PipelineOptions(
        analyzers=[OSReleaseAnalyzer, DpkgAnalyzer, JavaAnalyzer],
        analyzer_budget=AnalyzerBudget(max_members=50),
        workers=1,
    )
    report = _scan(tmp_path / "img", options)
    assert "lang-java: BudgetExceeded: opened more than 50 members" in dict(report.skipped)["app/many.jar"]
    assert [p.name for p in report.packages] == ["zlib1g"]


def test_files_past_the_per_layer_record_cap_are_counted_not_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hundreds of thousands of empty executables cost a few MB of layer: past the cap they are one
    reported line, not a record each (the 512 MB goal; bench/memory.py measures the real scale)."""
    from openhss.scan.analyzers import files

    monkeypatch.setattr(files, "MAX_RECORDS", 5)
    layer = LayerSpec("execs")
    for i in range(8):
        layer.add_bytes(f"usr/bin/x{i}", b"", mode=0o755)
    build_oci(tmp_path / "img", [layer])
    report = _scan(tmp_path / "img", PipelineOptions(analyzers=[files.FilesAnalyzer], workers=1))
    assert [f.path for f in report.files] == [f"usr/bin/x{i}" for i in range(5)]
    why = "files: 3 more reportable files in this layer than the 5 listed"
    assert dict(report.skipped) == {"usr/bin/x5": why}
    assert len({id(f.sha256) for f in report.files}) == 1  # one digest string for identical files


# --- wall clock and stop --------------------------------------------------------------------------


def test_a_scan_over_its_wall_clock_budget_ends_failed_with_the_reason(tmp_path: Path) -> None:
    build_oci(tmp_path / "img", [LayerSpec("a").add_bytes("etc/os-release", DEBIAN)])
    with pytest.raises(ScanTimedOut, match="wall-clock budget") as info:
        _scan(tmp_path / "img", PipelineOptions(max_seconds=1e-9))
    assert info.value.status is ScanStatus.FAILED


def test_stop_lands_inside_an_analyzer_not_after_the_file(tmp_path: Path) -> None:
    """A stop asked while the java analyzer walks an archive ends the scan there (each member it
    opens checks the scan's stop flag) instead of becoming a skip or waiting for the layer's end."""
    layer = LayerSpec("jars").add_bytes("app/many.jar", _jar(2000)).add_bytes("app/later.jar", _jar(1))
    build_oci(tmp_path / "img", [layer])
    inside: list[str] = []

    class RecordingJava(JavaAnalyzer):
        def analyze(self, entry: Any, content: Any) -> Any:
            inside.append(entry.path)
            return super().analyze(entry, content)

    def should_stop() -> bool:
        return bool(inside)  # the user presses stop once the analyzer is busy with the archive

    options = PipelineOptions(analyzers=[RecordingJava], should_stop=should_stop, workers=1)
    with pytest.raises(ScanStopped):
        _scan(tmp_path / "img", options)
    assert inside == ["app/many.jar"]


# --- registry pagination --------------------------------------------------------------------------


def _catalog_server(mode: str, seen: list[str]) -> ThreadingHTTPServer:
    """A registry whose `_catalog` never ends: fresh names forever, empty pages forever, or a loop."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.path)
            body, headers = b"{}", {}
            if self.path.startswith("/v2/_catalog"):
                n = len(seen)
                names = {"fresh": [f"repo{n}"], "empty": [], "cycle": ["same"]}[mode]
                body = json.dumps({"repositories": names}).encode()
                last = "same" if mode == "cycle" else f"repo{n}"
                headers["Link"] = f'</v2/_catalog?n=1000&last={last}>; rel="next"'
            self.send_response(200)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("mode", ["fresh", "empty", "cycle"])
def test_an_endless_catalog_is_bounded_in_pages_and_time(mode: str) -> None:
    seen: list[str] = []
    server = _catalog_server(mode, seen)
    try:
        ref = parse_ref(f"127.0.0.1:{server.server_address[1]}/x")
        client = RegistryClient(ref, SourceOptions(insecure=True), scope="registry:catalog:*")
        try:
            if mode == "fresh":
                with pytest.raises(DownloadFailed, match="more than 20 pages"):
                    client.paged("/v2/_catalog", "repositories", max_pages=20)
                with pytest.raises(DownloadFailed, match="time budget"):
                    client.paged("/v2/_catalog", "repositories", deadline=time.monotonic() - 1)
            else:
                names = client.paged("/v2/_catalog", "repositories", max_pages=20)
                assert set(names) == (set() if mode == "empty" else {"same"})
        finally:
            client.close()
    finally:
        server.shutdown()
        server.server_close()
    catalog_requests = [p for p in seen if p.startswith("/v2/_catalog")]
    # fresh: 20 pages, then one refused before its first request; empty: one; cycle: until the repeat.
    assert len(catalog_requests) == {"fresh": 20, "empty": 1, "cycle": 2}[mode]
