"""Safe streaming walk over one layer: decompress, parse tar headers, normalise paths, enforce limits.

Why a hand-written tar parser rather than `tarfile`: `tarfile` reads GNU long names and PAX headers
of any declared size into memory in one call, keeps every member in a list (millions of tiny members
mean gigabytes), and treats a stream that stops between headers as a clean end. Here every header is
bounded, nothing is retained per member, truncation is an error, and the walk never writes anything:
members are handed out as bounded readers over the one decompression stream.

Decompression is chosen by sniffing the first bytes (media types lie: docker-archive layers are
labelled gzip after being stored uncompressed); gzip goes through ISA-L (`isal.igzip`), zstd
through `zstandard`, both streaming. Whiteouts are not yielded as files: they delete entries of
*lower* layers, so they are collected on the reader for whoever folds the layers.
"""

from __future__ import annotations

import bz2
import contextlib
import hashlib
import io
import logging
import lzma
import posixpath
import queue
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Final, TypeVar, cast

import zstandard
from isal import igzip, isal_zlib

from openhss.domain.enums import EntryKind
from openhss.scan.analyzers.base import FileEntry
from openhss.scan.errors import CorruptImage, DiffIdMismatch, ImageOversized

log = logging.getLogger(__name__)
_T = TypeVar("_T")

BLOCK: Final = 512
_ZERO_BLOCK: Final = bytes(BLOCK)
#: The PAX fields of a member that has none (most of them): shared, never written to.
_NO_FIELDS: Final[dict[str, bytes]] = {}
#: Hostile members listed by name per layer; more are counted in one line.
MAX_SKIP_RECORDS: Final = 100
CHUNK: Final = 1024 * 1024
#: Piece of uncompressed tar the decompression thread hands over (at most `depth` of them queued).
PUMP_CHUNK: Final = 256 * 1024
#: Read size of a seekable plain tar, whose member data is seeked over rather than read.
SEEK_CHUNK: Final = 64 * 1024
WHITEOUT_PREFIX: Final = ".wh."
OPAQUE_MARKER: Final = ".wh..wh..opq"

GZIP_MAGIC: Final = b"\x1f\x8b"
ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
XZ_MAGIC: Final = b"\xfd7zXZ\x00"
BZIP2_MAGIC: Final = b"BZh"

_KIND_BY_TYPE: Final = {
    b"0": EntryKind.FILE,
    b"\x00": EntryKind.FILE,
    b"7": EntryKind.FILE,
    b"1": EntryKind.HARDLINK,
    b"2": EntryKind.SYMLINK,
    b"5": EntryKind.DIR,
    b"3": EntryKind.OTHER,  # character device
    b"4": EntryKind.OTHER,  # block device
    b"6": EntryKind.OTHER,  # fifo
}


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on hostile input. Byte limits count *uncompressed* tar bytes, so a bomb hits them early."""

    max_layer_bytes: int = 16 * 1024**3
    max_image_bytes: int = 32 * 1024**3
    max_members: int = 2_000_000
    max_path_length: int = 4096
    # PAX records / GNU long names larger than this are hostile: real ones are a few hundred bytes.
    max_header_bytes: int = 1024 * 1024


@dataclass(slots=True)
class ImageBudget:
    """Uncompressed bytes consumed so far across the layers of one image (shared by their readers)."""

    limits: Limits
    used: int = 0

    def charge(self, n: int) -> None:
        self.used += n
        if self.used > self.limits.max_image_bytes:
            raise ImageOversized(
                f"image exceeds the maximum uncompressed size of {self.limits.max_image_bytes} bytes"
            )


def normalize_path(name: str) -> str | None:
    """Image-root-relative path without `.`/`..`/empty segments; None if `..` climbs above the root.

    A leading `/` is dropped, as every tar implementation does; `a/../b` becomes `b`. The empty
    string (the root itself) is returned as "" so callers can skip it.
    """
    while name.startswith("./"):
        name = name[2:]
    if not name.startswith((".", "/")) and "//" not in name and "/." not in name and not name.endswith("/"):
        return name  # already normal: no empty, `.` or `..` segment can hide in it (most members)
    parts: list[str] = []
    for seg in name.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(seg)
    return "/".join(parts)


def resolve_link(path: str, linkname: str) -> str:
    """Where a symlink at `path` points, resolved lexically *inside* the image root.

    Like a chroot: `..` at the root stays at the root, absolute targets start at the root, so a link
    to `../../../etc/shadow` means the image's `etc/shadow`, never the host's.
    """
    base = "" if linkname.startswith("/") else posixpath.dirname(path)
    parts: list[str] = []
    for seg in f"{base}/{linkname}".split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if parts:
                parts.pop()
        else:
            parts.append(seg)
    return "/".join(parts)


def sniff_compression(head: bytes) -> str:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(XZ_MAGIC):
        return "xz"
    if head.startswith(BZIP2_MAGIC):
        return "bzip2"
    return "tar"


class _Prefixed(io.RawIOBase):
    """Replays sniffed bytes before the rest of a non-seekable stream."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buf))
        buf[: len(data)] = data
        return len(data)


def _is_seekable(stream: BinaryIO) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _read_head(stream: BinaryIO, n: int) -> bytes:
    out = b""
    while len(out) < n:
        data = stream.read(n - len(out))
        if not data:
            break
        out += data
    return out


def open_decompressed(stream: BinaryIO, media_type: str = "") -> tuple[BinaryIO, str]:
    """Wrap `stream` in the right streaming decompressor; returns it with the detected format.

    A seekable plain tar is returned as-is so the walker can seek over unwanted member data.
    """
    seekable = _is_seekable(stream)
    head = _read_head(stream, 8)
    kind = sniff_compression(head)
    if seekable:
        stream.seek(-len(head), io.SEEK_CUR)
        if kind == "tar":
            return stream, kind
    if kind == "tar" and media_type.endswith(("+gzip", ".gzip", "+zstd")) and head[:1] not in (b"", b"\x00"):
        # Some writers label plain tars as gzip; the bytes decide. Anything else is logged for triage.
        log.debug("layer labelled %s is an uncompressed tar", media_type)
    raw = stream if seekable else io.BufferedReader(_Prefixed(head, stream), CHUNK)
    if kind == "gzip":
        return igzip.GzipFile(fileobj=raw, mode="rb"), kind  # type: ignore[no-untyped-call,return-value]
    if kind == "zstd":
        dctx = zstandard.ZstdDecompressor()
        return dctx.stream_reader(raw, read_size=CHUNK, read_across_frames=True), kind
    if kind == "xz":
        return lzma.LZMAFile(raw), kind  # type: ignore[return-value]
    if kind == "bzip2":
        return bz2.BZ2File(raw), kind  # type: ignore[return-value]
    return raw, kind


_DECOMPRESS_ERRORS: Final[tuple[type[BaseException], ...]] = (
    OSError,
    EOFError,
    zlib.error,
    cast("type[BaseException]", isal_zlib.error),  # the stub declares an instance; it is a class
    zstandard.ZstdError,
    lzma.LZMAError,
)


def _parse_number(field_: bytes) -> int:
    if field_ and field_[0] & 0x80:  # GNU base-256
        value = int.from_bytes(field_[1:], "big")
        if field_[0] & 0x40:
            raise CorruptImage("negative number in tar header")
        return value
    text = field_.partition(b"\x00")[0]
    try:
        return int(text, 8)  # the common case: digits, maybe padded with spaces (int() strips them)
    except ValueError:
        pass
    text = text.strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise CorruptImage(f"invalid octal field {field_!r} in tar header") from None


def _signed_checksum(block: bytes) -> int:
    """Historic writers summed signed chars; accepted like GNU tar and Go do."""
    signed = block[:148] + b" " * 8 + block[156:]
    return sum(b - 256 if b > 127 else b for b in signed)


def _cstr(field_: bytes) -> bytes:
    return field_.split(b"\x00", 1)[0]


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _parse_pax(data: bytes) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            break
        sp = data.find(b" ", pos)
        if sp < 0:
            raise CorruptImage("malformed PAX header")
        try:
            length = int(data[pos:sp])
        except ValueError:
            raise CorruptImage("malformed PAX record length") from None
        if length <= sp - pos or pos + length > len(data):
            raise CorruptImage("PAX record length out of range")
        record = data[sp + 1 : pos + length - 1]
        key, eq, value = record.partition(b"=")
        if not eq:
            raise CorruptImage("PAX record without '='")
        out[key.decode("utf-8", "replace")] = value
        pos += length
    return out


class _MemberReader(io.RawIOBase):
    """Reads exactly one member's data from the layer stream; the walker skips whatever is left."""

    def __init__(self, owner: LayerReader, size: int) -> None:
        self._owner = owner
        self.remaining = size

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        if self.remaining <= 0:
            return 0
        n = min(len(buf), self.remaining)
        data = self._owner._read_exact(n, "member data")
        buf[:n] = data
        self.remaining -= n
        return n

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self.remaining
        n = min(size, self.remaining)
        if n <= 0:
            return b""
        data = self._owner._read_exact(n, "member data")
        self.remaining -= n
        return data


def _offer(q: queue.Queue[_T], stop: threading.Event, item: _T) -> bool:
    """Hand `item` to a reader thread's consumer through the bounded queue; False once `stop` is set
    (the consumer gave up), so the producer ends instead of blocking on a queue nobody drains."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


class Prefetcher(io.RawIOBase):
    """Reads (and so hashes) the stored blob in a background thread, `depth` chunks ahead.

    Fetching and sha256 release the GIL, so on two cores they overlap with decompression and tar
    parsing instead of adding to them; the bounded queue keeps memory at `depth` chunks.
    Errors raised by the reader thread (digest mismatch, network) surface on the consumer's read.
    """

    def __init__(self, inner: BinaryIO, chunk: int = 1024 * 1024, depth: int = 4) -> None:
        self._inner = inner
        self._chunk = chunk
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(depth)
        self._stop = threading.Event()
        self._buf = memoryview(b"")
        self._eof = False
        self._thread = threading.Thread(target=self._run, name="blob-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item: bytes | BaseException | None) -> bool:
        return _offer(self._queue, self._stop, item)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._inner.read(self._chunk)
                if not self._put(data or None) or not data:
                    return
        except BaseException as exc:  # handed to the consumer thread
            self._put(exc)

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        if not self._buf:
            if self._eof:
                return 0
            item = self._queue.get()
            if item is None:
                self._eof = True
                return 0
            if isinstance(item, BaseException):
                self._eof = True
                raise item
            self._buf = memoryview(item)
        n = min(len(buf), len(self._buf))
        buf[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self._stop.set()
            self._thread.join()
            self._inner.close()
        super().close()


class _Pump:
    """Decompression (and diff_id hashing) in a thread of its own, `depth` chunks ahead of the parser.

    ISA-L inflate, zstd, xz, bzip2 and sha256 all release the GIL, so on two cores the tar parsing and
    the analyzers run while the next megabytes are inflated, instead of after: the walk costs the
    larger of the two, not their sum. The bounded queue keeps memory at `depth` chunks. Errors of the
    thread (corrupt stream, a source's digest mismatch) are raised on the consumer's next `get`, after
    every byte that preceded them, so the parser reports what it would have reported reading inline.
    """

    def __init__(
        self,
        stream: BinaryIO,
        raw: BinaryIO,
        hasher: hashlib._Hash | None,
        compression: str,
        chunk: int = PUMP_CHUNK,
        depth: int = 4,
    ) -> None:
        self._stream = stream
        self._chunk = chunk
        self._raw = raw
        self._hasher = hasher
        self._compression = compression
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(depth)
        self._stop = threading.Event()
        self._end: BaseException | None = None
        self._eof = False
        self._thread = threading.Thread(target=self._run, name="layer-inflate", daemon=True)
        self._thread.start()

    def _put(self, item: bytes | BaseException) -> bool:
        return _offer(self._queue, self._stop, item)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    data = self._stream.read(self._chunk)
                except _DECOMPRESS_ERRORS as exc:
                    raise CorruptImage(f"corrupt {self._compression} layer stream: {exc}") from None
                if not data:
                    break
                if self._hasher is not None:
                    self._hasher.update(data)
                if not self._put(data):
                    return
            else:
                return
            # A digest-verifying source checks the blob at its end, whatever trails the compressed data.
            while self._raw.read(CHUNK):
                if self._stop.is_set():
                    return
            self._put(b"")
        except BaseException as exc:  # handed to the consumer thread
            self._put(exc)

    def get(self) -> bytes:
        """The next chunk of the uncompressed stream; b"" at its end."""
        if self._end is not None:
            raise self._end
        if self._eof:
            return b""
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._end = item
            raise item
        if not item:
            self._eof = True
        return item

    def close(self) -> None:
        """Stop the thread (the consumer is done or gave up) and wait for it: nothing reads afterwards."""
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.1)
        self._thread.join()


@dataclass(slots=True)
class LayerStats:
    members: int = 0
    uncompressed_bytes: int = 0
    compression: str = ""


class LayerReader:
    """One streaming pass over a layer tar. Iterate for `(FileEntry, reader-or-None)` pairs.

    The reader is only valid until the next iteration step (the stream moves on). After iteration,
    `whiteouts`/`opaque_dirs` hold what the layer deletes below it, `warnings` what was skipped and
    `skipped` the members too hostile to hand out (over-long names and paths), as (path, reason).
    The underlying stream is read to its end so a digest-verifying source sees every byte.

    With `expected_diff_id` the uncompressed tar is hashed as it streams and the iteration ends with
    `DiffIdMismatch` when it differs: the check costs no second pass, and the caller stores nothing
    before the iteration has ended. When the stored blob *is* the tar (`blob_digest` equals the
    diff_id and no compression was found), the source's own verification of the blob already covers
    it and the bytes are not hashed twice.

    A compressed, hashed or non-seekable layer is inflated (and hashed) by a `_Pump` thread in pieces
    of `pump_chunk` bytes while this thread parses headers; a seekable plain tar is read inline and its
    unwanted member data seeked over. Either way headers and member data are sliced from one buffer.
    """

    def __init__(
        self,
        stream: BinaryIO,
        media_type: str = "",
        limits: Limits | None = None,
        budget: ImageBudget | None = None,
        *,
        hash_diff_id: bool = False,
        expected_diff_id: str = "",
        blob_digest: str = "",
        pump_chunk: int = PUMP_CHUNK,
    ) -> None:
        if pump_chunk <= 0:
            raise ValueError(f"pump_chunk must be positive, not {pump_chunk}")
        self._pump_chunk = pump_chunk
        self.limits = limits or Limits()
        self.budget = budget
        self._raw = stream
        self._media_type = media_type
        self._stream: BinaryIO | None = None
        self._expected = expected_diff_id
        self._blob_digest = blob_digest
        self._hash_requested = hash_diff_id
        self._hasher = hashlib.sha256() if hash_diff_id or expected_diff_id else None
        self.whiteouts: list[str] = []
        self.skipped: list[tuple[str, str]] = []
        #: Why the next member is not handed out (its GNU long name / PAX header was over the limit).
        self._poisoned = ""
        self._unlisted_skips = 0
        self.opaque_dirs: list[str] = []
        self.warnings: list[str] = []
        self.stats = LayerStats()
        self._global_pax: dict[str, bytes] = {}
        self._seek_ok = False
        #: Uncompressed bytes not yet parsed: `_buf[_pos:]`. Headers and member data are sliced out
        #: of it, and skipped data is only stepped over, never copied.
        self._buf = b""
        self._pos = 0
        self._pump: _Pump | None = None

    @property
    def diff_id(self) -> str:
        """sha256 of the uncompressed tar, when `hash_diff_id` was requested (after iteration)."""
        return "sha256:" + self._hasher.hexdigest() if self._hasher is not None else ""

    def _charge(self, n: int) -> None:
        self.stats.uncompressed_bytes += n
        if self.stats.uncompressed_bytes > self.limits.max_layer_bytes:
            raise ImageOversized(
                f"layer exceeds the maximum uncompressed size of {self.limits.max_layer_bytes} bytes"
            )
        if self.budget is not None:
            self.budget.charge(n)

    def _next_chunk(self) -> bytes:
        """The next piece of the uncompressed tar (b"" at its end), charged against the limits.

        Compressed and hashed layers come from the decompression thread (`_Pump`); a seekable plain
        tar is read here directly, in small pieces, since member data is skipped by seeking.
        """
        if self._pump is not None:
            data = self._pump.get()
        else:
            assert self._stream is not None
            try:
                data = self._stream.read(SEEK_CHUNK)
            except _DECOMPRESS_ERRORS as exc:
                raise CorruptImage(f"corrupt {self.stats.compression} layer stream: {exc}") from None
        if data:
            self._charge(len(data))
        return data

    def _read_exact(self, n: int, what: str) -> bytes:
        buf, pos = self._buf, self._pos
        end = pos + n
        if end <= len(buf):
            self._pos = end
            return buf[pos:end]
        parts = [buf[pos:]]
        got = len(buf) - pos
        while got < n:
            chunk = self._next_chunk()
            if not chunk:
                self._buf, self._pos = b"", 0
                raise CorruptImage(f"layer tar truncated in {what} ({got} of {n} bytes)")
            take = min(n - got, len(chunk))
            parts.append(chunk[:take])
            self._buf, self._pos = chunk, take
            got += take
        return b"".join(parts)

    def _skip(self, n: int) -> None:
        left = len(self._buf) - self._pos
        if n <= left:
            self._pos += n
            return
        n -= left
        self._buf, self._pos = b"", 0
        if self._seek_ok and n > 0:
            self._charge(n)
            assert self._stream is not None
            self._stream.seek(n, io.SEEK_CUR)
            return
        while n > 0:
            chunk = self._next_chunk()
            if not chunk:
                raise CorruptImage("layer tar truncated in member data")
            if len(chunk) > n:
                self._buf, self._pos = chunk, n
                return
            n -= len(chunk)

    def tell(self) -> int:
        """Offset in the underlying seekable plain tar (where the current member's data starts)."""
        assert self._stream is not None
        return self._stream.tell() - (len(self._buf) - self._pos)

    def _drain(self) -> None:
        """Consume trailing padding and let the decompressor and any verifying source see EOF."""
        if self._seek_ok:
            assert self._stream is not None
            here = self._stream.tell()
            self._charge(max(0, self._stream.seek(0, io.SEEK_END) - here))
            self._buf, self._pos = b"", 0
            return
        self._buf, self._pos = b"", 0
        while self._next_chunk():
            pass

    def _read_header_block(self) -> bytes:
        buf, pos = self._buf, self._pos
        if pos + BLOCK <= len(buf):
            self._pos = pos + BLOCK
            return buf[pos : pos + BLOCK]
        if pos == len(buf):
            chunk = self._next_chunk()
            if not chunk:
                # Every real writer ends with zero blocks; without them a truncated compressed stream
                # (zstd gives no end-of-frame error) would pass as a shorter, valid layer.
                raise CorruptImage("layer tar truncated: stream ended without the end-of-archive marker")
            self._buf, self._pos = chunk, 0
            if len(chunk) >= BLOCK:
                self._pos = BLOCK
                return chunk[:BLOCK]
        try:
            return self._read_exact(BLOCK, "header")
        except CorruptImage:
            raise CorruptImage("layer tar truncated inside a header") from None

    def _long_data(self, size: int, what: str) -> bytes:
        """The data of a long-name/PAX pseudo member, or b"" when it is over the limit.

        An over-long one is skipped unread and poisons the member it describes: that member becomes a
        reported skip, the rest of the layer is still walked (one planted name must not hide an image).
        """
        if size > self.limits.max_header_bytes:
            self._skip(size + (-size) % BLOCK)
            self._poisoned = f"tar {what} of {size} bytes exceeds {self.limits.max_header_bytes}"
            return b""
        data = self._read_exact(size, what)
        self._skip((-size) % BLOCK)
        return data

    def _path_problem(self, path: str, what: str = "path") -> str:
        if len(path) > self.limits.max_path_length:
            return f"tar member {what} of {len(path)} characters exceeds {self.limits.max_path_length}"
        return ""

    def _skip_member(self, name: str, reason: str, size: int) -> None:
        if len(self.skipped) < MAX_SKIP_RECORDS:
            shown = name if len(name) <= 200 else f"{name[:200]}… ({len(name)} characters)"
            self.skipped.append((shown, reason))
        else:  # a 10k-level tree skips thousands of directories: counted, not each listed
            self._unlisted_skips += 1
        self._skip(size)

    def _verify_diff_id(self) -> None:
        if not self._expected or self._hasher is None:
            return
        actual = "sha256:" + self._hasher.hexdigest()
        if actual != self._expected.lower():
            raise DiffIdMismatch(
                f"layer content hashes to {actual}, but the image config names diff_id {self._expected}"
            )

    def __iter__(self) -> Iterator[tuple[FileEntry, BinaryIO | None]]:
        try:
            self._stream, self.stats.compression = open_decompressed(self._raw, self._media_type)
            if (
                self._expected
                and not self._hash_requested
                and self.stats.compression == "tar"
                and self._blob_digest.lower() == self._expected.lower()
            ):
                self._hasher = None  # the source verifies these very bytes against the same digest
            self._seek_ok = self._stream is self._raw and self._hasher is None
        except _DECOMPRESS_ERRORS as exc:
            raise CorruptImage(f"cannot open layer stream: {exc}") from None
        if not self._seek_ok:
            self._pump = _Pump(
                self._stream, self._raw, self._hasher, self.stats.compression, self._pump_chunk
            )
        try:
            yield from self._members()
        finally:
            if self._pump is not None:
                self._pump.close()
                self._pump = None

    def _members(self) -> Iterator[tuple[FileEntry, BinaryIO | None]]:
        long_name: bytes | None = None
        long_link: bytes | None = None
        pax: dict[str, bytes] = {}
        while True:
            block = self._read_header_block()
            if block == _ZERO_BLOCK:
                break
            stored = _parse_number(block[148:156])
            unsigned = sum(block) - sum(block[148:156]) + 256  # the checksum field counts as spaces
            if stored != unsigned and stored != _signed_checksum(block):
                raise CorruptImage("invalid tar header checksum (not a tar stream, or corrupt)")
            typeflag = block[156:157]
            size = _parse_number(block[124:136])
            if typeflag == b"L":
                long_name = _cstr(self._long_data(size, "GNU long name"))
                continue
            if typeflag == b"K":
                long_link = _cstr(self._long_data(size, "GNU long link"))
                continue
            if typeflag == b"x":
                pax = _parse_pax(self._long_data(size, "PAX header"))
                continue
            if typeflag == b"g":
                self._global_pax.update(_parse_pax(self._long_data(size, "PAX global header")))
                continue
            self.stats.members += 1
            if self.stats.members > self.limits.max_members:
                raise ImageOversized(f"layer has more than {self.limits.max_members} tar members")
            fields = {**self._global_pax, **pax} if pax or self._global_pax else _NO_FIELDS
            name = _cstr(block[0:100])
            if block[257:263] == b"ustar\x00":
                prefix = _cstr(block[345:500])
                if prefix:
                    name = prefix + b"/" + name
            raw_name = fields.get("path", long_name or name)
            raw_link = fields.get("linkpath", long_link or _cstr(block[157:257]))
            if "size" in fields:
                try:
                    size = int(fields["size"])
                except ValueError:
                    raise CorruptImage("invalid PAX size") from None
                if size < 0:
                    raise CorruptImage("negative PAX size")
            long_name = long_link = None
            pax = {}
            poisoned, self._poisoned = self._poisoned, ""
            if poisoned:
                self._skip_member(_decode(raw_name), poisoned, size + (-size) % BLOCK)
                continue
            kind = _KIND_BY_TYPE.get(typeflag)
            if kind is None:
                # GNU sparse, volume labels, vendor extensions: never content an analyzer should trust.
                self.warnings.append(
                    f"skipped tar member of unsupported type {typeflag!r}: {_decode(raw_name)!r}"
                )
                self._skip(size + (-size) % BLOCK)
                continue
            data_size = size if kind is EntryKind.FILE else 0
            if kind is not EntryKind.FILE and size:
                self._skip(size + (-size) % BLOCK)  # links/dirs/devices carry no data; skip any anyway
            entry = self._entry(block, fields, raw_name, raw_link, kind, data_size)
            if entry is not None:
                if kind is EntryKind.FILE:
                    member = _MemberReader(self, data_size)
                    yield entry, member  # type: ignore[misc]
                    if member.remaining:
                        self._skip(member.remaining)
                        member.remaining = 0
                else:
                    yield entry, None
            if data_size:
                self._skip((-data_size) % BLOCK)
        self._drain()
        self._verify_diff_id()
        if self._unlisted_skips:
            self.skipped.append(("", f"{self._unlisted_skips} more hostile tar members skipped"))

    def _entry(
        self,
        block: bytes,
        fields: dict[str, bytes],
        raw_name: bytes,
        raw_link: bytes,
        kind: EntryKind,
        size: int,
    ) -> FileEntry | None:
        """The member as analyzers see it, or None (skipped, recorded) with its data already skipped.

        A plain function, not a generator: it runs for every member, and the walk of a layer of
        small files is mostly this and the header parse."""
        name = _decode(raw_name)
        problem = self._path_problem(name)
        if problem:
            self._skip_member(name, problem, size)
            return None
        if "\x00" in name:
            self.warnings.append(f"skipped member with NUL in its name: {name!r}")
            self._skip(size)
            return None
        path = normalize_path(name)
        if path is None:
            self.warnings.append(f"skipped member escaping the image root: {name!r}")
            self._skip(size)
            return None
        if not path:
            self._skip(size)  # the root directory itself
            return None
        parent, _, base = path.rpartition("/")
        if base.startswith(WHITEOUT_PREFIX):
            if base == OPAQUE_MARKER:
                self.opaque_dirs.append(parent)
            elif base == WHITEOUT_PREFIX or base.startswith(".wh..wh."):
                self.warnings.append(f"skipped unknown whiteout-like member {path!r}")
            else:
                self.whiteouts.append(posixpath.join(parent, base[len(WHITEOUT_PREFIX) :]))
            self._skip(size)
            return None
        linkname = _decode(raw_link)
        if kind is EntryKind.HARDLINK:
            target = normalize_path(linkname)
            if not target:
                self.warnings.append(f"skipped hard link {path!r} escaping the image root: {linkname!r}")
                return None
            linkname = target
        elif kind is EntryKind.SYMLINK:
            problem = self._path_problem(linkname, "link target")
            if problem:
                self._skip_member(path, problem, size)
                return None
        if not fields:
            return FileEntry(
                path,
                size,
                _parse_number(block[100:108]) & 0o7777,
                kind,
                _parse_number(block[108:116]),
                _parse_number(block[116:124]),
                linkname,
                _parse_number(block[136:148]),
            )
        return FileEntry(
            path=path,
            size=size,
            mode=_num(fields, "mode", block[100:108]) & 0o7777,
            kind=kind,
            uid=_num(fields, "uid", block[108:116]),
            gid=_num(fields, "gid", block[116:124]),
            linkname=linkname,
            mtime=_num(fields, "mtime", block[136:148]),
        )


def _num(fields: dict[str, bytes], key: str, raw: bytes) -> int:
    if key in fields:
        text = fields[key]
        try:
            return int(text)
        except ValueError:
            pass
        try:
            # PAX times may carry a fraction ("1700000000.5"); "inf" or "1e999" overflow int().
            return int(float(text))
        except (ValueError, OverflowError):
            raise CorruptImage(f"invalid PAX {key}") from None
    return _parse_number(raw)


def iter_layer(
    stream: BinaryIO, media_type: str = "", limits: Limits | None = None, budget: ImageBudget | None = None
) -> Iterator[tuple[FileEntry, BinaryIO | None]]:
    """Function form of `LayerReader` for callers that need no whiteout/warning bookkeeping."""
    yield from LayerReader(stream, media_type, limits, budget)


@dataclass(slots=True)
class LayerSummary:
    """What a bare walk (no analyzers) learned: used by the benchmark and by sources' sanity checks."""

    stats: LayerStats
    whiteouts: list[str] = field(default_factory=list)
    opaque_dirs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
