"""What `openhss scan WHAT` names: a skopeo reference, or a bare path recognised by its content.

Users type `openhss scan ../img/app.tar` or `openhss scan ./rootfs`; the reference parser alone would read
those as registry names (and fail deep inside IDNA encoding). Only the CLI looks at the local disk this way:
the API must never probe the server's filesystem for a client-supplied string.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from openhss.scan.refs import Transport

#: Transports a reference may start with; anything else followed by `://` is an unsupported scheme.
_SCHEMES = ("docker://",)
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.zst", ".oci", ".docker")


class UnusableReference(ValueError):
    """A reference the CLI cannot use; `usage` says whether the command line itself is wrong (exit 2)
    or the thing it names is missing or unreadable (exit 1)."""

    def __init__(self, message: str, *, usage: bool) -> None:
        super().__init__(message)
        self.usage = usage


def _looks_like_path(text: str) -> bool:
    if text.startswith(("/", "./", "../", "~")) or text in (".", "..") or text.endswith(_ARCHIVE_SUFFIXES):
        return True
    # `library/alpine` is a registry name unless such a path exists here.
    return "/" in text and Path(text).exists()


def _archive_kind(path: Path) -> Transport:
    """docker-archive has `manifest.json` at the top, oci-archive has `oci-layout`; read the member
    names only (no extraction), stopping as soon as one is seen."""
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if name == "oci-layout":
                    return Transport.OCI_ARCHIVE
                if name == "manifest.json":
                    return Transport.DOCKER_ARCHIVE
    except (tarfile.TarError, EOFError, OSError):
        raise UnusableReference(
            f"{path} is not an image archive (not a readable tar); pass a docker-archive or "
            "oci-archive tar, an OCI layout directory or a root filesystem directory",
            usage=True,
        ) from None
    raise UnusableReference(
        f"{path} is a tar but neither a docker-archive (no manifest.json) nor an oci-archive "
        "(no oci-layout); save the image with `docker save` or `skopeo copy ... oci-archive:FILE`",
        usage=True,
    )


def detect_path(path: Path) -> str:
    """The skopeo reference for an existing local path, decided by what is inside it."""
    if path.is_dir():
        if (path / "oci-layout").is_file():
            return f"{Transport.OCI.value}:{path}"
        return f"{Transport.DIR.value}:{path}"
    if not path.is_file():
        raise UnusableReference(f"{path} is neither a file nor a directory", usage=True)
    return f"{_archive_kind(path).value}:{path}"


def resolve_reference(text: str) -> str:
    """Turn what the user typed into a reference `scan.refs.parse_ref` reads, or explain in one line."""
    stripped = text.strip()
    if not stripped:
        raise UnusableReference(
            "empty image reference; pass an image name, a file or a directory", usage=True
        )
    scheme, sep, _ = stripped.partition("://")
    if sep and not stripped.startswith(_SCHEMES):
        raise UnusableReference(
            f"unsupported scheme {scheme!r} in {stripped!r}; use docker://HOST/REPO:TAG, "
            "oci-archive:FILE, docker-archive:FILE, oci:DIR, dir:DIR, docker-daemon:NAME or a local path",
            usage=True,
        )
    transport, colon, rest = stripped.partition(":")
    if colon and transport in {t.value for t in Transport} and transport != Transport.REGISTRY.value:
        _check_file_transport(Transport(transport), rest)
        return stripped
    if _looks_like_path(stripped):
        expanded = Path(stripped).expanduser()
        if not expanded.exists():
            raise UnusableReference(f"no such file or directory: {stripped}", usage=False)
        return detect_path(expanded)
    return stripped


def _check_file_transport(transport: Transport, rest: str) -> None:
    """A named file transport whose path is missing fails here, with the path, not inside a source.
    The path ends where `parse_ref` ends it: at the first `:` (or `@` for `oci:`)."""
    if transport not in (Transport.OCI, Transport.OCI_ARCHIVE, Transport.DOCKER_ARCHIVE, Transport.DIR):
        return
    path = rest
    if transport is Transport.OCI and "@" in rest:
        path = rest.partition("@")[0].removesuffix(":")
    elif transport is not Transport.DIR:
        path = rest.partition(":")[0]
    if path and not Path(path).exists():
        raise UnusableReference(f"no such file or directory: {path}", usage=False)
