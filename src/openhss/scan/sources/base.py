"""The source contract: turn an `ImageRef` into an image model plus verified layer streams.

A source never unpacks anything: it resolves the manifest and config (small, digest-checked in
memory) and hands out one stream per layer, which the walker consumes once. Streams verify the
digest that names their bytes as they are read and raise at EOF on a mismatch, so corrupted or
tampered content is caught without a second pass.
"""

from __future__ import annotations

import hashlib
import io
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, ClassVar

from openhss.scan.errors import CorruptImage, DigestMismatch, ImageOversized
from openhss.scan.image import Image, Layer, Platform
from openhss.scan.layers import Prefetcher
from openhss.scan.refs import DOCKER_HUB, ImageRef, Transport


@dataclass(frozen=True, slots=True)
class Credentials:
    """Registry credentials: username/password (basic, or exchanged for a bearer token) or a token."""

    username: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """Everything a source may need; each source reads only its own fields."""

    platform: Platform = field(default_factory=Platform)
    default_registry: str = DOCKER_HUB
    credentials: Credentials | None = None
    #: HSS registry type (SWR private/shared/enterprise, Harbor, JFrog, other): all are v2 registries;
    #: recorded so reports can say where an image came from.
    registry_type: str = "other"
    ca_file: str | None = None
    insecure: bool = False
    docker_host: str = "unix:///var/run/docker.sock"
    containerd_address: str = "/run/containerd/containerd.sock"
    containerd_namespace: str = "default"
    ctr_binary: str = "ctr"
    scratch_dir: Path | None = None
    #: Largest stored image (sum of layer blobs) a scan accepts; checked before any layer is read.
    max_image_bytes: int = 32 * 1024**3
    timeout: float = 60.0
    retries: int = 4
    backoff: float = 0.5


class ImageHandle(ABC):
    """An opened image. Close it (or use `with`) to release files, sockets and scratch space."""

    def __init__(self, ref: ImageRef, image: Image) -> None:
        self.ref = ref
        self.image = image

    @abstractmethod
    def open_layer(self, layer: Layer) -> BinaryIO:
        """A fresh stream of the stored layer blob, verified against its digest while it is read."""

    def close(self) -> None:  # noqa: B027 - optional hook; most handles hold nothing
        """Release resources; the default has none."""

    def __enter__(self) -> ImageHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Source(ABC):
    """One transport. Stateless: `open` does all the work and returns a handle."""

    transport: ClassVar[Transport]

    @abstractmethod
    def open(self, ref: ImageRef, options: SourceOptions) -> ImageHandle:
        """Resolve `ref` to a single-platform image (an index is narrowed to `options.platform`)."""

    def platforms(self, ref: ImageRef, options: SourceOptions) -> list[Platform]:
        """Every platform `ref` offers; a single-platform store answers with its one image's platform."""
        with self.open(ref, options) as handle:
            return [handle.image.config.platform]


def check_image_size(image: Image, options: SourceOptions) -> None:
    if image.size > options.max_image_bytes:
        raise ImageOversized(
            f"image is {image.size} bytes, larger than the maximum of {options.max_image_bytes}"
        )


class VerifyingReader(io.RawIOBase):
    """Hashes bytes as they pass; at EOF the digest and size must match or `DigestMismatch` is raised.

    Reading past the declared size is refused at once: a blob is exactly as long as its descriptor says.
    """

    def __init__(self, inner: BinaryIO, digest: str, size: int | None, what: str) -> None:
        algo, _, hexpart = digest.partition(":")
        if algo not in ("sha256", "sha512") or not hexpart:
            raise CorruptImage(f"{what}: unsupported digest {digest!r}")
        self._inner = inner
        self._hash = hashlib.new(algo)
        self._expected = hexpart.lower()
        self._digest = digest
        self._size = size
        self._what = what
        self._read = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        if self._done:
            return 0
        data = self._inner.read(len(buf))
        if not data:
            self._finish()
            return 0
        self._read += len(data)
        if self._size is not None and self._read > self._size:
            raise DigestMismatch(f"{self._what}: more than the declared {self._size} bytes")
        self._hash.update(data)
        buf[: len(data)] = data
        return len(data)

    def _finish(self) -> None:
        self._done = True
        if self._size is not None and self._read != self._size:
            raise DigestMismatch(f"{self._what}: {self._read} bytes, declared {self._size}")
        if self._hash.hexdigest() != self._expected:
            raise DigestMismatch(
                f"{self._what}: digest mismatch (expected {self._digest}, "
                f"got {self._hash.name}:{self._hash.hexdigest()})"
            )

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


def verified(inner: BinaryIO, digest: str, size: int | None, what: str) -> BinaryIO:
    checked = io.BufferedReader(VerifyingReader(inner, digest, size, what), 1024 * 1024)
    return io.BufferedReader(Prefetcher(checked), 1024 * 1024)
