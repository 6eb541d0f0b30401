"""Every crash the fuzz harnesses found, as the minimal input that triggered it (built here, not stored).

Each test names the harness that found it and the fix; it fails on the code before that fix.
"""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openhss.domain.enums import EntryKind
from openhss.scan.analyzers.base import Analyzer, FileEntry
from openhss.scan.analyzers.lang.java import JavaAnalyzer
from openhss.scan.analyzers.lang.rust import RustAnalyzer, inflate
from openhss.scan.analyzers.malware import MalwareAnalyzer
from openhss.scan.analyzers.secrets import SecretAnalyzer
from openhss.scan.errors import CorruptImage, ScanError
from openhss.scan.image import Platform, index_platforms, parse_config, parse_manifest, select_platform
from openhss.scan.layers import LayerReader
from openhss.scan.refs import parse_ref
from openhss.scan.sources.base import SourceOptions
from openhss.scan.sources.registry import open_image
from openhss.scan.walk import ANALYZER_ERRORS, analyze_layer
from openhss.vulndb.sources.base import SourceError
from openhss.vulndb.sources.osv import parse_osv_documents

from .seeds import elf


def _pax_tar(pax: dict[str, str], data: bytes = b"x") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        ti = tarfile.TarInfo("f")
        ti.size = len(data)
        ti.pax_headers = pax
        tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("value", ["inf", "1e999", "-inf", "nan"])
def test_pax_time_that_overflows_int_is_corrupt_not_overflowerror(value: str) -> None:
    """test_fuzz_layers: `int(float("inf"))` raised OverflowError out of the walker (layers._num)."""
    with pytest.raises(CorruptImage, match="invalid PAX mtime"):
        list(LayerReader(io.BytesIO(_pax_tar({"mtime": value}))))


def test_pax_fractional_and_huge_integer_times_are_read_exactly() -> None:
    """The same fix keeps big integers exact (no float round trip) and still accepts fractions."""
    entries = [
        e for e, _ in LayerReader(io.BytesIO(_pax_tar({"mtime": "1700000000.75", "uid": "9007199254740993"})))
    ]
    assert entries[0].mtime == 1700000000 and entries[0].uid == 9007199254740993


def test_negative_pax_size_is_corrupt() -> None:
    """test_fuzz_layers: a PAX `size=-1` produced a FileEntry of size -1 whose reader returned nothing."""
    raw = _pax_tar({"size": "-1"}, b"")
    with pytest.raises(CorruptImage, match="negative PAX size"):
        list(LayerReader(io.BytesIO(raw)))


def test_deeply_nested_manifest_is_corrupt_not_recursionerror() -> None:
    """test_fuzz_image: json.loads raised RecursionError out of load_json (image.load_json)."""
    with pytest.raises(CorruptImage, match="nested too deeply"):
        parse_manifest(b"[" * 100_000 + b"]" * 100_000)


def test_config_history_of_the_wrong_type_is_ignored() -> None:
    """test_fuzz_image: `"history": 5` raised TypeError in parse_config; history is informational."""
    config = parse_config(b'{"history": 5, "rootfs": {"diff_ids": []}}')
    assert config.history == ()


@pytest.mark.parametrize("fn", [index_platforms, lambda i: select_platform(i, Platform("linux", "amd64"))])
def test_index_manifests_not_a_list_is_corrupt(fn: Callable[[dict[str, Any]], object]) -> None:
    """test_fuzz_image: `"manifests": 7` raised TypeError in select_platform / index_platforms."""
    with pytest.raises(CorruptImage, match="not a list"):
        fn({"manifests": 7})


@pytest.mark.parametrize("index", [{"manifests": [{"annotations": ["x"]}]}, {"manifests": {"a": 1}}])
def test_oci_index_json_of_the_wrong_shape_is_a_scan_error(tmp_path: Path, index: dict[str, Any]) -> None:
    """test_fuzz_image: list-valued annotations raised AttributeError in the OCI source's tag lookup."""
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (tmp_path / "index.json").write_text(json.dumps(index))
    with pytest.raises(ScanError):
        open_image(parse_ref(f"oci:{tmp_path}:app"), SourceOptions())


def test_osv_zip_with_a_corrupt_member_is_a_source_error(tmp_path: Path) -> None:
    """test_fuzz_osv: a member whose deflate stream is broken raised zlib.error out of the reader."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("A-1.json", json.dumps({"id": "A-1", "details": "x" * 2000}))
    data = bytearray(buf.getvalue())
    start = 30 + len("A-1.json")  # local header, then the deflate stream
    data[start : start + 8] = b"\xff" * 8
    path = tmp_path / "all.zip"
    path.write_bytes(bytes(data))
    with pytest.raises(SourceError, match="corrupt zip member"):
        list(parse_osv_documents(path, "osv:test"))


def test_rust_audit_section_that_is_not_zlib_is_a_valueerror() -> None:
    """test_fuzz_analyzers[rust-audit]: a corrupt `.dep-v0` section raised zlib.error out of the
    analyzer (not one of the walker's skip errors), aborting the whole scan."""
    with pytest.raises(ValueError, match="not a zlib stream"):
        inflate(b"\x00not zlib at all")
    packages, skipped = _scan_one(
        "usr/bin/app", elf({".dep-v0": b"\x00garbage", ".text": b"\x90" * 64}, 20_000)
    )
    assert packages == [] and any("not a zlib stream" in why for _, why in skipped)


def _scan_one(path: str, data: bytes) -> tuple[list[object], list[tuple[str, str]]]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo(path)
        ti.size, ti.mode = len(data), 0o755
        tf.addfile(ti, io.BytesIO(data))
    result = analyze_layer(io.BytesIO(buf.getvalue()), "", [RustAnalyzer()])
    return list(result.result.packages), result.result.skipped


def _jar_with_corrupt_member() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n" + "Implementation-Title: x\n" * 50)
    data = bytearray(buf.getvalue())
    start = 30 + len("META-INF/MANIFEST.MF")
    data[start : start + 6] = b"\xff" * 6  # the deflate stream, behind an intact local header
    return bytes(data)


def test_jar_member_with_corrupt_deflate_stream_is_a_skip() -> None:
    """test_fuzz_analyzers[jar]: zlib.error escaped JavaAnalyzer.analyze (only BadZipFile was caught)."""
    jar = _jar_with_corrupt_member()
    entry = FileEntry(path="app/x.jar", size=len(jar), mode=0o644, kind=EntryKind.FILE)
    with pytest.raises(ValueError, match="not a zip archive"):
        JavaAnalyzer().analyze(entry, io.BytesIO(jar))


@pytest.mark.parametrize("analyzer", [MalwareAnalyzer, SecretAnalyzer])
def test_other_archive_readers_survive_the_same_jar(analyzer: type[Analyzer]) -> None:
    """The same jar through the malware scanner's archive walk raised zlib.error too (malware.py)."""
    jar = _jar_with_corrupt_member()
    entry = FileEntry(path="app/x.jar", size=len(jar), mode=0o755, kind=EntryKind.FILE)
    with contextlib.suppress(*ANALYZER_ERRORS):
        analyzer().analyze(entry, io.BytesIO(jar))
