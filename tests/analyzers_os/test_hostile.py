"""Hostile and broken databases: a clear `skipped` entry or nothing, never a crash, hang or blow-up."""

from __future__ import annotations

import contextlib
import io
import random
import shutil
import sqlite3
import struct
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openhss.scan.analyzers.os import dpkg
from openhss.scan.analyzers.os.apk import parse_installed
from openhss.scan.analyzers.os.dpkg import TooManyPackages, parse_status
from openhss.scan.analyzers.os.release import detect
from openhss.scan.analyzers.os.rpm import read_rpmdb
from openhss.scan.analyzers.os.rpmdb import RpmHeaderError, iter_ndb_blobs, parse_header

from .conftest import bdb_from_sqlite
from .helpers import scan, tar_of


def _blobs(sqlite_db: Path) -> list[bytes]:
    conn = sqlite3.connect(sqlite_db / "rpmdb.sqlite")
    try:
        return [bytes(b) for (b,) in conn.execute("SELECT blob FROM Packages ORDER BY hnum")]
    finally:
        conn.close()


def test_header_corruptions_raise_clean_errors(sqlite_db: Path) -> None:
    blob = _blobs(sqlite_db)[0]
    assert parse_header(blob).name.startswith("openhss-demo")
    il, dl = struct.unpack_from(">II", blob)
    bad_offset = bytearray(blob)
    name_entry = next(i for i in range(il) if struct.unpack_from(">i", blob, 8 + 16 * i)[0] == 1000)
    struct.pack_into(">i", bad_offset, 8 + 16 * name_entry + 8, dl + 100)
    unterminated = bytearray(blob)
    unterminated[8 + 16 * il :] = b"\x41" * dl
    cases = {
        "empty": b"",
        "preamble only": blob[:8],
        "truncated": blob[: len(blob) // 2],
        "huge il": struct.pack(">II", 0x7FFFFFFF, 16) + blob[8:],
        "huge dl": struct.pack(">II", il, 0x7FFFFFFF) + blob[8:],
        "offset outside data": bytes(bad_offset),
        "unterminated strings": bytes(unterminated),
    }
    for label, data in cases.items():
        with pytest.raises(RpmHeaderError):
            parse_header(data)
            pytest.fail(label)


def test_random_header_fuzz_never_crashes(sqlite_db: Path) -> None:
    blobs = _blobs(sqlite_db)
    rnd = random.Random(4)
    for _ in range(2000):
        data = bytearray(rnd.choice(blobs))
        for _ in range(rnd.randint(1, 8)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        with contextlib.suppress(RpmHeaderError):
            parse_header(bytes(data))


def test_sqlite_one_bad_record_does_not_hide_the_others(sqlite_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "rpmdb.sqlite"
    shutil.copy(sqlite_db / "rpmdb.sqlite", db)
    conn = sqlite3.connect(db)
    hnum, blob = conn.execute("SELECT hnum, blob FROM Packages ORDER BY hnum LIMIT 1").fetchone()
    conn.execute("UPDATE Packages SET blob = ? WHERE hnum = ?", (bytes(blob)[:100], hnum))
    conn.commit()
    conn.close()
    inv = scan([tar_of([("var/lib/rpm/rpmdb.sqlite", db)])])
    assert len(inv.packages) == 2
    assert len(inv.skipped) == 1
    path, reason = inv.skipped[0]
    assert path == "var/lib/rpm/rpmdb.sqlite" and "truncated" in reason


def test_sqlite_garbage_file(tmp_path: Path) -> None:
    inv = scan([tar_of([("usr/lib/sysimage/rpm/rpmdb.sqlite", b"SQLite format 3\0" + b"\xff" * 5000)])])
    assert inv.packages == []
    assert inv.skipped and "sqlite" in inv.skipped[0][1]


@pytest.fixture
def bdb(sqlite_db: Path, tmp_path: Path) -> bytes:
    return bdb_from_sqlite(sqlite_db / "rpmdb.sqlite", tmp_path / "bdb", 4096).read_bytes()


def _read(data: bytes) -> tuple[int, list[str]]:
    found, problems = read_rpmdb("var/lib/rpm/Packages", io.BytesIO(data), len(data))
    return len(found), problems


def test_bdb_corruptions(bdb: bytes) -> None:
    assert _read(bdb) == (3, [])
    page = struct.unpack_from("<I", bdb, 20)[0]
    # Truncated file: the metadata promises pages that are not there.
    _n, problems = _read(bdb[: page * 2])
    assert problems and "beyond the file" in problems[0]
    # An overflow chain that points back at itself.
    data = bytearray(bdb)
    for no in range(1, len(bdb) // page):
        if data[no * page + 25] == 7:  # overflow page
            struct.pack_into("<I", data, no * page + 16, no)
            break
    _n, problems = _read(bytes(data))
    assert any("loops" in p for p in problems)
    # Garbage where the hash pages' item index is.
    data = bytearray(bdb)
    for no in range(1, len(bdb) // page):
        if data[no * page + 25] == 13:
            data[no * page + 26 : no * page + 34] = b"\xff" * 8
    _n, problems = _read(bytes(data))
    assert problems
    # Not a BerkeleyDB at all, and a bad page size.
    assert _read(b"\0" * 8192)[1] == ["bdb: not a BerkeleyDB hash database"]
    data = bytearray(bdb)
    struct.pack_into("<I", data, 20, 1000)
    assert "page size" in _read(bytes(data))[1][0]


def test_bdb_random_page_fuzz(bdb: bytes) -> None:
    rnd = random.Random(7)
    for _ in range(300):
        data = bytearray(bdb)
        for _ in range(rnd.randint(1, 20)):
            data[rnd.randrange(72, len(data))] = rnd.randrange(256)
        _read(bytes(data))  # must return, whatever it finds


def _ndb(blobs: list[bytes]) -> bytes:
    """A minimal ndb file in rpm's layout (header, one slot page, 16-byte-aligned blobs)."""
    slots = bytearray()
    body = bytearray()
    blk = 4096 // 16
    for i, blob in enumerate(blobs, 1):
        slots += struct.pack("<4sIII", b"Slot", i, blk + len(body) // 16, 0)
        entry = struct.pack("<4sIII", b"BlbS", i, 0, len(blob)) + blob
        entry += b"\0" * (-len(entry) % 16)
        body += entry
    head = struct.pack("<4sIII", b"RpmP", 0, 1, 1) + b"\0" * 16
    slot_page = head + slots
    slot_page += b"\0" * (4096 - len(slot_page))
    # empty slots must still carry the slot magic
    free = struct.pack("<4sIII", b"Slot", 0, 0, 0)
    slot_page = slot_page[: 32 + len(slots)] + free * ((4096 - 32 - len(slots)) // 16)
    return bytes(slot_page) + bytes(body)


def test_ndb_corruptions(sqlite_db: Path) -> None:
    blobs = _blobs(sqlite_db)
    good = _ndb(blobs)
    assert [parse_header(b).name for b in iter_ndb_blobs(io.BytesIO(good), len(good))] == [
        parse_header(b).name for b in blobs
    ]
    bad_slot = bytearray(good)
    bad_slot[32:36] = b"XXXX"
    bad_len = bytearray(good)
    struct.pack_into("<I", bad_len, 4096 + 12, 0x7FFFFFF0)
    for data in (good[:20], bytes(bad_slot), bytes(bad_len), good[:5000]):
        _found, problems = read_rpmdb("var/lib/rpm/Packages.db", io.BytesIO(data), len(data))
        assert problems, data[:8]


def _chunks(n_stanzas: int, line_mb: int) -> Iterator[bytes]:
    yield b"Package: evil\nDescription: "
    for _ in range(line_mb * 16):
        yield b"A" * 65536
    yield b"\n\n"
    for i in range(n_stanzas):
        yield b"Package: p%d\nStatus: install ok installed\nVersion: 1.%d\nArchitecture: amd64\n\n" % (i, i)


class _Stream(io.RawIOBase):
    """A file that is never in memory whole: produced chunk by chunk as the parser reads."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.buf = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if not self.buf:
            self.buf = memoryview(next(self.chunks, b""))
        n = min(len(b), len(self.buf))
        b[:n] = self.buf[:n]
        self.buf = self.buf[n:]
        return n


def test_huge_status_file_bounded_memory() -> None:
    """A 64 MB line, then 2000 stanzas: parsed in bounded memory, garbage skipped, good records kept."""
    tracemalloc.start()
    pkgs = parse_status(io.BufferedReader(_Stream(_chunks(2000, 64))), "var/lib/dpkg/status")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [p.name for p in pkgs[:2]] == ["p0", "p1"] and len(pkgs) == 2000
    assert peak < 8 * 1024 * 1024, peak


def test_binary_garbage_everywhere() -> None:
    rnd = random.Random(1)
    junk = bytes(rnd.randrange(256) for _ in range(200_000))
    assert parse_status(io.BytesIO(junk), "x") == []
    assert parse_installed(io.BytesIO(junk), "x") == []
    for path in ("etc/os-release", "etc/redhat-release", "etc/debian_version", "etc/lsb-release"):
        assert detect(path, junk.decode("utf-8", errors="replace")) is None
    inv = scan(
        [
            tar_of(
                [
                    ("var/lib/dpkg/status", junk),
                    ("lib/apk/db/installed", junk),
                    ("var/lib/rpm/Packages", junk),
                    ("var/lib/rpm/Packages.db", junk),
                    ("etc/os-release", junk),
                ]
            )
        ]
    )
    assert inv.packages == [] and inv.os is None
    # rpm reports the undecodable databases; the 200 kB "os-release" exceeds the release analyzer's cap.
    assert {p for p, _ in inv.skipped} == {
        "var/lib/rpm/Packages",
        "var/lib/rpm/Packages.db",
        "etc/os-release",
    }


def _stanzas(n: int) -> bytes:
    return b"".join(
        b"Package: p%d\nStatus: install ok installed\nVersion: 1.%d\nArchitecture: amd64\n\n" % (i, i)
        for i in range(n)
    )


def test_status_with_too_many_packages_keeps_the_first_and_reports_the_rest() -> None:
    """Millions of stanzas inflate from a few MB: past the cap they are not turned into packages."""
    with pytest.raises(TooManyPackages) as info:
        parse_status(io.BytesIO(_stanzas(50)), "var/lib/dpkg/status", limit=20)
    assert [p.name for p in info.value.packages] == [f"p{i}" for i in range(20)]


def test_dpkg_analyzer_caps_packages_per_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dpkg, "MAX_PACKAGES", 30)
    inv = scan(
        [
            tar_of(
                [
                    ("var/lib/dpkg/status", _stanzas(20)),
                    ("var/lib/dpkg/status.d/extra", _stanzas(20)),
                    ("var/lib/dpkg/status.d/more", _stanzas(5)),
                ]
            )
        ]
    )
    assert len(inv.packages) == 30
    reasons = dict(inv.skipped)
    assert "more than 10 packages" in reasons["var/lib/dpkg/status.d/extra"]
    assert "more than 30 packages" in reasons["var/lib/dpkg/status.d/more"]
