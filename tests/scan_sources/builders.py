"""A small, reproducible pure-Python image builder for tests (OCI layout, oci-archive, docker-archive).

Images are built from real bytes (host binaries, generated files) with fixed mtimes and owners, so
digests are stable between runs. skopeo, podman and containerd read what this writes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

GZIP_MT = "application/vnd.oci.image.layer.v1.tar+gzip"
ZSTD_MT = "application/vnd.oci.image.layer.v1.tar+zstd"
TAR_MT = "application/vnd.oci.image.layer.v1.tar"


@dataclass
class LayerSpec:
    created_by: str = "test"
    entries: list[tuple[tarfile.TarInfo, bytes | None]] = field(default_factory=list)

    def _info(self, path: str, kind: bytes, mode: int) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(path)
        ti.type = kind
        ti.mode = mode
        ti.mtime = 0
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        return ti

    def add_bytes(self, path: str, data: bytes, mode: int = 0o644) -> LayerSpec:
        ti = self._info(path, tarfile.REGTYPE, mode)
        ti.size = len(data)
        self.entries.append((ti, data))
        return self

    def add_file(self, src: str | Path, dest: str, mode: int | None = None) -> LayerSpec:
        data = Path(src).read_bytes()
        return self.add_bytes(dest, data, mode if mode is not None else os.stat(src).st_mode & 0o7777)

    def add_dir(self, path: str, mode: int = 0o755) -> LayerSpec:
        self.entries.append((self._info(path, tarfile.DIRTYPE, mode), None))
        return self

    def add_symlink(self, path: str, target: str) -> LayerSpec:
        ti = self._info(path, tarfile.SYMTYPE, 0o777)
        ti.linkname = target
        self.entries.append((ti, None))
        return self

    def add_hardlink(self, path: str, target: str) -> LayerSpec:
        ti = self._info(path, tarfile.LNKTYPE, 0o644)
        ti.linkname = target
        self.entries.append((ti, None))
        return self

    def add_device(self, path: str, major: int = 1, minor: int = 3) -> LayerSpec:
        ti = self._info(path, tarfile.CHRTYPE, 0o666)
        ti.devmajor, ti.devminor = major, minor
        self.entries.append((ti, None))
        return self

    def whiteout(self, path: str) -> LayerSpec:
        d, n = os.path.split(path.strip("/"))
        return self.add_bytes(os.path.join(d, ".wh." + n), b"")

    def opaque(self, d: str) -> LayerSpec:
        return self.add_bytes(os.path.join(d.strip("/"), ".wh..wh..opq"), b"")

    def tar_bytes(self) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
            for ti, data in self.entries:
                tf.addfile(ti, io.BytesIO(data) if data is not None else None)
        return buf.getvalue()


def compress(raw: bytes, compression: str) -> tuple[bytes, str]:
    if compression == "gzip":
        return gzip.compress(raw, compresslevel=1, mtime=0), GZIP_MT
    if compression == "zstd":
        return zstandard.ZstdCompressor(level=1).compress(raw), ZSTD_MT
    return raw, TAR_MT


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class BuiltImage:
    oci_dir: Path
    manifest_digest: str
    manifest: bytes
    config_digest: str
    config: bytes
    diff_ids: list[str]
    layer_digests: list[str]
    raw_layers: list[bytes]
    blobs: dict[str, bytes]


DEFAULT_CONFIG: dict[str, Any] = {
    "User": "root",
    "Env": ["PATH=/usr/bin:/bin", "PASSWORD=hunter2"],
    "Cmd": ["/bin/sh"],
    "Entrypoint": ["/entry"],
    "WorkingDir": "/app",
    "ExposedPorts": {"22/tcp": {}, "80/tcp": {}},
    "Labels": {"maintainer": "test"},
}


def build_oci(
    out_dir: Path,
    layers: list[LayerSpec],
    *,
    tag: str = "app",
    compression: str = "gzip",
    config_extra: dict[str, Any] | None = None,
    arch: str = "amd64",
    write_index: bool = True,
) -> BuiltImage:
    blobs_dir = out_dir / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True, exist_ok=True)
    blobs: dict[str, bytes] = {}

    def put(data: bytes) -> str:
        digest = sha(data)
        (blobs_dir / digest.split(":")[1]).write_bytes(data)
        blobs[digest] = data
        return digest

    diff_ids, descs, raws, digests = [], [], [], []
    for spec in layers:
        raw = spec.tar_bytes()
        raws.append(raw)
        diff_ids.append(sha(raw))
        blob, mt = compress(raw, compression)
        digest = put(blob)
        digests.append(digest)
        descs.append({"mediaType": mt, "digest": digest, "size": len(blob)})
    config = {
        "created": "1970-01-01T00:00:00Z",
        "architecture": arch,
        "os": "linux",
        "config": config_extra if config_extra is not None else DEFAULT_CONFIG,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": s.created_by} for s in layers]
        + [{"created_by": "/bin/sh -c #(nop) ENV PASSWORD=hunter2", "empty_layer": True}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_digest = put(config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": len(config_bytes),
        },
        "layers": descs,
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
    manifest_digest = put(manifest_bytes)
    (out_dir / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    if write_index:
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": manifest_digest,
                    "size": len(manifest_bytes),
                    "annotations": {"org.opencontainers.image.ref.name": tag},
                }
            ],
        }
        (out_dir / "index.json").write_text(json.dumps(index))
    return BuiltImage(
        out_dir, manifest_digest, manifest_bytes, config_digest, config_bytes, diff_ids, digests, raws, blobs
    )


def rewrite_oci(out_dir: Path, edit: Callable[[dict[str, Any], dict[str, Any]], None]) -> None:
    """Let `edit(manifest, config)` change the image `build_oci` wrote at `out_dir` (one tag), then
    re-write config, manifest and index so every digest still names its bytes."""
    blobs = out_dir / "blobs" / "sha256"
    index = json.loads((out_dir / "index.json").read_text())
    manifest = json.loads((blobs / index["manifests"][0]["digest"].split(":")[1]).read_bytes())
    config = json.loads((blobs / manifest["config"]["digest"].split(":")[1]).read_bytes())
    edit(manifest, config)
    cfg = json.dumps(config).encode()
    (blobs / sha(cfg)[7:]).write_bytes(cfg)
    manifest["config"].update(digest=sha(cfg), size=len(cfg))
    man = json.dumps(manifest).encode()
    (blobs / sha(man)[7:]).write_bytes(man)
    index["manifests"][0].update(digest=sha(man), size=len(man))
    (out_dir / "index.json").write_text(json.dumps(index))


def write_platform_index(out_dir: Path, images: list[tuple[BuiltImage, str]], tag: str = "multi") -> str:
    """Write an OCI index over single-platform images (all in `out_dir`); returns the index digest."""
    manifests = []
    for img, platform in images:
        os_, arch = platform.split("/")[:2]
        manifests.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": img.manifest_digest,
                "size": len(img.manifest),
                "platform": {"os": os_, "architecture": arch},
            }
        )
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}
    ).encode()
    digest = sha(index)
    (out_dir / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(index)
    top = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": digest,
                "size": len(index),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (out_dir / "index.json").write_text(json.dumps(top))
    return digest


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mtime = 0
    tf.addfile(ti, io.BytesIO(data))


def write_oci_archive(built: BuiltImage, path: Path) -> Path:
    with tarfile.open(path, "w") as tf:
        for p in sorted(built.oci_dir.rglob("*")):
            if p.is_file():
                _add(tf, p.relative_to(built.oci_dir).as_posix(), p.read_bytes())
    return path


def write_docker_archive(built: BuiltImage, path: Path, repo_tag: str = "docker.io/test/app:1.0") -> Path:
    """The legacy `docker save` layout: uncompressed `<diffid>.tar` layers, config, manifest.json."""
    config_name = built.config_digest.split(":")[1] + ".json"
    layer_names = [d.split(":")[1] + ".tar" for d in built.diff_ids]
    manifest = [{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_names}]
    with tarfile.open(path, "w") as tf:
        for name, raw in zip(layer_names, built.raw_layers, strict=True):
            _add(tf, name, raw)
        _add(tf, config_name, built.config)
        _add(tf, "manifest.json", json.dumps(manifest).encode())
    return path


def sample_layers() -> list[LayerSpec]:
    """Three small layers from real host files, with a whiteout, an opaque dir and links."""
    base = (
        LayerSpec("base")
        .add_dir("bin")
        .add_file("/bin/true", "bin/true")
        .add_bytes("etc/os-release", b'ID=debian\nVERSION_ID="12"\n')
        .add_bytes("etc/motd", b"hello\n")
        .add_dir("opt/cache")
        .add_bytes("opt/cache/old.txt", b"old\n")
        .add_symlink("bin/sh", "/bin/true")
    )
    app = (
        LayerSpec("/bin/sh -c install app")
        .add_dir("app", 0o777)
        .add_bytes("app/main.py", b"print('hi')\n", 0o755)
        .add_hardlink("app/main-link.py", "app/main.py")
    )
    change = (
        LayerSpec("/bin/sh -c rm /etc/motd")
        .whiteout("etc/motd")
        .opaque("opt/cache")
        .add_bytes("opt/cache/new.txt", b"new\n")
    )
    return [base, app, change]
