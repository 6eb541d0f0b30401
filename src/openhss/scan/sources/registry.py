"""The transports, one line each, and the two entry points the rest of the engine calls."""

from __future__ import annotations

from openhss.scan.errors import InvalidImageReference
from openhss.scan.image import Platform
from openhss.scan.refs import ImageRef, Transport, parse_ref
from openhss.scan.sources.base import ImageHandle, Source, SourceOptions
from openhss.scan.sources.containerd import ContainerdSource
from openhss.scan.sources.dir import DirSource
from openhss.scan.sources.distribution import DistributionSource
from openhss.scan.sources.docker_archive import DockerArchiveSource
from openhss.scan.sources.docker_daemon import DockerDaemonSource
from openhss.scan.sources.oci import OciArchiveSource, OciLayoutSource

SOURCES: dict[Transport, type[Source]] = {
    Transport.OCI: OciLayoutSource,
    Transport.OCI_ARCHIVE: OciArchiveSource,
    Transport.DOCKER_ARCHIVE: DockerArchiveSource,
    Transport.REGISTRY: DistributionSource,
    Transport.DOCKER_DAEMON: DockerDaemonSource,
    Transport.CONTAINERD: ContainerdSource,
    Transport.DIR: DirSource,
}


def _resolve(ref: ImageRef | str, options: SourceOptions) -> tuple[ImageRef, Source]:
    if isinstance(ref, str):
        ref = parse_ref(ref, default_registry=options.default_registry)
    if ref.transport not in SOURCES:  # sbom: has no layers to open; `services.scanning` reads it
        raise InvalidImageReference(f"{ref.transport.value}: references have no image layers to open")
    return ref, SOURCES[ref.transport]()


def open_image(ref: ImageRef | str, options: SourceOptions) -> ImageHandle:
    """Open one single-platform image (an index narrowed to `options.platform`); close the handle after."""
    parsed, source = _resolve(ref, options)
    return source.open(parsed, options)


def list_platforms(ref: ImageRef | str, options: SourceOptions) -> list[Platform]:
    """The platforms `ref` offers, for "scan all platforms": open each with `options.platform` set."""
    parsed, source = _resolve(ref, options)
    return source.platforms(parsed, options)
