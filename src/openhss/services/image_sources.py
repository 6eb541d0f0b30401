"""Where a worker reads an image from: the one decision between "scan it here" and "its agent scans it".

Contract (the registries and agents work builds on it):

- `resolve(session, settings, image) -> ResolvedSource | Delegated`. Order: the image's explicit
  `source_ref` (a skopeo-style reference, `oci:DIR`, `oci-archive:FILE`, `docker-archive:FILE`,
  `docker://host/repo:tag`, `docker-daemon:name:tag`, `containerd:name:tag`, `dir:DIR`); for registry
  images `registry_source(session, image)`; a local image with neither is `Delegated` to the agents of
  the hosts that reported it (the job waits in `waiting_for_scan` until one of them claims it through
  `services.agent_jobs.claim_jobs_for_host`).
- `registry_source(session, settings, image)` is the single place that turns a registry image row into a
  reference plus options (credentials, TLS); it returns None for a registry image no registry sync
  produced (no stored connection).

A source the worker cannot use (a reference that does not parse) is a `SourceUnavailable`, which the
executor records as `download_failed` with the reason.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from openhss.config import Settings
from openhss.db.models import Image, ImageHost
from openhss.domain.errors import NotFound
from openhss.scan.errors import DownloadFailed, InvalidImageReference
from openhss.scan.refs import ImageRef, parse_ref
from openhss.scan.sources.base import SourceOptions
from openhss.services import registries
from openhss.services.crypto import SecretBox


class SourceUnavailable(DownloadFailed):
    """No way for this worker to read the image (and no agent to delegate to)."""


@dataclass(frozen=True, slots=True)
class ResolvedSource:
    ref: ImageRef
    options: SourceOptions


@dataclass(frozen=True, slots=True)
class Delegated:
    """Only the agents of these hosts can read the image."""

    host_pks: tuple[int, ...] = field(default_factory=tuple)


def _options(settings: Settings) -> SourceOptions:
    return SourceOptions(max_image_bytes=settings.limits.max_image_bytes, scratch_dir=None)


def _parse(text: str, settings: Settings) -> ResolvedSource:
    try:
        return ResolvedSource(parse_ref(text), _options(settings))
    except InvalidImageReference as exc:
        raise SourceUnavailable(f"unusable image source {text!r}: {exc.message}") from None


def registry_source(session: Session, settings: Settings, image: Image) -> ResolvedSource | None:
    """The reference and options to pull a registry image with; None while its registry is unknown.

    The connection (address, decrypted credentials, TLS) is the one of the registry the image was
    synced from (`services.registries`); the reference pins the digest seen at sync time.
    """
    try:
        ref, options = registries.registry_ref(settings, SecretBox.from_settings(settings), session, image)
    except NotFound:
        return None
    except registries.TargetRefused as exc:
        raise SourceUnavailable(exc.message) from None
    return ResolvedSource(ref, dataclasses.replace(options, max_image_bytes=settings.limits.max_image_bytes))


def resolve(session: Session, settings: Settings, image: Image) -> ResolvedSource | Delegated:
    if image.source_ref:
        return _parse(image.source_ref, settings)
    if image.image_type == "registry":
        found = registry_source(session, settings, image)
        if found is None:
            raise SourceUnavailable(
                f"no connection configured for registry {image.registry_name or '(unnamed)'}"
            )
        return found
    hosts = tuple(session.scalars(select(ImageHost.host_pk).where(ImageHost.image_pk == image.id)))
    if image.image_type == "local" and hosts:
        return Delegated(hosts)
    raise SourceUnavailable("the image has no source reference and no agent host reported it")
