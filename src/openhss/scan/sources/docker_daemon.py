"""`docker-daemon:NAME[:TAG]`: the Docker Engine API on a unix socket (Docker, or podman's service).

The API has no per-layer download, only `GET /images/{name}/get`, which streams a whole docker-save
archive. It is spooled to the scratch dir in fixed-size chunks (bounded memory, bounded by the image
size limit on disk) and then read in place like any docker-archive; the spool is deleted on close.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

import httpx

from openhss.scan.errors import DownloadFailed, ImageNotFound, ImageOversized
from openhss.scan.image import Image, Layer
from openhss.scan.refs import ImageRef, Transport
from openhss.scan.sources._scratch import check_spool_size, scratch_file
from openhss.scan.sources.base import ImageHandle, Source, SourceOptions
from openhss.scan.sources.docker_archive import DockerArchiveStore, load


def _socket_path(docker_host: str) -> str:
    if not docker_host.startswith("unix://"):
        raise DownloadFailed(f"docker host {docker_host!r} is not a unix socket (unix:///path)")
    return docker_host[len("unix://") :]


def engine_client(docker_host: str, timeout: float = 60.0) -> httpx.Client:
    """An HTTP client speaking to the Docker Engine API over its unix socket (also the agent's)."""
    transport = httpx.HTTPTransport(uds=_socket_path(docker_host))
    return httpx.Client(transport=transport, base_url="http://docker", timeout=timeout)


class SpooledHandle(ImageHandle):
    def __init__(self, ref: ImageRef, image: Image, store: DockerArchiveStore, spool: Path) -> None:
        super().__init__(ref, image)
        self.store = store
        self.spool = spool

    def open_layer(self, layer: Layer) -> BinaryIO:
        return self.store.open_blob(layer.digest, layer.size, f"layer {layer.digest}")

    def close(self) -> None:
        self.spool.unlink(missing_ok=True)


def _name(ref: ImageRef) -> str:
    return ref.named if ref.repository else ref.digest


class DockerDaemonSource(Source):
    transport = Transport.DOCKER_DAEMON

    def open(self, ref: ImageRef, options: SourceOptions) -> ImageHandle:
        _socket_path(options.docker_host)
        name = quote(_name(ref), safe=":@")
        spool = scratch_file(options.scratch_dir, ".docker.tar")
        try:
            with engine_client(options.docker_host, options.timeout) as client:
                info = client.get(f"/images/{name}/json")
                if info.status_code == 404:
                    raise ImageNotFound(f"no image {_name(ref)} in the daemon at {options.docker_host}")
                info.raise_for_status()
                size = info.json().get("Size")
                if isinstance(size, int) and size > options.max_image_bytes:
                    raise ImageOversized(
                        f"image is {size} bytes, larger than the maximum of {options.max_image_bytes}"
                    )
                with client.stream("GET", f"/images/{name}/get") as resp, spool.open("wb") as out:
                    resp.raise_for_status()
                    written = 0
                    for chunk in resp.iter_bytes(1024 * 1024):
                        written += len(chunk)
                        if written > options.max_image_bytes + 64 * 1024 * 1024:
                            raise ImageOversized(f"image export exceeds {options.max_image_bytes} bytes")
                        out.write(chunk)
            check_spool_size(spool, options.max_image_bytes + 64 * 1024 * 1024)
            store = DockerArchiveStore(spool)
            # The export holds exactly the requested image; its RepoTags may be spelt differently.
            image = load(store, ImageRef(Transport.DOCKER_ARCHIVE, path=str(spool)), options)
        except httpx.HTTPError as exc:
            spool.unlink(missing_ok=True)
            raise DownloadFailed(f"docker daemon at {options.docker_host}: {exc}") from None
        except BaseException:
            spool.unlink(missing_ok=True)
            raise
        return SpooledHandle(ref, image, store, spool)
