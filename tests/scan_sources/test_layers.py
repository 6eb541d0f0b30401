"""The layer reader against well-formed and hostile tars (each bad-input case of issue 3)."""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import tarfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import BinaryIO

import pytest
import zstandard

from openhss.domain.enums import EntryKind
from openhss.scan.errors import CorruptImage, DiffIdMismatch, ImageOversized
from openhss.scan.layers import ImageBudget, LayerReader, Limits, iter_layer, normalize_path, resolve_link

from .builders import LayerSpec, sample_layers


class GenStream(io.RawIOBase):
    """A non-seekable stream produced lazily from chunks: hostile sizes without hostile memory."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def raw_tar(*infos: tuple[tarfile.TarInfo, bytes | None], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for ti, data in infos:
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def member(
    name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE, link: str = ""
) -> tuple[tarfile.TarInfo, bytes | None]:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = link
    if kind == tarfile.REGTYPE:
        ti.size = len(data)
        return ti, data
    return ti, None


def walk(
    data: bytes | BinaryIO, limits: Limits | None = None
) -> tuple[LayerReader, dict[str, tuple[EntryKind, str, bytes]]]:
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    reader = LayerReader(stream, "", limits)
    seen = {}
    for entry, content in reader:
        seen[entry.path] = (entry.kind, entry.linkname, content.read() if content is not None else b"")
    return reader, seen


@pytest.mark.parametrize("compression", ["gzip", "zstd", "xz", "none"])
def test_reads_real_layer_in_every_compression(compression: str) -> None:
    raw = sample_layers()[0].tar_bytes()
    blob = {
        "gzip": lambda b: gzip.compress(b),
        "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
        "xz": lambda b: lzma.compress(b),
        "none": lambda b: b,
    }[compression](raw)
    # media type deliberately says gzip: the bytes decide
    reader = LayerReader(io.BytesIO(blob), "application/vnd.oci.image.layer.v1.tar+gzip")
    seen = {e.path: (e, c.read() if c else None) for e, c in reader}
    assert reader.stats.compression == ("tar" if compression == "none" else compression)
    with open("/bin/true", "rb") as f:
        assert seen["bin/true"][1] == f.read()
    assert seen["bin/true"][0].is_executable
    assert seen["bin/sh"][0].kind is EntryKind.SYMLINK and seen["bin/sh"][0].linkname == "/bin/true"
    assert seen["bin"][0].kind is EntryKind.DIR
    assert reader.stats.uncompressed_bytes == len(raw)


def test_whiteouts_and_opaque_dirs_are_reported_not_yielded() -> None:
    reader, seen = walk(sample_layers()[2].tar_bytes())
    assert reader.whiteouts == ["etc/motd"]
    assert reader.opaque_dirs == ["opt/cache"]
    assert list(seen) == ["opt/cache/new.txt"]


def test_hardlink_target_is_normalised() -> None:
    _, seen = walk(raw_tar(member("./a/b"), member("c", kind=tarfile.LNKTYPE, link="./a//b")))
    assert seen["c"][:2] == (EntryKind.HARDLINK, "a/b")


def test_dot_dot_escape_is_skipped_with_warning() -> None:
    reader, seen = walk(
        raw_tar(member("../../etc/passwd", b"pwn"), member("ok/../fine", b"1"), member("z", b"2"))
    )
    assert "etc/passwd" not in seen and all(".." not in p for p in seen)
    assert seen["fine"][2] == b"1" and seen["z"][2] == b"2"  # stream stays aligned after the skip
    assert any("escaping the image root" in w for w in reader.warnings)


def test_absolute_paths_become_root_relative() -> None:
    _, seen = walk(raw_tar(member("/etc/shadow", b"s"), member("/", kind=tarfile.DIRTYPE)))
    assert seen == {"etc/shadow": (EntryKind.FILE, "", b"s")}


def test_symlink_outside_root_resolves_inside_it() -> None:
    _, seen = walk(raw_tar(member("usr/lib/evil", kind=tarfile.SYMTYPE, link="../../../../../etc/shadow")))
    kind, link, _ = seen["usr/lib/evil"]
    assert kind is EntryKind.SYMLINK and link == "../../../../../etc/shadow"  # verbatim, as the contract says
    assert resolve_link("usr/lib/evil", link) == "etc/shadow"  # the image's, never the host's
    assert resolve_link("a/b", "/x/../../y") == "y"


def test_hardlink_escaping_root_is_skipped() -> None:
    reader, seen = walk(raw_tar(member("h", kind=tarfile.LNKTYPE, link="../../etc/shadow")))
    assert seen == {} and any("hard link" in w for w in reader.warnings)


def test_device_files_are_other_without_content() -> None:
    dev = tarfile.TarInfo("dev/sda")
    dev.type = tarfile.BLKTYPE
    dev.devmajor, dev.devminor = 8, 0
    fifo = tarfile.TarInfo("run/fifo")
    fifo.type = tarfile.FIFOTYPE
    reader = LayerReader(io.BytesIO(raw_tar((dev, None), (fifo, None), member("after", b"ok"))))
    got = [(e.path, e.kind, c is None) for e, c in reader]
    assert got == [
        ("dev/sda", EntryKind.OTHER, True),
        ("run/fifo", EntryKind.OTHER, True),
        ("after", EntryKind.FILE, False),
    ]


def test_long_names_gnu_and_pax() -> None:
    long = "d/" * 150 + "file"
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        _, seen = walk(
            raw_tar(member(long, b"L"), member("s", kind=tarfile.SYMTYPE, link="t/" * 80), fmt=fmt)
        )
        assert seen[long][2] == b"L" and seen["s"][1] == "t/" * 80


def test_path_longer_than_limit_is_a_reported_skip_and_the_walk_goes_on() -> None:
    deep = "a/" * 10_000 + "f"
    reader, seen = walk(
        raw_tar(member("a" * 300), member(deep), member("s", kind=tarfile.SYMTYPE, link="t" * 300)),
        Limits(max_path_length=256),
    )
    assert seen == {}
    reasons = [r for _, r in reader.skipped]
    assert len(reasons) == 3 and all("exceeds 256" in r for r in reasons), reader.skipped
    assert "link target" in reasons[2]
    assert all(len(p) < 300 for p, _ in reader.skipped)  # a 20k-character path is not echoed whole


def test_path_longer_than_limit_does_not_hide_the_next_member() -> None:
    reader, seen = walk(
        raw_tar(member("a" * 300), member("etc/os-release", b"ID=x\n")), Limits(max_path_length=256)
    )
    assert seen == {"etc/os-release": (EntryKind.FILE, "", b"ID=x\n")}
    assert [p[:3] for p, _ in reader.skipped] == ["aaa"]


def test_oversized_pax_header_is_skipped_unread_with_its_member() -> None:
    payload = b"x" * (2 * 1024 * 1024)
    record = b"path=" + payload + b"\n"
    length = len(record) + len(str(len(record))) + 1
    length = len(record) + len(str(length)) + 1
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type = tarfile.XHDTYPE
    pax.size = length
    header = pax.tobuf(tarfile.USTAR_FORMAT)
    body = str(length).encode() + b" " + record
    stream = header + body + b"\0" * (-len(body) % 512) + raw_tar(member("x"), member("y", b"after"))
    tracemalloc.start()
    try:
        reader, seen = walk(stream)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The member the PAX header describes is a reported skip; the next one is walked as usual.
    assert seen == {"y": (EntryKind.FILE, "", b"after")}
    assert reader.skipped == [("x", f"tar PAX header of {length} bytes exceeds {1024 * 1024}")]
    assert peak < len(payload)  # skipped unread, never held


def test_decompression_bomb_hits_layer_limit() -> None:
    ti = tarfile.TarInfo("zeros")
    ti.size = 64 * 1024 * 1024

    def chunks() -> Iterator[bytes]:
        yield ti.tobuf(tarfile.USTAR_FORMAT)
        zeros = bytes(1024 * 1024)
        for _ in range(64):
            yield zeros

    comp = zstandard.ZstdCompressor(level=1)
    bomb = b"".join(comp.compress(b"".join(chunks())) for _ in range(1))
    assert len(bomb) < 64 * 1024  # > 1000:1
    with pytest.raises(ImageOversized, match="layer exceeds"):
        walk(bomb, Limits(max_layer_bytes=8 * 1024 * 1024))


def test_image_budget_spans_layers() -> None:
    limits = Limits(max_image_bytes=3 * 10240)
    budget = ImageBudget(limits)
    layer = raw_tar(member("f", b"a" * 4000))  # 10240 bytes with padding
    for _ in range(3):
        list(iter_layer(io.BytesIO(layer), "", limits, budget))
    with pytest.raises(ImageOversized, match="image exceeds"):
        list(iter_layer(io.BytesIO(layer), "", limits, budget))


def _tiny_members(n: int) -> Iterator[bytes]:
    """n one-byte members, produced 1000 at a time; the whole tar would be n × 1 KiB."""
    ti = tarfile.TarInfo("d/f")
    ti.size = 1
    batch = (ti.tobuf(tarfile.USTAR_FORMAT) + b"x" + bytes(511)) * 1000
    for _ in range(n // 1000):
        yield batch
    yield bytes(1024)


def test_millions_of_members_stop_at_the_member_limit() -> None:
    start = time.monotonic()
    with pytest.raises(ImageOversized, match="more than 20000"):
        walk(GenStream(_tiny_members(3_000_000)), Limits(max_members=20_000))  # type: ignore[arg-type]
    assert time.monotonic() - start < 10


def test_memory_stays_flat_over_many_members() -> None:
    tracemalloc.start()
    try:
        count = 0
        for _entry, content in iter_layer(GenStream(_tiny_members(30_000))):  # type: ignore[arg-type]
            count += 1
            assert content is not None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 30_000
    assert peak < 8 * 1024 * 1024


def test_truncated_gzip_is_corrupt() -> None:
    blob = gzip.compress(raw_tar(member("a", b"x" * 100_000)))
    with pytest.raises(CorruptImage):
        walk(blob[: len(blob) // 2])


def test_truncated_zstd_is_corrupt() -> None:
    blob = zstandard.ZstdCompressor().compress(raw_tar(member("a", bytes(range(256)) * 400)))
    with pytest.raises(CorruptImage):
        walk(blob[: len(blob) // 2])


def test_truncated_plain_tar_is_corrupt() -> None:
    data = raw_tar(member("a", b"x" * 5000))
    with pytest.raises(CorruptImage, match="truncated"):
        walk(data[:3000])
    with pytest.raises(CorruptImage, match="truncated"):
        walk(data[:1300])  # mid-header of nothing: header block 0 complete, data cut


def test_garbage_is_not_a_tar() -> None:
    with pytest.raises(CorruptImage, match="tar header"):
        walk(b"this is not a tar archive at all" * 40)


def test_corrupt_gzip_body() -> None:
    blob = bytearray(gzip.compress(raw_tar(member("a", bytes(range(256)) * 100))))
    blob[20:40] = b"\xff" * 20
    with pytest.raises(CorruptImage):
        walk(bytes(blob))


def test_unread_member_bytes_are_skipped() -> None:
    data = raw_tar(member("big", b"B" * 100_000), member("next", b"N"))
    got = {e.path: (c.read(3) if c else b"") for e, c in iter_layer(io.BytesIO(data))}
    assert got == {"big": b"BBB", "next": b"N"}


@pytest.mark.parametrize(
    ("raw", "norm"),
    [("/a/b", "a/b"), ("./a/./b/", "a/b"), ("a/../b", "b"), ("../x", None), ("a/../../x", None), ("/", "")],
)
def test_normalize_path(raw: str, norm: str | None) -> None:
    assert normalize_path(raw) == norm


def test_builder_layers_round_trip() -> None:
    spec = LayerSpec().add_device("dev/null").add_bytes("x", b"1")
    _, seen = walk(spec.tar_bytes())
    assert seen["dev/null"][0] is EntryKind.OTHER and seen["x"][2] == b"1"


@pytest.mark.parametrize("compression", ["gzip", "zstd", "tar"])
def test_diff_id_is_verified_while_streaming(compression: str) -> None:
    raw = raw_tar(member("etc/os-release", b"ID=alpine\n"))
    compress: dict[str, Callable[[bytes], bytes]] = {
        "gzip": gzip.compress,
        "zstd": zstandard.ZstdCompressor().compress,
        "tar": bytes,
    }
    blob = compress[compression](raw)
    right = "sha256:" + hashlib.sha256(raw).hexdigest()
    reader = LayerReader(io.BytesIO(blob), expected_diff_id=right)
    assert [e.path for e, _ in reader] == ["etc/os-release"]
    wrong = "sha256:" + hashlib.sha256(raw + b"x").hexdigest()
    with pytest.raises(DiffIdMismatch, match="names diff_id " + wrong):
        list(LayerReader(io.BytesIO(blob), expected_diff_id=wrong))


def test_a_compressed_blob_named_by_its_diff_id_is_still_hashed() -> None:
    """Only a plain tar may lean on the source's blob check: a gzip blob whose (verified) digest an
    image reuses as its diff_id is not the hash of the tar, and is refused."""
    blob = gzip.compress(raw_tar(member("f")))
    claimed = "sha256:" + hashlib.sha256(blob).hexdigest()
    with pytest.raises(DiffIdMismatch):
        list(LayerReader(io.BytesIO(blob), expected_diff_id=claimed, blob_digest=claimed))
    raw = raw_tar(member("f"))
    named = "sha256:" + hashlib.sha256(raw).hexdigest()
    assert len(list(LayerReader(io.BytesIO(raw), expected_diff_id=named, blob_digest=named))) == 1


def test_thousands_of_hostile_members_are_counted_not_each_listed() -> None:
    members = [member("d/" * (200 + i) + "f") for i in range(150)]
    reader, seen = walk(raw_tar(*members, member("ok")), Limits(max_path_length=256))
    assert list(seen) == ["ok"]
    assert len(reader.skipped) == 101 and reader.skipped[-1] == ("", "50 more hostile tar members skipped")
