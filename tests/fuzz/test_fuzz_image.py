"""Fuzz the image metadata parsers (`scan/image.py`) and an OCI layout source reading them.

Seeds are the index, manifest and config that `tests/scan_sources/builders.py` writes for a real
image (single- and multi-platform). Mutations are structure-aware (any JSON node replaced by any
JSON value) and byte-level. In the layout harness a mutated document is stored under its *new*
digest and every parent re-pointed at it, so mutations reach the parsers behind digest checks.
Property: only `ScanError`s escape (`CorruptImage`, `PlatformNotFound`, `ImageNotFound`, ...).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from openhss.scan.errors import ScanError
from openhss.scan.image import (
    Platform,
    index_platforms,
    load_json,
    parse_config,
    parse_manifest,
    select_platform,
)
from openhss.scan.refs import parse_ref
from openhss.scan.sources.base import SourceOptions
from openhss.scan.sources.registry import open_image
from tests.scan_sources.builders import LayerSpec, build_oci, write_platform_index

from .harness import fuzz_settings, guarded, json_mutated

_BUILD = Path(tempfile.mkdtemp(prefix="openhss-fuzz-image-"))
atexit.register(shutil.rmtree, _BUILD, True)
_SINGLE = build_oci(_BUILD / "single", [LayerSpec().add_bytes("etc/os-release", b"ID=debian\n")])
_ARM = build_oci(_BUILD / "multi", [LayerSpec().add_bytes("a", b"1")], arch="arm64", write_index=False)
_AMD = build_oci(_BUILD / "multi", [LayerSpec().add_bytes("b", b"2")], write_index=False)
write_platform_index(_BUILD / "multi", [(_AMD, "linux/amd64"), (_ARM, "linux/arm64/v8")])
_INDEX_BLOBS = [
    p.read_bytes()
    for p in (_BUILD / "multi" / "blobs" / "sha256").iterdir()
    if b'"manifests"' in p.read_bytes()
]

MANIFESTS = [_SINGLE.manifest, _AMD.manifest, *_INDEX_BLOBS]
CONFIGS = [_SINGLE.config, _ARM.config]
INDEXES = [(_BUILD / "single" / "index.json").read_bytes(), (_BUILD / "multi" / "index.json").read_bytes()]
DEEP = b"[" * 200_000 + b"]" * 200_000


def _parse_all(data: bytes) -> None:
    for fn in (
        lambda: parse_manifest(data),
        lambda: parse_manifest(data, "application/vnd.oci.image.index.v1+json"),
        lambda: parse_config(data),
        lambda: select_platform(load_json(data, "index"), Platform("linux", "arm64")),
        lambda: index_platforms(load_json(data, "index")),
    ):
        with contextlib.suppress(ScanError):
            fn()


@fuzz_settings(max_examples=150)
@given(json_mutated([*MANIFESTS, *CONFIGS, *INDEXES]))
@example(DEEP)
@example(b'{"history": 5}')
@example(b'{"manifests": 7}')
def test_metadata_parsers(data: bytes) -> None:
    with guarded(len(data)):
        _parse_all(data)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _rechain(root: Path, which: str, data: bytes) -> None:
    """Store `data` as the `which` document of the single-platform layout, re-pointing its parents."""
    blobs = root / "blobs" / "sha256"
    if which == "index":
        (root / "index.json").write_bytes(data)
        return
    (blobs / _sha(data)).write_bytes(data)
    manifest_bytes = data
    if which == "config":
        manifest: dict[str, Any] = json.loads(_SINGLE.manifest)
        manifest["config"]["digest"] = "sha256:" + _sha(data)
        manifest["config"]["size"] = len(data)
        manifest_bytes = json.dumps(manifest).encode()
        (blobs / _sha(manifest_bytes)).write_bytes(manifest_bytes)
    index = json.loads(INDEXES[0])
    index["manifests"][0]["digest"] = "sha256:" + _sha(manifest_bytes)
    index["manifests"][0]["size"] = len(manifest_bytes)
    (root / "index.json").write_text(json.dumps(index))


@fuzz_settings(max_examples=60)
@given(st.data())
def test_oci_layout_with_hostile_metadata(data: st.DataObject) -> None:
    which = data.draw(st.sampled_from(["index", "manifest", "config"]))
    seeds = {"index": INDEXES, "manifest": MANIFESTS, "config": CONFIGS}[which]
    doc = data.draw(json_mutated(seeds), label=which)
    with guarded(len(doc)) as guard:
        root = guard.scratch / "layout"
        shutil.copytree(_BUILD / "single", root)
        _rechain(root, which, doc)
        try:
            handle = open_image(parse_ref(f"oci:{root}:app"), SourceOptions())
            handle.close()
        except ScanError:
            pass
