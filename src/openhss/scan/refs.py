"""The one parser for image references, in skopeo's `transport:details` syntax.

Every entry point (API, CLI, agent) names images the same way, so a reference typed into the CLI
and one stored with a scan task compare equal. Registry names follow the Docker reference rules
that registries and containerd use: the first path component is a registry host only if it looks
like one (contains `.` or `:` or is `localhost`); single-component Docker Hub names get `library/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from openhss.scan.errors import InvalidImageReference

DOCKER_HUB = "docker.io"
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_REPO_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_HOST_RE = re.compile(r"^(?:\[[0-9a-fA-F:]+\]|[a-zA-Z0-9.-]+)(?::[0-9]+)?$")


class Transport(StrEnum):
    """skopeo transport names; `docker` is a registry speaking the distribution API."""

    DOCKER_ARCHIVE = "docker-archive"
    OCI = "oci"
    OCI_ARCHIVE = "oci-archive"
    REGISTRY = "docker"
    DOCKER_DAEMON = "docker-daemon"
    CONTAINERD = "containerd"
    DIR = "dir"
    #: A CycloneDX/SPDX JSON SBOM: an inventory without layers (`scan/sources/sbom.py`).
    SBOM = "sbom"


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A parsed reference. File transports use `path`; named ones use registry/repository/tag/digest.

    For `docker-archive` and `oci-archive`/`oci` the optional name inside the file is `tag` (oci's
    ref.name annotation) or `repository`+`tag` (docker-archive's RepoTags entry).
    """

    transport: Transport
    path: str = ""
    registry: str = ""
    repository: str = ""
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """`registry/repository` (or just repository when there is no registry)."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    @property
    def reference(self) -> str:
        """What to ask a store for: the digest when pinned, else the tag."""
        return self.digest or self.tag

    @property
    def named(self) -> str:
        """Full name with tag and/or digest, as registries, daemons and containerd write it."""
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def __str__(self) -> str:
        t = self.transport
        if t is Transport.REGISTRY:
            return f"docker://{self.named}"
        if t in (Transport.DOCKER_DAEMON, Transport.CONTAINERD):
            return f"{t.value}:{self.named}"
        if t in (Transport.DIR, Transport.SBOM):
            return f"{t.value}:{self.path}"
        out = f"{t.value}:{self.path}"
        if t is Transport.DOCKER_ARCHIVE and self.repository:
            return f"{out}:{self.named}"
        if self.digest:
            return f"{out}@{self.digest}"
        return f"{out}:{self.tag}" if self.tag else out


def _check_digest(digest: str, text: str) -> str:
    if not _DIGEST_RE.match(digest):
        raise InvalidImageReference(f"invalid digest {digest!r} in image reference {text!r}")
    return digest.lower()


def split_name(name: str, *, default_registry: str = DOCKER_HUB, text: str = "") -> ImageRef:
    """Split `[host/]repo[:tag][@digest]` into a REGISTRY reference, normalised like Docker does."""
    text = text or name
    if not name:
        raise InvalidImageReference(f"empty image name in {text!r}")
    digest = ""
    if "@" in name:
        name, digest = name.split("@", 1)
        digest = _check_digest(digest, text)
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise InvalidImageReference(f"invalid tag {tag!r} in image reference {text!r}")
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
        if not _HOST_RE.match(registry):
            raise InvalidImageReference(f"invalid registry host {registry!r} in {text!r}")
    else:
        registry, repository = default_registry, name
    if registry in ("index.docker.io", "registry-1.docker.io"):
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    if not _REPO_RE.match(repository):
        raise InvalidImageReference(f"invalid repository name {repository!r} in {text!r}")
    if not tag and not digest:
        tag = "latest"
    return ImageRef(Transport.REGISTRY, registry=registry, repository=repository, tag=tag, digest=digest)


def parse_ref(text: str, *, default_registry: str = DOCKER_HUB) -> ImageRef:
    """Parse any supported reference; a bare `REPO[:TAG]` means `docker://` on the default registry."""
    text = text.strip()
    if not text:
        raise InvalidImageReference("empty image reference")
    if text.startswith("docker://"):
        return split_name(text[len("docker://") :], default_registry=default_registry, text=text)
    transport_name, sep, rest = text.partition(":")
    try:
        transport = Transport(transport_name) if sep else None
    except ValueError:
        transport = None
    if transport is None or transport is Transport.REGISTRY:
        # `docker:foo` is not skopeo syntax either; treat everything without a known transport as a name.
        return split_name(text, default_registry=default_registry)
    if not rest:
        raise InvalidImageReference(f"missing location in image reference {text!r}")
    if transport in (Transport.DIR, Transport.SBOM):
        return ImageRef(transport, path=rest)
    if transport in (Transport.DOCKER_DAEMON, Transport.CONTAINERD):
        if re.fullmatch(r"sha256:[0-9a-f]{64}", rest):  # an image ID, not a name
            return ImageRef(transport, digest=rest)
        if transport is Transport.DOCKER_DAEMON:
            # Daemons resolve short names themselves (podman: localhost/, docker: docker.io/library/).
            named = split_name(rest, default_registry="", text=text)
        else:
            named = split_name(rest, default_registry=DOCKER_HUB, text=text)
        return ImageRef(
            transport,
            registry=named.registry,
            repository=named.repository,
            tag=named.tag,
            digest=named.digest,
        )
    # File transports: PATH[:name] or PATH@digest (oci).
    if transport is Transport.OCI:
        path, at, digest = rest.partition("@")
        if at:
            return ImageRef(transport, path=path.removesuffix(":"), digest=_check_digest(digest, text))
    path, colon, inner = rest.partition(":")
    if not path:
        raise InvalidImageReference(f"missing path in image reference {text!r}")
    if not colon or not inner:
        return ImageRef(transport, path=path)
    if transport is Transport.DOCKER_ARCHIVE:
        named = split_name(inner, default_registry=DOCKER_HUB, text=text)
        return ImageRef(
            transport,
            path=path,
            registry=named.registry,
            repository=named.repository,
            tag=named.tag,
            digest=named.digest,
        )
    return ImageRef(transport, path=path, tag=inner)
