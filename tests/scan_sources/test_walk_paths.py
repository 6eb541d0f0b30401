"""The layer walk yields the same members and findings whichever way the tar reaches it.

A seekable plain tar is parsed inline and its unwanted bytes seeked over; a compressed or streamed one
is inflated by the reader's decompression thread and parsed from the pieces it hands over. Both must
agree with each other and with Python's `tarfile` on a tar written by GNU tar itself (hard links,
whiteouts, an opaque dir, GNU and PAX long names, symlinks), whatever the piece size: odd sizes put
headers and member data across piece boundaries.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
import threading
from pathlib import Path
from typing import BinaryIO, ClassVar

import pytest

from openhss.domain.enums import EntryKind
from openhss.domain.models import FileRecord
from openhss.scan.analyzers.base import AnalysisResult, Analyzer, FileEntry
from openhss.scan.analyzers.secrets import SecretAnalyzer
from openhss.scan.layers import LayerReader, normalize_path
from openhss.scan.walk import analyze_layer

pytestmark = pytest.mark.skipif(shutil.which("tar") is None, reason="needs GNU tar")

LONG_DIR = "opt/" + "/".join(f"segment-{i:02d}-of-a-deep-vendor-tree" for i in range(6))
#: A secret each analyzer path must find (AWS's documented example key pair).
SECRET = (
    b'aws_access_key_id = "AKIAIOSFODNN7EXAMPLE"\n'
    b'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\n'
)


class Digests(Analyzer):
    """Hashes every regular file it is handed: proves every byte of every member arrives unchanged."""

    name: ClassVar[str] = "digests"

    def wants(self, entry: FileEntry) -> bool:
        return entry.is_file

    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        data = content.read()
        sha = hashlib.sha256(data).hexdigest()
        return AnalysisResult(files=[FileRecord(entry.path, len(data), entry.mode, 0, 0, "file", sha256=sha)])


def _tree(root: Path) -> None:
    (root / "etc").mkdir(parents=True)
    (root / "etc/app.conf").write_bytes(SECRET)
    (root / "etc/hard-copy.conf").hardlink_to(root / "etc/app.conf")
    (root / "etc/current").symlink_to("app.conf")
    (root / "etc/.wh.removed.conf").write_bytes(b"")
    (root / "var/cache/old").mkdir(parents=True)
    (root / "var/cache/old/.wh..wh..opq").write_bytes(b"")
    deep = root / LONG_DIR
    deep.mkdir(parents=True)
    (
        deep / ("a-file-name-that-is-well-past-the-hundred-byte-ustar-name-field-" + "x" * 60 + ".env")
    ).write_bytes(b"# config\n" + SECRET)
    (deep / "link-with-a-long-target").symlink_to("../" * 3 + "etc/app.conf")
    # Sizes around the block and piece boundaries, and one larger than a piece.
    for i, size in enumerate((0, 1, 511, 512, 513, 4095, 4097, 65537, 300_001)):
        (root / f"data-{i}.bin").write_bytes(bytes((i * 7 + j) % 251 for j in range(size)))


@pytest.fixture(scope="module", params=["gnu", "pax"])
def gnu_tar(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    root = tmp_path_factory.mktemp(f"tree-{request.param}")
    _tree(root / "rootfs")
    out = root / "layer.tar"
    subprocess.run(
        ["tar", f"--format={request.param}", "--sort=name", "-C", str(root / "rootfs"), "-cf", str(out), "."],
        check=True,
    )
    return out.read_bytes()


def _oracle(tar: bytes) -> list[tuple[str, EntryKind, str, str]]:
    """(path, kind, link, sha256 of the content) as `tarfile` reads them, whiteouts left out."""
    kinds = {tarfile.REGTYPE: EntryKind.FILE, tarfile.LNKTYPE: EntryKind.HARDLINK}
    kinds |= {tarfile.SYMTYPE: EntryKind.SYMLINK, tarfile.DIRTYPE: EntryKind.DIR}
    out = []
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        for ti in tf:
            path = normalize_path(ti.name)
            if not path or path.rsplit("/", 1)[-1].startswith(".wh."):
                continue
            data = tf.extractfile(ti).read() if ti.isreg() else b""  # type: ignore[union-attr]
            link = normalize_path(ti.linkname) or "" if ti.islnk() else ti.linkname
            out.append((path, kinds[ti.type], link, hashlib.sha256(data).hexdigest()))
    return out


def _streams(tar: bytes) -> dict[str, tuple[BinaryIO, int]]:
    """The same tar as each way it reaches the reader, with the piece size of the decompression thread."""
    zst = subprocess.run(["zstd", "-q", "-c"], input=tar, capture_output=True, check=True).stdout
    gz = subprocess.run(["gzip", "-c"], input=tar, capture_output=True, check=True).stdout
    return {
        "plain, seekable (inline)": (io.BytesIO(tar), 256 * 1024),
        "plain, streamed": (io.BufferedReader(_Unseekable(tar)), 256 * 1024),
        "gzip": (io.BytesIO(gz), 256 * 1024),
        "gzip, odd pieces": (io.BytesIO(gz), 4099),
        "zstd, tiny pieces": (io.BufferedReader(_Unseekable(zst)), 100),
    }


class _Unseekable(io.RawIOBase):
    """A pipe-like stream: no seek, no tell, short reads."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        n = min(len(buf), len(self._data), 3001)
        buf[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


def test_every_path_yields_what_tarfile_reads(gnu_tar: bytes) -> None:
    expected = _oracle(gnu_tar)
    assert any(len(p) > 100 for p, *_ in expected), "the tree must exercise long names"
    assert {k for _, k, *_ in expected} >= {EntryKind.FILE, EntryKind.HARDLINK, EntryKind.SYMLINK}
    for label, (stream, piece) in _streams(gnu_tar).items():
        reader = LayerReader(stream, "", pump_chunk=piece)
        seen = []
        for entry, content in reader:
            data = content.read() if content is not None else b""
            seen.append((entry.path, entry.kind, entry.linkname, hashlib.sha256(data).hexdigest()))
        assert seen == expected, label
        assert reader.whiteouts == ["etc/removed.conf"], label
        assert reader.opaque_dirs == ["var/cache/old"], label
        assert reader.stats.uncompressed_bytes == len(gnu_tar), label


def test_every_path_gives_the_same_findings(gnu_tar: bytes) -> None:
    results = {}
    for label, (stream, _piece) in _streams(gnu_tar).items():
        layer = analyze_layer(stream, "", [SecretAnalyzer(), Digests()])
        res = layer.result
        results[label] = (
            sorted((f.rule_id, f.path, f.line, f.evidence) for f in res.findings),
            sorted((f.path, f.size, f.sha256) for f in res.files),
            layer.diff_id,
            layer.whiteouts,
            layer.opaque_dirs,
        )
    first = next(iter(results.values()))
    assert first[2] == "sha256:" + hashlib.sha256(gnu_tar).hexdigest()
    secret_paths = {path for _, path, _, _ in first[0]}
    assert secret_paths == {"etc/app.conf", next(p for p, *_ in _oracle(gnu_tar) if p.endswith(".env"))}
    for label, got in results.items():
        assert got == first, label


def test_a_reader_abandoned_midway_stops_its_thread(gnu_tar: bytes) -> None:
    gz = subprocess.run(["gzip", "-c"], input=gnu_tar, capture_output=True, check=True).stdout
    # This reader's own pump thread, by identity: other tests in the same process (xdist workers run
    # many) start and end threads of their own meanwhile, so a count of the process's threads races.
    before = {t for t in threading.enumerate() if t.name == "layer-inflate"}
    it = iter(LayerReader(io.BytesIO(gz), "", pump_chunk=512))
    next(it)
    pumps = {t for t in threading.enumerate() if t.name == "layer-inflate"} - before
    assert pumps, "the reader started no pump thread"
    it.close()  # type: ignore[attr-defined]
    assert not any(t.is_alive() for t in pumps)
