"""The files report: which files, which type, and hashes that match the bytes."""

from __future__ import annotations

import hashlib
import io
import os

from openhss.domain.enums import EntryKind
from openhss.scan.analyzers.base import FileEntry
from openhss.scan.analyzers.files import FilesAnalyzer
from openhss.scan.walk import analyze_layer
from tests.scan_sources.builders import LayerSpec


def test_files_report_from_a_layer() -> None:
    big = os.urandom(3 * 1024 * 1024 + 17)
    spec = (
        LayerSpec()
        .add_bytes("usr/bin/su", b"su-binary", 0o4755)
        .add_bytes("usr/bin/wall", b"wall-binary", 0o2755)
        .add_bytes("usr/bin/big", big, 0o755)
        .add_bytes("tmp/open.txt", b"anyone", 0o666)
        .add_bytes("opt/worst", b"suid and writable", 0o4777)
        .add_bytes("etc/passwd", b"root:x:0:0::/root:/bin/sh\n", 0o644)
        .add_hardlink("usr/bin/su-link", "usr/bin/su")
        .add_symlink("usr/bin/sh", "bash")
        .add_dir("tmp2", 0o1777)
    )
    spec.entries[-3][0].mode = 0o4755  # tar hard links carry the target's mode
    out = analyze_layer(io.BytesIO(spec.tar_bytes()), "", [FilesAnalyzer()], diff_id="sha256:" + "a" * 64)
    got = {f.path: f for f in out.result.files}
    assert {p: f.file_type for p, f in got.items()} == {
        "usr/bin/su": "setuid",
        "usr/bin/wall": "setgid",
        "usr/bin/big": "executable",
        "tmp/open.txt": "world-writable",
        "opt/worst": "setuid",
        "usr/bin/su-link": "setuid",
    }
    assert got["usr/bin/big"].sha256 == hashlib.sha256(big).hexdigest()
    assert got["usr/bin/big"].size == len(big)
    assert got["usr/bin/su"].sha256 == hashlib.sha256(b"su-binary").hexdigest()
    assert got["usr/bin/su-link"].sha256 == got["usr/bin/su"].sha256
    assert got["tmp/open.txt"].sha256 == ""  # world-writable data files are listed, not read
    assert got["usr/bin/su"].mode == 0o4755
    assert {f.layer_digest for f in got.values()} == {"sha256:" + "a" * 64}


def test_world_writable_data_is_never_read() -> None:
    a = FilesAnalyzer()
    entry = FileEntry("tmp/x", 10**9, 0o666, EntryKind.FILE)
    assert a.wants(entry) is False  # recorded from the header alone
    assert a.wants(FileEntry("usr/bin/x", 10, 0o755, EntryKind.FILE)) is True
    assert a.wants(FileEntry("etc/x", 10, 0o644, EntryKind.FILE)) is False
    assert [f.path for f in a.finish().files] == ["tmp/x"]
