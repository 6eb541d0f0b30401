"""`docker save` archives (`docker-archive:PATH[:name:tag]`), including several images in one file.

`manifest.json` lists each image's config and layer files. Layers in this format are uncompressed
tars named by content: legacy `<id>/layer.tar` files hash to their diff_id, newer (Docker 25+)
`blobs/sha256/<hex>` files hash to their name. Either way the stream is verified while read. The
archive is read in place through the same member index as oci-archive.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openhss.scan.errors import CorruptImage, ImageNotFound, InvalidImageReference
from openhss.scan.image import (
    MT_DOCKER_LAYER,
    MT_DOCKER_MANIFEST,
    Image,
    Layer,
    Platform,
    parse_config,
    sha256_digest,
)
from openhss.scan.refs import ImageRef, Transport, split_name
from openhss.scan.sources.base import ImageHandle, Source, SourceOptions, check_image_size
from openhss.scan.sources.oci import BlobHandle, TarStore, norm_member


def _entries(store: TarStore) -> list[dict[str, Any]]:
    raw = store.read_small("manifest.json", "manifest.json")
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptImage(f"docker-archive manifest.json is not JSON: {exc}") from None
    if not isinstance(obj, list) or not all(isinstance(e, dict) for e in obj) or not obj:
        raise CorruptImage("docker-archive manifest.json is not a non-empty list of objects")
    return obj


def _canonical(tag: str) -> str:
    try:
        return split_name(tag).named
    except InvalidImageReference:  # an odd RepoTag simply never matches
        return tag


def _pick(entries: list[dict[str, Any]], ref: ImageRef) -> dict[str, Any]:
    if not ref.repository:
        if len(entries) != 1:
            raise ImageNotFound(f"{ref.path} holds {len(entries)} images; name one with :name:tag")
        return entries[0]
    want = ref.named
    for entry in entries:
        if any(_canonical(str(t)) == want for t in entry.get("RepoTags") or []):
            return entry
    raise ImageNotFound(f"no image {want} in {ref.path}")


def load(store: DockerArchiveStore, ref: ImageRef, options: SourceOptions) -> Image:
    entry = _pick(_entries(store), ref)
    config_name = entry.get("Config")
    layer_names = entry.get("Layers")
    if not isinstance(config_name, str) or not isinstance(layer_names, list):
        raise CorruptImage("docker-archive manifest entry without Config/Layers")
    config_bytes = store.read_small(norm_member(config_name), "image config")
    config = parse_config(config_bytes)
    if len(config.diff_ids) != len(layer_names):
        raise CorruptImage(
            f"config lists {len(config.diff_ids)} diff_ids but manifest.json has {len(layer_names)} layers"
        )
    layers = []
    for name, diff_id in zip(layer_names, config.diff_ids, strict=True):
        path = norm_member(str(name))
        if path not in store.members:
            raise CorruptImage(f"layer {path} missing from {ref.path}")
        parts = path.split("/")
        digest = f"sha256:{parts[2]}" if len(parts) == 3 and parts[:2] == ["blobs", "sha256"] else diff_id
        layers.append(
            Layer(digest=digest, diff_id=diff_id, size=store.members[path][1], media_type=MT_DOCKER_LAYER)
        )
        store.aliases[digest] = path
    tags = tuple(str(t) for t in entry.get("RepoTags") or [])
    image = Image(
        manifest_digest="",
        manifest_media_type=MT_DOCKER_MANIFEST,
        config_digest=sha256_digest(config_bytes),
        config=config,
        layers=tuple(layers),
        repo_tags=tags,
    )
    check_image_size(image, options)
    return image


class DockerArchiveStore(TarStore):
    """Blobs are found through the manifest's layer paths rather than `blobs/<algo>/<hex>`."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.aliases: dict[str, str] = {}

    def blob_path(self, digest: str) -> str:
        return self.aliases[digest]


class DockerArchiveSource(Source):
    transport = Transport.DOCKER_ARCHIVE

    def open(self, ref: ImageRef, options: SourceOptions) -> ImageHandle:
        store = DockerArchiveStore(Path(ref.path))
        return BlobHandle(ref, load(store, ref, options), store)

    def platforms(self, ref: ImageRef, options: SourceOptions) -> list[Platform]:
        store = DockerArchiveStore(Path(ref.path))
        return [load(store, ref, options).config.platform]
