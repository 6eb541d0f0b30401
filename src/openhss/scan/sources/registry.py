"""The transports, one line each, and the two entry points the rest of the engine calls.

Lines name modules, not classes: a scan imports only its own transport's source (a file scan never
loads the registry client and its HTTP stack).
"""

from __future__ import annotations

import importlib
from typing import Any

from openhss.scan.errors import InvalidImageReference
from openhss.scan.image import Platform
from openhss.scan.refs import ImageRef, Transport, parse_ref
from openhss.scan.sources.base import ImageHandle, Source, SourceOptions

_PKG = "openhss.scan.sources"
TARGETS: dict[Transport, str] = {
    Transport.OCI: f"{_PKG}.oci:OciLayoutSource",
    Transport.OCI_ARCHIVE: f"{_PKG}.oci:OciArchiveSource",
    Transport.DOCKER_ARCHIVE: f"{_PKG}.docker_archive:DockerArchiveSource",
    Transport.REGISTRY: f"{_PKG}.distribution:DistributionSource",
    Transport.DOCKER_DAEMON: f"{_PKG}.docker_daemon:DockerDaemonSource",
    Transport.CONTAINERD: f"{_PKG}.containerd:ContainerdSource",
    Transport.DIR: f"{_PKG}.dir:DirSource",
}


def source_class(transport: Transport) -> type[Source]:
    module, _, name = TARGETS[transport].partition(":")
    cls: type[Source] = getattr(importlib.import_module(module), name)
    return cls


def __getattr__(name: str) -> Any:
    """`SOURCES`, every transport's class (imports them all)."""
    if name == "SOURCES":
        return {t: source_class(t) for t in TARGETS}
    raise AttributeError(name)


def _resolve(ref: ImageRef | str, options: SourceOptions) -> tuple[ImageRef, Source]:
    if isinstance(ref, str):
        ref = parse_ref(ref, default_registry=options.default_registry)
    if ref.transport not in TARGETS:  # sbom: has no layers to open; `services.scanning` reads it
        raise InvalidImageReference(f"{ref.transport.value}: references have no image layers to open")
    return ref, source_class(ref.transport)()


def open_image(ref: ImageRef | str, options: SourceOptions) -> ImageHandle:
    """Open one single-platform image (an index narrowed to `options.platform`); close the handle after."""
    parsed, source = _resolve(ref, options)
    return source.open(parsed, options)


def list_platforms(ref: ImageRef | str, options: SourceOptions) -> list[Platform]:
    """The platforms `ref` offers, for "scan all platforms": open each with `options.platform` set."""
    parsed, source = _resolve(ref, options)
    return source.platforms(parsed, options)
