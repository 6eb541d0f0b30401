"""The one-pass analyzer contract, proven with small real analyzers over built layers."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import BinaryIO, ClassVar

import pytest

from openhss.domain.enums import EntryKind, FindingKind, Severity
from openhss.domain.models import FileRecord, Finding
from openhss.scan.analyzers.base import AnalysisResult, Analyzer, FileEntry
from openhss.scan.errors import CorruptImage
from openhss.scan.walk import analyze_layer

from .builders import LayerSpec, compress, sample_layers


class HashText(Analyzer):
    """Hashes `.txt` and `.py` files; records every header it was offered."""

    name: ClassVar[str] = "hash-text"
    version: ClassVar[int] = 3
    max_size: ClassVar[int] = 1024

    def __init__(self) -> None:
        self.offered: list[str] = []
        self.analyzed: list[str] = []

    def wants(self, entry: FileEntry) -> bool:
        self.offered.append(entry.path)
        return entry.is_file and entry.path.endswith((".txt", ".py"))

    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        assert content.tell() == 0
        data = content.read()
        assert len(data) == entry.size
        self.analyzed.append(entry.path)
        rec = FileRecord(
            entry.path,
            entry.size,
            entry.mode,
            entry.uid,
            entry.gid,
            "text",
            sha256=hashlib.sha256(data).hexdigest(),
        )
        return AnalysisResult(files=[rec])

    def finish(self) -> AnalysisResult:
        return AnalysisResult(
            findings=[Finding(FindingKind.BASELINE, "count", Severity.LOW, f"{len(self.analyzed)} files")]
        )


class Everything(Analyzer):
    """Wants every regular file; used to show a shared buffer and the spill to the scratch dir."""

    name: ClassVar[str] = "everything"

    def __init__(self, scratch: Path | None = None) -> None:
        self.scratch = scratch
        self.sizes: dict[str, int] = {}
        self.locations: list[str] = []

    def wants(self, entry: FileEntry) -> bool:
        return entry.is_file

    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        self.sizes[entry.path] = len(content.read())
        if entry.size > 4 * 1024 * 1024:
            self.locations.append(os.readlink(f"/proc/self/fd/{content.fileno()}"))
        return AnalysisResult()


class Broken(Analyzer):
    name: ClassVar[str] = "broken"

    def wants(self, entry: FileEntry) -> bool:
        return entry.path.endswith(".py")

    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        raise ValueError("cannot parse")


def test_contract_over_a_real_layer() -> None:
    layer = sample_layers()[1].add_bytes("app/big.txt", b"z" * 5000)
    raw = layer.tar_bytes()
    blob, mt = compress(raw, "gzip")
    hasher, everything, broken = HashText(), Everything(), Broken()
    out = analyze_layer(io.BytesIO(blob), mt, [hasher, everything, broken], diff_id="sha256:feed")
    # wants() saw every header, including dirs and links
    assert hasher.offered == ["app", "app/main.py", "app/main-link.py", "app/big.txt"]
    assert hasher.analyzed == ["app/main.py"]
    assert ("app/big.txt", "hash-text: 5000 bytes exceeds its limit of 1024") in out.result.skipped
    assert any(p == "app/main.py" and r.startswith("broken: ValueError") for p, r in out.result.skipped)
    assert everything.sizes == {"app/main.py": 12, "app/big.txt": 5000}
    rec = out.result.files[0]
    assert rec.sha256 == hashlib.sha256(b"print('hi')\n").hexdigest()
    # results are stamped with the layer's diff_id, including what finish() returned
    assert rec.layer_digest == "sha256:feed" and out.result.findings[0].layer_digest == "sha256:feed"
    assert out.analyzers == {"hash-text": 3, "everything": 1, "broken": 1}
    assert out.stats.members == 4 and out.stats.compression == "gzip"


def test_diff_id_computed_when_not_given_and_whiteouts_recorded() -> None:
    raw = sample_layers()[2].tar_bytes()
    blob, mt = compress(raw, "zstd")
    out = analyze_layer(io.BytesIO(blob), mt, [HashText()])
    assert out.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert out.whiteouts == ["etc/motd"] and out.opaque_dirs == ["opt/cache"]
    assert [f.path for f in out.result.files] == ["opt/cache/new.txt"]


def test_large_wanted_member_spills_into_scratch_dir_only(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    big = os.urandom(6 * 1024 * 1024)
    raw = LayerSpec().add_bytes("data/blob.bin", big).tar_bytes()
    everything = Everything()
    analyze_layer(io.BytesIO(raw), "", [everything, Everything()], scratch_dir=scratch)
    assert everything.sizes == {"data/blob.bin": len(big)}
    assert everything.locations and all(loc.startswith(str(scratch)) for loc in everything.locations)
    assert list(scratch.iterdir()) == []  # gone once the member is done


def test_no_analyzer_wants_anything_reads_layer_once() -> None:
    raw = sample_layers()[0].tar_bytes()

    class Counting(io.BytesIO):
        reads = 0

        def seekable(self) -> bool:  # a network stream: no going back
            return False

        def read(self, n: int | None = -1) -> bytes:
            data = super().read(n)
            Counting.reads += len(data)
            return data

    stream = Counting(raw)
    out = analyze_layer(stream, "", [])
    assert Counting.reads == len(raw) and out.stats.members == 7


def test_corrupt_layer_raises_typed_error() -> None:
    blob, mt = compress(sample_layers()[0].tar_bytes(), "gzip")
    with pytest.raises(CorruptImage):
        analyze_layer(io.BytesIO(blob[:-30]), mt, [HashText()])


def test_non_file_entries_get_empty_content() -> None:
    class Links(Analyzer):
        name: ClassVar[str] = "links"

        def __init__(self) -> None:
            self.got: list[tuple[str, bytes]] = []

        def wants(self, entry: FileEntry) -> bool:
            return entry.kind is EntryKind.SYMLINK

        def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
            self.got.append((entry.linkname, content.read()))
            return AnalysisResult()

    links = Links()
    analyze_layer(io.BytesIO(sample_layers()[0].tar_bytes()), "", [links])
    assert links.got == [("/bin/true", b"")]
