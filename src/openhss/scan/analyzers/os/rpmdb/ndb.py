"""rpm's own "ndb" format (`Packages.db`, SUSE): a slot table pointing at blobs, all little-endian.

Header (32 bytes): magic `RpmP`, version 0, generation, number of slot pages. Slots (16 bytes each,
filling the slot pages after the header): magic `Slot`, package index, block offset, block count.
Blob at block offset × 16: magic `BlbS`, package index, checksum, length, then the header blob.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

from openhss.scan.analyzers.os.rpmdb.header import RpmHeaderError

_PAGE = 4096
_HEADER_MAGIC = int.from_bytes(b"RpmP", "little")
_SLOT_MAGIC = int.from_bytes(b"Slot", "little")
_BLOB_MAGIC = int.from_bytes(b"BlbS", "little")
_BLK = 16
_MAX_SLOT_PAGES = 2048
_MAX_BLOB = 64 * 1024 * 1024


def iter_ndb_blobs(f: BinaryIO, size: int) -> Iterator[bytes]:
    head = f.read(32)
    if len(head) < 32:
        raise RpmHeaderError("ndb: file shorter than its header")
    magic, version, _gen, slot_pages = struct.unpack_from("<IIII", head)
    if magic != _HEADER_MAGIC or version != 0:
        raise RpmHeaderError("ndb: bad magic or version")
    if slot_pages == 0 or slot_pages > _MAX_SLOT_PAGES or slot_pages * _PAGE > size:
        raise RpmHeaderError(f"ndb: implausible slot page count {slot_pages}")
    raw = f.read(slot_pages * _PAGE - 32)
    slots: list[tuple[int, int]] = []
    for pos in range(0, len(raw) - 15, 16):
        smagic, pkg_index, blk_off, _blk_cnt = struct.unpack_from("<IIII", raw, pos)
        if smagic != _SLOT_MAGIC:
            raise RpmHeaderError(f"ndb: bad slot magic at {32 + pos}")
        if pkg_index:
            slots.append((pkg_index, blk_off))
    for pkg_index, blk_off in slots:
        off = blk_off * _BLK
        if off + 16 > size:
            raise RpmHeaderError(f"ndb: blob of package {pkg_index} beyond end of file")
        f.seek(off)
        bmagic, bindex, _cksum, blen = struct.unpack("<IIII", f.read(16))
        if bmagic != _BLOB_MAGIC or bindex != pkg_index:
            raise RpmHeaderError(f"ndb: bad blob header for package {pkg_index}")
        if blen > _MAX_BLOB or off + 16 + blen > size:
            raise RpmHeaderError(f"ndb: blob of package {pkg_index} has implausible length {blen}")
        yield f.read(blen)
