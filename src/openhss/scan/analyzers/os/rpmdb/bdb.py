"""BerkeleyDB hash databases (`var/lib/rpm/Packages`, rpm < 4.16), read page by page.

Page 0 is the hash metadata page (magic 0x061561, page size, last page number; byte order is the
writer's, detected from the magic). Every hash page (types 2 and 13) holds an index of item offsets;
items alternate key/value. A package header is a value stored off-page (H_OFFPAGE, type 3) as a chain
of overflow pages, or, when small, on the page itself (H_KEYDATA, type 1). Chains are followed with a
visited set and a size cap, so loops and bogus page numbers in a corrupt file end in an error
instead of a hang.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import BinaryIO

from openhss.scan.analyzers.os.rpmdb.header import RpmHeaderError

_HASH_MAGIC = 0x061561
_PAGE_HEADER = 26
_HASH_UNSORTED, _HASH, _OVERFLOW = 2, 13, 7
_H_KEYDATA, _H_OFFPAGE = 1, 3
_MIN_HEADER = 8 + 16
_MAX_BLOB = 64 * 1024 * 1024


def iter_bdb_blobs(f: BinaryIO, size: int) -> Iterator[bytes]:
    meta = f.read(72)
    if len(meta) < 72:
        raise RpmHeaderError("bdb: file shorter than its metadata page")
    for order in ("<", ">"):
        if struct.unpack_from(order + "I", meta, 12)[0] == _HASH_MAGIC:
            break
    else:
        raise RpmHeaderError("bdb: not a BerkeleyDB hash database")
    page_size = struct.unpack_from(order + "I", meta, 20)[0]
    last_page = struct.unpack_from(order + "I", meta, 32)[0]
    if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
        raise RpmHeaderError(f"bdb: bad page size {page_size}")
    n_pages = size // page_size
    if last_page >= n_pages:
        raise RpmHeaderError(f"bdb: last page {last_page} beyond the file ({n_pages} pages)")

    def page(no: int) -> bytes:
        if no >= n_pages:
            raise RpmHeaderError(f"bdb: page {no} beyond the file")
        f.seek(no * page_size)
        data = f.read(page_size)
        if len(data) < page_size:
            raise RpmHeaderError(f"bdb: page {no} truncated")
        return data

    for no in range(1, last_page + 1):
        data = page(no)
        entries, _free, _level, ptype = struct.unpack_from(order + "HHBB", data, 20)
        if ptype not in (_HASH, _HASH_UNSORTED):
            continue
        if _PAGE_HEADER + 2 * entries > page_size:
            raise RpmHeaderError(f"bdb: page {no} has an impossible entry count {entries}")
        index = struct.unpack_from(order + f"{entries}H", data, _PAGE_HEADER)
        for i in range(1, entries, 2):
            item = index[i]
            if item >= page_size:
                raise RpmHeaderError(f"bdb: page {no} item {i} offset {item} outside the page")
            if data[item] == _H_OFFPAGE:
                if item + 12 > page_size:
                    raise RpmHeaderError(f"bdb: page {no} item {i} truncated")
                first, length = struct.unpack_from(order + "II", data, item + 4)
                yield _overflow_chain(page, first, length, order)
            elif data[item] == _H_KEYDATA:
                # Small headers live on the page itself; items grow down from the page end, so an
                # item ends where the previous one starts. Anything too small to be a header (the
                # "next instance" counter under key 0) is not one.
                end = index[i - 1]
                if not item < end <= page_size:
                    raise RpmHeaderError(f"bdb: page {no} item {i} has inconsistent bounds")
                if end - item - 1 >= _MIN_HEADER:
                    yield data[item + 1 : end]


def _overflow_chain(read_page: Callable[[int], bytes], first: int, length: int, order: str) -> bytes:
    if length > _MAX_BLOB:
        raise RpmHeaderError(f"bdb: overflow item of {length} bytes")
    out = bytearray()
    seen: set[int] = set()
    no = first
    while no != 0:
        if no in seen:
            raise RpmHeaderError(f"bdb: overflow chain loops at page {no}")
        seen.add(no)
        data = read_page(no)
        nxt = struct.unpack_from(order + "I", data, 16)[0]
        hf_offset = struct.unpack_from(order + "H", data, 22)[0]
        if data[25] != _OVERFLOW:
            raise RpmHeaderError(f"bdb: page {no} in an overflow chain is not an overflow page")
        # OV_LEN (the header's free-area field on overflow pages) is the data length on this page.
        chunk = data[_PAGE_HEADER : _PAGE_HEADER + min(hf_offset, len(data) - _PAGE_HEADER)]
        out += chunk
        if len(out) > _MAX_BLOB:
            raise RpmHeaderError("bdb: overflow chain exceeds the size limit")
        no = nxt
    return bytes(out[:length]) if length else bytes(out)
