"""`dir:ROOTFS`: an unpacked filesystem, presented as one synthetic layer without copying it.

The layer stream is a tar generated on the fly while the walker reads it: one directory walk, each
file opened only when its bytes are due, so memory is one read buffer whatever the tree's size.
Symlinks are emitted as symlinks (never followed), files are opened with O_NOFOLLOW, hard links
are emitted as tar hard links, sockets are skipped. There is no manifest, so the "diff_id" is a
digest of the tree's metadata (paths, modes, sizes, mtimes): it changes whenever the tree does,
which is what the layer cache needs from it.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from openhss.scan.errors import ImageNotFound
from openhss.scan.image import MT_DIR_LAYER, Image, ImageConfig, Layer, Platform
from openhss.scan.refs import ImageRef, Transport
from openhss.scan.sources.base import ImageHandle, Source, SourceOptions, check_image_size

_CHUNK = 1024 * 1024


def _walk(root: str) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat) for every entry, sorted, directories before their contents."""
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(f"{root}/{rel}" if rel else root) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            path = f"{rel}/{entry.name}" if rel else entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            yield path, st
            if stat.S_ISDIR(st.st_mode):
                subdirs.append(path)
        stack.extend(reversed(subdirs))


def _info(
    path: str, st: os.stat_result, root: str, links: dict[tuple[int, int], str]
) -> tarfile.TarInfo | None:
    ti = tarfile.TarInfo(path)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.mtime = int(st.st_mtime)
    mode = st.st_mode
    if stat.S_ISREG(mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            ti.type, ti.linkname = tarfile.LNKTYPE, links[key]
        else:
            if st.st_nlink > 1:
                links[key] = path
            ti.type, ti.size = tarfile.REGTYPE, st.st_size
    elif stat.S_ISDIR(mode):
        ti.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        ti.type = tarfile.SYMTYPE
        try:
            ti.linkname = os.readlink(f"{root}/{path}")  # noqa: PTH115
        except OSError:
            return None
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        ti.type = tarfile.FIFOTYPE
    else:
        return None  # sockets and unknown kinds have no tar form
    return ti


def _file_chunks(full: str, size: int) -> Iterator[bytes]:
    """Exactly `size` bytes (zero-padded if the file shrank meanwhile, cut if it grew)."""
    left = size
    try:
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        fd = -1
    if fd >= 0:
        with os.fdopen(fd, "rb", buffering=0) as f:
            while left > 0:
                data = f.read(min(_CHUNK, left))
                if not data:
                    break
                left -= len(data)
                yield data
    while left > 0:
        n = min(_CHUNK, left)
        left -= n
        yield b"\0" * n


def tar_stream(root: str) -> Iterator[bytes]:
    links: dict[tuple[int, int], str] = {}
    for path, st in _walk(root):
        ti = _info(path, st, root, links)
        if ti is None:
            continue
        yield ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        if ti.type == tarfile.REGTYPE and ti.size:
            yield from _file_chunks(f"{root}/{path}", ti.size)
            pad = -ti.size % tarfile.BLOCKSIZE
            if pad:
                yield b"\0" * pad
    yield b"\0" * (tarfile.BLOCKSIZE * 2)


class _IterStream(io.RawIOBase):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        while not self._buf:
            nxt = next(self._chunks, None)
            if nxt is None:
                return 0
            self._buf = nxt
        n = min(len(buf), len(self._buf))
        buf[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def tree_summary(root: str) -> tuple[str, int]:
    """(metadata digest, total file bytes) from one stat-only walk."""
    h = hashlib.sha256()
    total = 0
    for path, st in _walk(root):
        h.update(f"{path}\0{st.st_mode}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_uid}:{st.st_gid}\n".encode())
        if stat.S_ISREG(st.st_mode):
            total += st.st_size
    return "sha256:" + h.hexdigest(), total


class DirHandle(ImageHandle):
    def __init__(self, ref: ImageRef, image: Image, root: str) -> None:
        super().__init__(ref, image)
        self.root = root

    def open_layer(self, layer: Layer) -> BinaryIO:
        return io.BufferedReader(_IterStream(tar_stream(self.root)), _CHUNK)


class DirSource(Source):
    transport = Transport.DIR

    def open(self, ref: ImageRef, options: SourceOptions) -> ImageHandle:
        root = Path(ref.path)
        if not root.is_dir():
            raise ImageNotFound(f"{ref.path} is not a directory")
        digest, total = tree_summary(str(root))
        layer = Layer(
            digest=digest, diff_id=digest, size=total, media_type=MT_DIR_LAYER, uncompressed_size=None
        )
        config = ImageConfig(platform=options.platform, diff_ids=(digest,))
        image = Image("", "", "", config, (layer,))
        check_image_size(image, options)
        return DirHandle(ref, image, str(root))

    def platforms(self, ref: ImageRef, options: SourceOptions) -> list[Platform]:
        return [options.platform]
