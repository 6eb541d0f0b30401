"""OCI image layout, as a directory (`oci:DIR`) or as a tar of one (`oci-archive:PATH`).

Both read the same structure (`index.json` → manifest or nested index → manifest → config + layers),
so one resolver works over a small "blob store" interface. The archive is read in place: an
uncompressed tar is indexed once (member offsets only) and each blob is a bounded window into the
file, so nothing is extracted to disk and nothing larger than a manifest is held in memory.
"""

from __future__ import annotations

import io
import os
import re
import tarfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, BinaryIO

from openhss.scan.errors import CorruptImage, ImageNotFound
from openhss.scan.image import (
    INDEX_TYPES,
    MAX_METADATA_BYTES,
    Image,
    Layer,
    Platform,
    build_image,
    index_platforms,
    load_json,
    manifest_kind,
    parse_descriptor,
    parse_manifest,
    select_platform,
    verify_digest,
)
from openhss.scan.refs import ImageRef, Transport
from openhss.scan.sources.base import ImageHandle, Source, SourceOptions, check_image_size, verified

_REF_NAME = "org.opencontainers.image.ref.name"
_DIGEST_RE = re.compile(r"^(sha256|sha512):([0-9a-f]{64,128})$")


class BlobStore(ABC):
    """Where an OCI layout's files live; paths are layout-relative and never leave the layout."""

    @abstractmethod
    def open_file(self, relpath: str) -> tuple[BinaryIO, int]:
        """A stream over one file of the layout and its size; `ImageNotFound` if absent."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the store."""

    def read_small(self, relpath: str, what: str) -> bytes:
        stream, size = self.open_file(relpath)
        with stream:
            if size > MAX_METADATA_BYTES:
                raise CorruptImage(f"{what} is {size} bytes, larger than {MAX_METADATA_BYTES}")
            return stream.read(MAX_METADATA_BYTES + 1)

    def blob_path(self, digest: str) -> str:
        m = _DIGEST_RE.match(digest)
        if not m:
            raise CorruptImage(f"invalid blob digest {digest!r}")
        return f"blobs/{m.group(1)}/{m.group(2)}"

    def read_blob(self, digest: str, what: str) -> bytes:
        data = self.read_small(self.blob_path(digest), what)
        verify_digest(data, digest, what)
        return data

    def open_blob(self, digest: str, size: int, what: str) -> BinaryIO:
        stream, _ = self.open_file(self.blob_path(digest))
        return verified(stream, digest, size, what)


class DirStore(BlobStore):
    def __init__(self, root: Path) -> None:
        if not (root / "index.json").is_file():
            raise ImageNotFound(f"{root} is not an OCI image layout (no index.json)")
        self.root = root

    def open_file(self, relpath: str) -> tuple[BinaryIO, int]:
        path = self.root / relpath
        try:
            # O_NOFOLLOW: a layout whose blob is a symlink elsewhere on this host is not read through.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise ImageNotFound(f"{relpath} missing from OCI layout {self.root}") from None
        except OSError as exc:
            raise CorruptImage(f"cannot open {relpath} in OCI layout {self.root}: {exc}") from None
        f = os.fdopen(fd, "rb")
        return f, os.fstat(fd).st_size


class _Window(io.RawIOBase):
    """A read-only window [start, start+size) of a file, with its own file descriptor."""

    def __init__(self, path: Path, start: int, size: int) -> None:
        self._f = path.open("rb")
        self._f.seek(start)
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        n = min(len(buf), self._left)
        if n <= 0:
            return 0
        got = self._f.readinto(buf[:n])
        if not got:
            raise CorruptImage("archive truncated inside a blob")
        self._left -= got
        return got

    def close(self) -> None:
        self._f.close()
        super().close()


def norm_member(name: str) -> str:
    return os.path.normpath("/" + name).lstrip("/").replace(os.sep, "/")


class TarStore(BlobStore):
    """An uncompressed tar indexed by member name; members are read as windows into the file."""

    def __init__(self, path: Path, max_members: int = 1_000_000) -> None:
        self.path = path
        self.members: dict[str, tuple[int, int]] = {}
        links: dict[str, str] = {}
        try:
            with tarfile.open(path, "r:") as tf:
                for count, ti in enumerate(tf):
                    if count > max_members:
                        raise CorruptImage(f"{path}: more than {max_members} members")
                    name = norm_member(ti.name)
                    if ti.isfile():
                        self.members[name] = (ti.offset_data, ti.size)
                    elif ti.issym() or ti.islnk():
                        # skopeo's docker-archive links `<id>/layer.tar` to `<diffid>.tar`.
                        base = name.rpartition("/")[0] if ti.issym() else ""
                        links[name] = norm_member(f"{base}/{ti.linkname}" if base else ti.linkname)
        except FileNotFoundError:
            raise ImageNotFound(f"archive {path} does not exist") from None
        except (tarfile.TarError, EOFError) as exc:
            raise CorruptImage(f"{path} is not a readable uncompressed tar: {exc}") from None
        for name, target in links.items():
            if target in self.members and name not in self.members:
                self.members[name] = self.members[target]

    def open_file(self, relpath: str) -> tuple[BinaryIO, int]:
        try:
            start, size = self.members[relpath]
        except KeyError:
            raise ImageNotFound(f"{relpath} missing from archive {self.path}") from None
        if start + size > self.path.stat().st_size:
            raise CorruptImage(f"{self.path}: {relpath} extends past the end of the archive")
        return io.BufferedReader(_Window(self.path, start, size), 1024 * 1024), size


class BlobHandle(ImageHandle):
    def __init__(self, ref: ImageRef, image: Image, store: BlobStore) -> None:
        super().__init__(ref, image)
        self.store = store

    def open_layer(self, layer: Layer) -> BinaryIO:
        return self.store.open_blob(layer.digest, layer.size, f"layer {layer.digest}")

    def close(self) -> None:
        self.store.close()


def _top_index(store: BlobStore) -> dict[str, Any]:
    return load_json(store.read_small("index.json", "index.json"), "index.json")


def _ref_name(entry: dict[str, Any]) -> object:
    annotations = entry.get("annotations")
    return annotations.get(_REF_NAME) if isinstance(annotations, dict) else None


def _pick(index: dict[str, Any], ref: ImageRef) -> dict[str, Any]:
    """The entry of the top-level index that `ref` names: by digest, by ref.name tag, or the only one."""
    raw = index.get("manifests") or []
    if not isinstance(raw, list):
        raise CorruptImage(f"{ref.path}: index.json 'manifests' is not a list")
    entries = [m for m in raw if isinstance(m, dict)]
    if ref.digest:
        found = [m for m in entries if m.get("digest") == ref.digest]
        if not found:
            raise ImageNotFound(f"no manifest {ref.digest} in {ref.path}")
        return found[0]
    if ref.tag:
        found = [m for m in entries if _ref_name(m) == ref.tag]
        if not found:
            raise ImageNotFound(f"no image tagged {ref.tag!r} in {ref.path}")
        return found[0]
    if len(entries) != 1:
        names = [str(_ref_name(m) or m.get("digest")) for m in entries]
        raise ImageNotFound(f"{ref.path} holds {len(entries)} images {names}; name one with :tag or @digest")
    return entries[0]


def resolve(
    store: BlobStore, top: dict[str, Any], platform: Platform, *, depth: int = 0
) -> tuple[str, bytes, str]:
    """Follow (possibly nested) indexes down to one manifest: (digest, bytes, media type)."""
    desc = parse_descriptor(top, "index entry")
    data = store.read_blob(desc.digest, f"manifest {desc.digest}")
    obj = load_json(data, f"manifest {desc.digest}")
    kind = manifest_kind(obj, desc.media_type)
    if kind in INDEX_TYPES:
        if depth > 4:
            raise CorruptImage("image indexes nested more than 4 deep")
        chosen = select_platform(obj, platform)
        raw = next(m for m in obj["manifests"] if isinstance(m, dict) and m.get("digest") == chosen.digest)
        return resolve(store, raw, platform, depth=depth + 1)
    return desc.digest, data, kind


def open_store(store: BlobStore, ref: ImageRef, options: SourceOptions) -> BlobHandle:
    try:
        digest, data, kind = resolve(store, _pick(_top_index(store), ref), options.platform)
        manifest = parse_manifest(data, kind)
        config = store.read_blob(manifest.config.digest, "image config")
        tags = (ref.tag,) if ref.tag else ()
        image = build_image(digest, manifest, config, repo_tags=tags)
        check_image_size(image, options)
    except BaseException:
        store.close()
        raise
    return BlobHandle(ref, image, store)


def store_platforms(store: BlobStore, ref: ImageRef) -> list[Platform]:
    """Every platform the named entry offers (one, from its config, if it is a plain manifest)."""
    desc = parse_descriptor(_pick(_top_index(store), ref), "index entry")
    data = store.read_blob(desc.digest, f"manifest {desc.digest}")
    obj = load_json(data, "manifest")
    if manifest_kind(obj, desc.media_type) in INDEX_TYPES:
        return index_platforms(obj)
    manifest = parse_manifest(data, desc.media_type)
    config = load_json(store.read_blob(manifest.config.digest, "image config"), "image config")
    return [
        Platform(
            str(config.get("os", "")), str(config.get("architecture", "")), str(config.get("variant", ""))
        )
    ]


class OciLayoutSource(Source):
    transport = Transport.OCI

    def open(self, ref: ImageRef, options: SourceOptions) -> ImageHandle:
        return open_store(DirStore(Path(ref.path)), ref, options)

    def platforms(self, ref: ImageRef, options: SourceOptions) -> list[Platform]:
        return store_platforms(DirStore(Path(ref.path)), ref)


class OciArchiveSource(Source):
    transport = Transport.OCI_ARCHIVE

    def open(self, ref: ImageRef, options: SourceOptions) -> ImageHandle:
        return open_store(TarStore(Path(ref.path)), ref, options)

    def platforms(self, ref: ImageRef, options: SourceOptions) -> list[Platform]:
        return store_platforms(TarStore(Path(ref.path)), ref)
