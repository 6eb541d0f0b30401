"""Fuzz the layer walker (`scan/layers.py`) and the one-pass driver (`scan/walk.py`).

Inputs are real tar streams written by `tarfile` (PAX, GNU and ustar headers, long names, PAX
records with hostile values, hard links, symlinks, devices, `..` and absolute names), then mutated at
the header-field level with the checksum repaired (so mutations reach the parser behind the checksum
test), and framed as plain tar, gzip (also multi-member) or zstd (also multi-frame), sometimes cut
short. Property: only `ScanError`s escape, every path handed out is image-root-relative and
normalised, member readers return exactly the declared bytes, and every analyzer survives the walk.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import tarfile
from typing import Any

import zstandard
from hypothesis import given
from hypothesis import strategies as st

from openhss.domain.enums import EntryKind
from openhss.scan.analyzers.registry import ANALYZERS
from openhss.scan.errors import ScanError
from openhss.scan.layers import BLOCK, LayerReader, Limits
from openhss.scan.walk import analyze_layer

from .harness import TOKENS, fuzz_settings, guarded

LIMITS = Limits(
    max_layer_bytes=4 * 1024 * 1024,
    max_image_bytes=8 * 1024 * 1024,
    max_members=2_000,
    max_path_length=1024,
    max_header_bytes=64 * 1024,
)

SEGMENT = st.one_of(
    st.sampled_from(
        ["etc", "usr", "lib", "app", "..", ".", "", "var", "node_modules", ".wh.x", ".wh..wh..opq"]
    ),
    st.text(
        st.characters(blacklist_categories=["Cs"], blacklist_characters="/\x00"), min_size=1, max_size=12
    ),
    st.just("d" * 120),
)
NAME = st.builds(
    lambda lead, segs: lead + "/".join(segs),
    st.sampled_from(["", "/", "./", "../"]),
    st.lists(SEGMENT, min_size=1, max_size=6),
)
PAX_KEYS = st.sampled_from(["path", "linkpath", "size", "mtime", "uid", "gid", "mode", "uname", "comment"])
PAX_VALUES = st.one_of(
    st.sampled_from(["-1", "1e999", "nan", "inf", "0", "99999999999999999999", "1.5", "", "../../x", "/"]),
    st.text(max_size=20),
)
KINDS = [
    tarfile.REGTYPE,
    tarfile.DIRTYPE,
    tarfile.SYMTYPE,
    tarfile.LNKTYPE,
    tarfile.CHRTYPE,
    tarfile.FIFOTYPE,
    tarfile.BLKTYPE,
    tarfile.CONTTYPE,
    b"S",
    b"V",
    b"Z",
]


@st.composite
def members(draw: st.DrawFn) -> tuple[tarfile.TarInfo, bytes | None]:
    ti = tarfile.TarInfo(draw(NAME))
    ti.type = draw(st.sampled_from(KINDS))
    ti.mode = draw(st.integers(0, 0o7777))
    ti.mtime = draw(st.integers(0, 2**33))
    ti.uid = draw(st.integers(0, 2**21))
    if ti.type in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        ti.linkname = draw(NAME)
    if draw(st.booleans()):
        ti.pax_headers = draw(st.dictionaries(PAX_KEYS, PAX_VALUES, max_size=3))
    data = None
    if ti.type in (tarfile.REGTYPE, tarfile.CONTTYPE):
        data = draw(st.binary(max_size=1500))
        ti.size = len(data)
    return ti, data


def build_tar(entries: list[tuple[tarfile.TarInfo, bytes | None]], fmt: int) -> tuple[bytes, list[int]]:
    """The tar bytes and the offset of every header block written (for field-level mutations)."""
    buf = io.BytesIO()
    offsets: list[int] = []
    with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape") as tf:
        for ti, data in entries:
            start = buf.tell()
            try:
                tf.addfile(ti, io.BytesIO(data) if data is not None else None)
            except (ValueError, UnicodeError):
                buf.seek(start)
                buf.truncate()
                tf.offset = start
                continue
            offsets.extend(range(start, buf.tell() - (ti.size + (-ti.size) % BLOCK), BLOCK))
    return buf.getvalue(), offsets


FIELDS = {  # name: (offset, length) in a header block
    "name": (0, 100),
    "mode": (100, 8),
    "uid": (108, 8),
    "size": (124, 12),
    "mtime": (136, 12),
    "type": (156, 1),
    "link": (157, 100),
    "magic": (257, 8),
    "prefix": (345, 155),
}
FIELD_VALUES = st.one_of(
    st.sampled_from(TOKENS),
    st.sampled_from([b"\x80" + b"\xff" * 11, b"\xff" * 12, b"77777777777", b"-1", b"x", b"L", b"K", b"g"]),
    st.binary(max_size=16),
)


def _checksum(block: bytearray) -> None:
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block)


def mutate_headers(data: bytes, offsets: list[int], edits: list[tuple[int, str, bytes, bool]]) -> bytes:
    out = bytearray(data)
    for which, field, value, fix in edits:
        if not offsets:
            break
        at = offsets[which % len(offsets)]
        off, length = FIELDS[field]
        out[at + off : at + off + length] = value[:length].ljust(length, b"\x00")
        if fix:
            block = out[at : at + BLOCK]
            _checksum(block)
            out[at : at + BLOCK] = block
    return bytes(out)


def frame(raw: bytes, framing: str, cut: int | None) -> bytes:
    if framing == "gzip":
        out = gzip.compress(raw, compresslevel=1, mtime=0)
    elif framing == "gzip-multi":
        half = len(raw) // 2
        out = gzip.compress(raw[:half], mtime=0) + gzip.compress(raw[half:], mtime=0)
    elif framing == "zstd":
        out = zstandard.ZstdCompressor(level=1).compress(raw)
    elif framing == "zstd-multi":
        c = zstandard.ZstdCompressor(level=1)
        half = len(raw) // 2
        out = c.compress(raw[:half]) + c.compress(raw[half:])
    else:
        out = raw
    if cut is not None and out:
        out = out[: cut % len(out)]
    return out


@st.composite
def layers(draw: st.DrawFn) -> bytes:
    fmt = draw(st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT]))
    raw, offsets = build_tar(draw(st.lists(members(), max_size=8)), fmt)
    edits = draw(
        st.lists(
            st.tuples(st.integers(0, 100), st.sampled_from(list(FIELDS)), FIELD_VALUES, st.booleans()),
            max_size=3,
        )
    )
    raw = mutate_headers(raw, offsets, edits)
    framing = draw(st.sampled_from(["tar", "tar", "gzip", "gzip-multi", "zstd", "zstd-multi"]))
    cut = draw(st.none() | st.none() | st.integers(0, 2**20))
    return frame(raw, framing, cut)


def _check_walk(data: bytes, seekable: bool) -> None:
    source: Any = io.BytesIO(data) if seekable else io.BufferedReader(io.BytesIO(data))
    if not seekable:
        source.seekable = lambda: False
    reader = LayerReader(source, limits=LIMITS)
    try:
        for entry, member in reader:
            assert entry.path and not entry.path.startswith("/"), entry
            assert all(seg not in ("", ".", "..") for seg in entry.path.split("/")), entry
            if entry.kind is EntryKind.HARDLINK:
                assert ".." not in entry.linkname.split("/") and not entry.linkname.startswith("/")
            if member is not None:
                assert entry.kind is EntryKind.FILE
                got = member.read()
                assert len(got) == entry.size, (entry, len(got))
    except ScanError:
        pass


@fuzz_settings(max_examples=120)
@given(layers(), st.booleans())
def test_layer_reader_on_hostile_tars(data: bytes, seekable: bool) -> None:
    with guarded(len(data)):
        _check_walk(data, seekable)


# Instantiated once before any example: the first secret/malware analyzer compiles its rule set,
# which would otherwise count against the first example's deadline.
_WARM = [a() for a in ANALYZERS]


@fuzz_settings(max_examples=60)
@given(layers())
def test_every_analyzer_survives_a_hostile_layer(data: bytes) -> None:
    with guarded(len(data)) as guard, contextlib.suppress(ScanError):
        analyze_layer(io.BytesIO(data), "", [a() for a in ANALYZERS], LIMITS, scratch_dir=guard.scratch)


@fuzz_settings(max_examples=60)
@given(st.binary(max_size=4096), st.sampled_from(["tar", "gzip", "zstd"]))
def test_layer_reader_on_random_bytes(data: bytes, framing: str) -> None:
    framed = frame(data, framing, None)
    with guarded(len(framed)):
        _check_walk(framed, seekable=framing == "tar")
