"""Disk full in the data dir: a real tmpfs of 256 KiB mounted for the test (root only).

* Advisory DB import that runs out of space: one clear error line, non-zero exit, and the previous
  database byte-for-byte intact and usable (the rebuild goes to a temporary file swapped in only on
  success), no temporary file left behind.
* A scan whose scratch dir fills up while spooling a large member: a `ScanError` naming the cause,
  not a bare OSError from deep inside the walker.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from openhss.config import Settings
from openhss.domain.enums import ScanScope
from openhss.scan.errors import ScanError
from openhss.scan.refs import parse_ref
from openhss.scan.sources.base import SourceOptions
from openhss.services.scanning import build_pipeline, scan_image
from tests.scan_sources.builders import LayerSpec, build_oci


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _osv_dir(root: Path, n: int, details: int) -> Path:
    root.mkdir(parents=True)
    for i in range(n):
        doc = {
            "id": f"PYSEC-TEST-{i}",
            "modified": "2024-01-01T00:00:00Z",
            "summary": f"advisory {i}",
            "details": f"{i} " * details,
            "affected": [
                {
                    "package": {"ecosystem": "PyPI", "name": f"pkg-{i}"},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": f"1.{i}"}]}],
                }
            ],
        }
        (root / f"PYSEC-TEST-{i}.json").write_text(json.dumps(doc))
    return root


def _openhss(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENHSS_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "openhss.entry", *args], capture_output=True, text=True, env=env
    )


def _records(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM records").fetchone()[0])


@pytest.mark.slow
def test_advisory_import_on_a_full_disk_keeps_the_old_database(tiny_fs: Path, tmp_path: Path) -> None:
    small = _osv_dir(tmp_path / "small", 20, 10)
    first = _openhss(tiny_fs, "db", "import", str(small))
    assert first.returncode == 0, first.stderr
    db = tiny_fs / "vulndb" / "advisories.sqlite"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    assert _records(db) == 20

    big = _osv_dir(tmp_path / "big", 2500, 20)  # ~1 MiB of records: cannot fit in 256 KiB
    second = _openhss(tiny_fs, "db", "import", str(big))
    assert second.returncode != 0
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in second.stderr, second.stderr
    assert "full" in lines[0].lower() or "space" in lines[0].lower(), lines
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert _records(db) == 20
    assert sorted(p.name for p in (tiny_fs / "vulndb").iterdir() if p.name.endswith(".tmp")) == []
    status = _openhss(tiny_fs, "db", "status")
    assert status.returncode == 0 and "20" in status.stdout, status.stdout + status.stderr


def test_scan_whose_scratch_dir_fills_up_fails_with_the_reason(tiny_fs: Path, tmp_path: Path) -> None:
    big = os.urandom(6 * 1024 * 1024)  # wanted by the malware scanner: > 4 MiB spills to the scratch dir
    layer = LayerSpec("big").add_bytes("etc/os-release", b"ID=debian\n").add_bytes("usr/bin/tool", big, 0o755)
    build_oci(tmp_path / "img", [layer])
    options = build_pipeline(ScanScope.MALWARE, settings=Settings(data_dir=tmp_path / "data"))
    options.scratch_dir = tiny_fs
    with pytest.raises(ScanError, match="no space left in the scratch dir"):
        scan_image(parse_ref(f"oci:{tmp_path / 'img'}:app"), SourceOptions(), options)
    assert list(tiny_fs.iterdir()) == []  # the spool file went with the failed layer
