"""Hostile image content through the whole pipeline, from a real OCI layout built here.

* Escapes: `..` names, absolute names, a symlink to a host directory with a file "through" it, a
  symlink and a hard link to a host file holding a secret, a hard link climbing to /etc/passwd,
  device nodes. The scan runs in-process under the fuzz harness's audit guard, so *any* write or
  exec outside the scratch dir fails the test, and the host files' content must not appear.
* Bombs: a gzip and a zstd layer each inflating to 256 MiB, and a jar whose member inflates to
  256 MiB, scanned by `openhss scan` in a child process whose peak RSS (wait4) and wall time are
  bounded; each oversized member is named in the report's `skipped` with the reason. A layer bomb
  beyond the configured layer limit ends the scan as `image_oversized` with the reason.

(tests/scan_sources/test_layers.py and tests/analyzers_*/test_hostile.py test these at the walker
and analyzer level; here the same attacks go through source → walker → analyzers → fold → report.)
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest

from openhss.config import Settings
from openhss.domain.enums import ScanScope
from openhss.scan.errors import ImageOversized
from openhss.scan.layers import Limits
from openhss.scan.refs import parse_ref
from openhss.scan.sources.base import SourceOptions
from openhss.services.scanning import build_pipeline, scan_image
from tests.fuzz.harness import guarded
from tests.scan_sources.builders import LayerSpec, build_oci, rewrite_oci, sha

MiB = 1024 * 1024
NO_VULN = ScanScope.ALL & ~ScanScope.VULNERABILITY
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
HUGE = "usr/lib/python3/dist-packages/huge-1.0.dist-info/METADATA"
POM = "groupId=com.example\nartifactId=outer\nversion=1.0\n"


def aws_key() -> str:
    return "AKIA" + "".join(secrets.choice(B32) for _ in range(16))


def _doc(report: Any) -> str:
    from openhss.exports import scan_json

    return json.dumps(scan_json.report_doc(report))


@pytest.fixture
def host_dir() -> Any:
    """A directory on the host, outside the scan's scratch dir, with a secret the image must not reach."""
    path = Path(tempfile.mkdtemp(prefix="openhss-host-"))
    key = aws_key()
    (path / "host-secret.env").write_text(f"AWS_ACCESS_KEY_ID={key}\nHOSTMARKER-{uuid.uuid4().hex}\n")
    yield path, key
    shutil.rmtree(path)


def test_escapes_never_leave_the_image(tmp_path: Path, host_dir: tuple[Path, str]) -> None:
    host, host_key = host_dir
    escape = f"/tmp/openhss-escape-{uuid.uuid4().hex}"
    abs_key, through_key, dotdot_key = aws_key(), aws_key(), aws_key()
    layer = (
        LayerSpec("hostile")
        .add_bytes("etc/os-release", b"ID=debian\nVERSION_ID=12\n")
        .add_bytes("../../../../../.." + escape + "/dotdot.env", f"AWS_ACCESS_KEY_ID={dotdot_key}\n".encode())
        .add_bytes(escape + "/abs.env", f"AWS_ACCESS_KEY_ID={abs_key}\n".encode())
        .add_symlink("app/hostdir", str(host))
        .add_bytes("app/hostdir/through.env", f"AWS_ACCESS_KEY_ID={through_key}\n".encode())
        .add_symlink("app/host-secret.env", str(host / "host-secret.env"))
        .add_hardlink("app/hard-secret.env", str(host / "host-secret.env"))
        .add_hardlink("app/passwd", "../../../../../../etc/passwd")
        .add_device("dev/sda", 8, 0)
        .add_device("dev/mem", 1, 1)
    )
    build_oci(tmp_path / "img", [layer])
    host_before = (host / "host-secret.env").read_bytes()

    # Set up outside the guard (it may read the data dir's rule packs); the scan itself runs inside.
    options = build_pipeline(NO_VULN, settings=Settings(data_dir=tmp_path / "data"))
    with guarded(None, hang_seconds=300) as guard:
        options.scratch_dir = guard.scratch
        report = scan_image(parse_ref(f"oci:{tmp_path / 'img'}:app"), SourceOptions(), options)
    doc = _doc(report)

    assert not Path(escape).exists()
    assert (host / "host-secret.env").read_bytes() == host_before
    assert host_key not in doc and host_key[:8] + host_key[-4:] not in doc.replace("*", "")
    assert "HOSTMARKER" not in doc
    paths = {f.path for f in report.findings}
    # Content is the layer's own: the absolute name and the file "through" the symlink are image paths.
    assert f"{escape.lstrip('/')}/abs.env" in paths and "app/hostdir/through.env" in paths
    assert not paths & {"app/host-secret.env", "app/hard-secret.env", "app/passwd", "etc/passwd"}
    assert dotdot_key not in doc and not any("dotdot" in p for p in paths)
    escapes = [w for w in report.warnings if "escaping the image root" in w]
    assert any("dotdot.env" in w for w in escapes) and any("app/passwd" in w for w in escapes), (
        report.warnings
    )
    for key in (abs_key, through_key):
        assert key not in doc  # found, but masked


def _zeros_layer(path: str, size: int, compression: str) -> tuple[str, bytes]:
    """(diff_id, compressed blob) of a one-file layer of `size` zero bytes, streamed: the test process
    never holds the inflated bytes."""
    import gzip
    import hashlib
    import tarfile

    import zstandard

    ti = tarfile.TarInfo(path)
    ti.size = size
    raw_hash = hashlib.sha256()
    out = io.BytesIO()
    sink: Any = (
        gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1, mtime=0)
        if compression == "gzip"
        else zstandard.ZstdCompressor(level=1).stream_writer(out, closefd=False)
    )

    def put(data: bytes) -> None:
        raw_hash.update(data)
        sink.write(data)

    put(ti.tobuf(tarfile.PAX_FORMAT))
    zeros = bytes(MiB)
    for _ in range(size // MiB):
        put(zeros)
    put(bytes(size % MiB + (-size) % 512))
    put(bytes(1024))
    sink.close()
    return "sha256:" + raw_hash.hexdigest(), out.getvalue()


def _jar_bomb(inflated: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("inner.jar", "w", force_zip64=True) as w:
            chunk = bytes(MiB)
            for _ in range(inflated // MiB):
                w.write(chunk)
        zf.writestr("META-INF/maven/com.example/outer/pom.properties", POM)
    return buf.getvalue()


def _write_bomb_image(out: Path, compression: str) -> None:
    """A layer whose package metadata file inflates to 256 MiB, plus a jar bomb.

    (A huge *executable* would be streamed whole through the malware scanner by design, spooled to
    the scratch dir; the metadata file is what an analyzer with a size limit wants.)
    """
    base = LayerSpec("base").add_bytes("etc/os-release", b"ID=debian\n")
    bombs = LayerSpec("bombs").add_bytes("app/lib/bomb.jar", _jar_bomb(256 * MiB))
    build_oci(out, [base, bombs], compression=compression)
    _append_layer(out, *_zeros_layer(HUGE, 256 * MiB, compression), compression)


def _append_layer(out: Path, diff_id: str, blob: bytes, compression: str) -> None:
    """Add a layer to an OCI layout written by `build_oci`, re-writing config, manifest and index."""
    (out / "blobs" / "sha256" / sha(blob)[7:]).write_bytes(blob)

    def add(manifest: dict[str, Any], config: dict[str, Any]) -> None:
        mt = f"application/vnd.oci.image.layer.v1.tar+{compression}"
        manifest["layers"].append({"mediaType": mt, "digest": sha(blob), "size": len(blob)})
        config["rootfs"]["diff_ids"].append(diff_id)
        config["history"].insert(len(manifest["layers"]) - 1, {"created_by": "bomb"})

    rewrite_oci(out, add)


#: Runs its argv and prints the child's exit code and peak RSS. Linux carries a parent's RSS
#: high-water mark into a child across fork+exec, so the pytest process (large) must not be the
#: measured process's parent: this small interpreter is.
MEASURE = """
import json, os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "rss_mb": usage.ru_maxrss / 1024}))
"""


def _scan_child(image: Path, data_dir: Path) -> tuple[int, dict[str, Any], float, float, str]:
    """`openhss scan` in a child: (exit code, JSON report, seconds, peak RSS in MiB, stderr)."""
    out = data_dir / "report.json"
    env = {**os.environ, "OPENHSS_DATA_DIR": str(data_dir), "TMPDIR": str(data_dir)}
    scan = ["scan", f"oci:{image}:app", "--scanners", "secret,malware,baseline,compliance"]
    cmd = [sys.executable, "-m", "openhss.entry", *scan, "-f", "json", "-q", "--no-cache", "-o", str(out)]
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", MEASURE, *cmd], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    result = json.loads(run.stdout.strip().splitlines()[-1])
    doc = json.loads(out.read_text()) if out.exists() else {}
    return result["code"], doc, seconds, result["rss_mb"], run.stderr


@pytest.mark.slow
@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_decompression_and_zip_bombs_are_bounded_and_reported(tmp_path: Path, compression: str) -> None:
    image = tmp_path / "bomb"
    _write_bomb_image(image, compression)
    stored = sum(p.stat().st_size for p in (image / "blobs" / "sha256").iterdir())
    assert stored < 4 * MiB  # > 128:1 overall
    data = tmp_path / "data"
    data.mkdir()
    code, doc, seconds, rss, stderr = _scan_child(image, data)
    assert code == 0, stderr[-2000:]
    skipped = {s["path"]: s["reason"] for s in doc["skipped"]}
    assert "exceeds its limit" in skipped.get(HUGE, ""), skipped
    assert "app/lib/bomb.jar" in skipped and "declares" in skipped["app/lib/bomb.jar"], skipped
    assert rss < 300, f"peak RSS {rss:.0f} MiB"
    assert seconds < 240, f"{seconds:.0f} s"


def test_layer_bomb_beyond_the_configured_limit_ends_the_scan_with_the_reason(tmp_path: Path) -> None:
    base = LayerSpec("base").add_bytes("etc/os-release", b"ID=debian\n")
    build_oci(tmp_path / "img", [base], compression="zstd")
    _append_layer(tmp_path / "img", *_zeros_layer("zeros", 80 * MiB, "zstd"), "zstd")
    pipeline = build_pipeline(NO_VULN, settings=Settings(data_dir=tmp_path / "data"))
    options = dataclasses.replace(pipeline, limits=Limits(max_layer_bytes=64 * MiB))
    with pytest.raises(ImageOversized, match="layer exceeds the maximum uncompressed size"):
        scan_image(parse_ref(f"oci:{tmp_path / 'img'}:app"), SourceOptions(), options)
