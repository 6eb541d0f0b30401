"""The image model every source produces: manifest digest, config, ordered layers.

Sources differ in where bytes come from; once this model exists, the rest of the engine does not
care whether the image was pulled or read from a file. Parsing is strict about structure (a config
whose diff_ids do not line up with the manifest's layers is corrupt, not something to guess about)
and lenient about optional fields, which real tools omit freely.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from openhss.scan.errors import CorruptImage, DigestMismatch, PlatformNotFound

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
MT_DIR_LAYER = "application/vnd.openhss.rootfs.tar"

MANIFEST_TYPES = (MT_OCI_MANIFEST, MT_DOCKER_MANIFEST)
INDEX_TYPES = (MT_OCI_INDEX, MT_DOCKER_LIST)
# Largest manifest/config/index we parse; real ones are a few KB, a hostile one must not fill memory.
MAX_METADATA_BYTES = 8 * 1024 * 1024


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def verify_digest(data: bytes, expected: str, what: str) -> None:
    """Check bytes against a digest; only sha256/sha512 exist in practice and both are supported."""
    algo, _, hexpart = expected.partition(":")
    if algo not in ("sha256", "sha512"):
        raise CorruptImage(f"unsupported digest algorithm in {expected!r} for {what}")
    actual = hashlib.new(algo, data).hexdigest()
    if actual != hexpart.lower():
        raise DigestMismatch(f"{what}: digest mismatch (expected {expected}, got {algo}:{actual})")


@dataclass(frozen=True, slots=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        """`os/arch[/variant]`, as `--platform` takes it."""
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise CorruptImage(f"invalid platform {text!r}; expected os/arch[/variant]")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "")

    def matches(self, other: Platform) -> bool:
        """Variant is only compared when both sides name one (arm64 images often omit `v8`)."""
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        return not (self.variant and other.variant and self.variant != other.variant)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer: `digest`/`size`/`media_type` describe the stored blob, `diff_id` its uncompressed tar."""

    digest: str
    diff_id: str
    size: int
    media_type: str
    uncompressed_size: int | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    created: str = ""
    created_by: str = ""
    comment: str = ""
    empty_layer: bool = False


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """The fields of an image config that checks and reports use; `raw` keeps the rest."""

    platform: Platform
    created: str = ""
    env: tuple[str, ...] = ()
    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    working_dir: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    history: tuple[HistoryEntry, ...] = ()
    diff_ids: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Image:
    """A resolved single-platform image. `manifest_digest` is empty for sources without a manifest (dir)."""

    manifest_digest: str
    manifest_media_type: str
    config_digest: str
    config: ImageConfig
    layers: tuple[Layer, ...]
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """Stored size of all layers: what a pull transfers and what the oversize limit is checked on."""
        return sum(layer.size for layer in self.layers)


def load_json(data: bytes, what: str) -> dict[str, Any]:
    if len(data) > MAX_METADATA_BYTES:
        raise CorruptImage(f"{what} is {len(data)} bytes, larger than {MAX_METADATA_BYTES}")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptImage(f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise CorruptImage(f"{what} is nested too deeply") from None
    if not isinstance(obj, dict):
        raise CorruptImage(f"{what} is not a JSON object")
    return obj


def _strs(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return ()


def _list(value: Any) -> list[Any]:
    """A JSON array field, or nothing: informational fields of the wrong type are ignored."""
    return value if isinstance(value, list) else []


def _manifests(index: Mapping[str, Any]) -> list[Any]:
    raw = index.get("manifests") or []
    if not isinstance(raw, list):
        raise CorruptImage("image index 'manifests' is not a list")
    return raw


def parse_config(data: bytes) -> ImageConfig:
    obj = load_json(data, "image config")
    cfg = obj.get("config") or {}
    if not isinstance(cfg, dict):
        cfg = {}
    rootfs = obj.get("rootfs") or {}
    diff_ids = _strs(rootfs.get("diff_ids") if isinstance(rootfs, dict) else None)
    history = tuple(
        HistoryEntry(
            created=str(h.get("created", "")),
            created_by=str(h.get("created_by", "")),
            comment=str(h.get("comment", "")),
            empty_layer=bool(h.get("empty_layer", False)),
        )
        for h in _list(obj.get("history"))
        if isinstance(h, dict)
    )
    labels = cfg.get("Labels") or {}
    ports = cfg.get("ExposedPorts") or {}
    return ImageConfig(
        platform=Platform(
            str(obj.get("os", "")), str(obj.get("architecture", "")), str(obj.get("variant", ""))
        ),
        created=str(obj.get("created", "") or ""),
        env=_strs(cfg.get("Env")),
        user=str(cfg.get("User", "") or ""),
        exposed_ports=tuple(sorted(ports)) if isinstance(ports, dict) else (),
        entrypoint=_strs(cfg.get("Entrypoint")),
        cmd=_strs(cfg.get("Cmd")),
        working_dir=str(cfg.get("WorkingDir", "") or ""),
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        history=history,
        diff_ids=diff_ids,
        raw=obj,
    )


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)


def parse_descriptor(obj: Any, what: str) -> Descriptor:
    if not isinstance(obj, dict):
        raise CorruptImage(f"{what}: descriptor is not an object")
    digest, size = obj.get("digest"), obj.get("size")
    if not isinstance(digest, str) or ":" not in digest:
        raise CorruptImage(f"{what}: descriptor without a valid digest")
    if not isinstance(size, int) or size < 0:
        raise CorruptImage(f"{what}: descriptor {digest} without a valid size")
    plat = obj.get("platform")
    platform = None
    if isinstance(plat, dict):
        platform = Platform(
            str(plat.get("os", "")), str(plat.get("architecture", "")), str(plat.get("variant", ""))
        )
    ann = obj.get("annotations") or {}
    return Descriptor(
        media_type=str(obj.get("mediaType", "")),
        digest=digest,
        size=size,
        platform=platform,
        annotations={str(k): str(v) for k, v in ann.items()} if isinstance(ann, dict) else {},
    )


def manifest_kind(obj: Mapping[str, Any], declared: str = "") -> str:
    """The media type of a manifest document: its own field, else the transport's, else by shape."""
    mt = str(obj.get("mediaType") or declared or "")
    if mt in MANIFEST_TYPES or mt in INDEX_TYPES:
        return mt
    if "manifests" in obj:
        return MT_OCI_INDEX
    if "layers" in obj and "config" in obj:
        return MT_OCI_MANIFEST
    if obj.get("schemaVersion") == 1:
        raise CorruptImage("Docker v2 schema 1 manifests are not supported (deprecated since 2017)")
    raise CorruptImage(f"unknown manifest media type {mt!r}")


def index_manifests(index: Mapping[str, Any]) -> list[Descriptor]:
    """The per-platform image manifests an OCI index / Docker manifest list names, in its order
    (attestations and nested indexes, which are not images, left out)."""
    descriptors = [parse_descriptor(d, "index") for d in _manifests(index)]
    return [d for d in descriptors if d.media_type in MANIFEST_TYPES or d.media_type == ""]


def select_platform(index: Mapping[str, Any], platform: Platform) -> Descriptor:
    """Pick the manifest for `platform` from an OCI index / Docker manifest list."""
    candidates = index_manifests(index)
    for desc in candidates:
        if desc.platform is not None and platform.matches(desc.platform):
            return desc
    available = ", ".join(str(d.platform) for d in candidates if d.platform is not None) or "none"
    raise PlatformNotFound(f"no manifest for platform {platform} in the image index (available: {available})")


def index_platforms(index: Mapping[str, Any]) -> list[Platform]:
    """All platforms an index offers, for scanning every platform on request."""
    return [d.platform for d in index_manifests(index) if d.platform is not None]


@dataclass(frozen=True, slots=True)
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


def parse_manifest(data: bytes, declared_media_type: str = "") -> Manifest:
    obj = load_json(data, "image manifest")
    mt = manifest_kind(obj, declared_media_type)
    if mt in INDEX_TYPES:
        raise CorruptImage("expected an image manifest, got an index")
    layers = obj.get("layers")
    if not isinstance(layers, list):
        raise CorruptImage("image manifest has no layers list")
    return Manifest(
        media_type=mt,
        config=parse_descriptor(obj.get("config"), "manifest config"),
        layers=tuple(parse_descriptor(d, f"manifest layer {i}") for i, d in enumerate(layers)),
    )


def build_image(
    manifest_digest: str,
    manifest: Manifest,
    config_data: bytes,
    *,
    repo_tags: tuple[str, ...] = (),
    repo_digests: tuple[str, ...] = (),
) -> Image:
    """Join a manifest with its (already digest-verified) config into the image model."""
    config = parse_config(config_data)
    if len(config.diff_ids) != len(manifest.layers):
        raise CorruptImage(
            f"config lists {len(config.diff_ids)} diff_ids but the manifest has {len(manifest.layers)} layers"
        )
    layers = tuple(
        Layer(digest=d.digest, diff_id=diff_id, size=d.size, media_type=d.media_type)
        for d, diff_id in zip(manifest.layers, config.diff_ids, strict=True)
    )
    return Image(
        manifest_digest=manifest_digest,
        manifest_media_type=manifest.media_type,
        config_digest=manifest.config.digest,
        config=config,
        layers=layers,
        repo_tags=repo_tags,
        repo_digests=repo_digests,
    )
