"""Benchmark corpus: real images built here from real packages, cached under ~/.cache/openhss-bench.

Nothing is downloaded from image registries (none is reachable): bases come from `debootstrap`, language
layers from PyPI and the npm registry, and the OCI layout is written by a streaming builder (tar →
gzip → blob, hashed on the way) so a 1 GB image never sits in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from isal import igzip

CACHE = Path(os.environ.get("OPENHSS_BENCH_CACHE", Path.home() / ".cache" / "openhss-bench"))
MIRROR = "http://deb.debian.org/debian"
FAT_PACKAGES = "python3,python3-pip,nodejs,npm,default-jre-headless,git,curl,openssh-server,sudo"
PY_PACKAGES = [
    "requests==2.19.1",
    "urllib3==1.24.1",
    "Django==2.2.0",
    "PyYAML==5.3",
    "Jinja2==2.10",
    "MarkupSafe==1.1.1",
    "certifi==2018.4.16",
    "idna==2.7",
    "chardet==3.0.4",
    "numpy==1.26.4",
    "pandas==2.1.4",
    "cryptography==41.0.7",
]
NPM_PACKAGES = ["lodash@4.17.4", "minimist@1.2.0", "handlebars@4.0.11", "express@4.16.0", "moment@2.19.1"]


def run(cmd: list[str], **kw: object) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)


def debootstrap(name: str, suite: str = "bookworm", include: str = "") -> Path:
    root = CACHE / "rootfs" / name
    done = root.with_suffix(".done")
    if done.exists():
        return root
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    run(["debootstrap", "--variant=minbase", suite, str(root), MIRROR])
    if include:
        # debootstrap's own resolver trips over virtual packages (npm's deps); apt in a chroot does not.
        shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
        run(["mount", "-t", "proc", "proc", str(root / "proc")])
        try:
            script = (
                "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && "
                f"apt-get install -y -qq --no-install-recommends {include.replace(',', ' ')}"
            )
            run(["chroot", str(root), "/bin/sh", "-c", script])
        finally:
            run(["umount", str(root / "proc")])
    shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
    (root / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
    for lists in (root / "var/lib/apt/lists").glob("*_Packages*"):
        lists.unlink()
    done.touch()
    return root


def pip_tree(packages: list[str]) -> Path:
    key = hashlib.sha256(" ".join(packages).encode()).hexdigest()[:12]
    out = CACHE / "layers" / f"py-{key}"
    site = out / "usr/local/lib/python3.11/site-packages"
    if (out / ".done").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    run(
        [
            "python3.11", "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--target", str(site),
            *packages,
        ]
    )  # fmt: skip
    (out / ".done").touch()
    return out


def npm_tree(packages: list[str]) -> Path:
    key = hashlib.sha256(" ".join(packages).encode()).hexdigest()[:12]
    out = CACHE / "layers" / f"npm-{key}"
    app = out / "app"
    if (out / ".done").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    app.mkdir(parents=True)
    run(["npm", "install", "--prefix", str(app), "--no-audit", "--no-fund", "--ignore-scripts", *packages])
    (out / ".done").touch()
    return out


class _Hashing:
    """A write-through file wrapper that hashes and counts what passes."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.inner.write(data)

    def flush(self) -> None:
        self.inner.flush()


def _walk(src: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        base = Path(dirpath)
        yield base
        for name in sorted(filenames):
            yield base / name
        for name in dirnames:
            p = base / name
            if p.is_symlink():
                yield p
        dirnames[:] = [d for d in dirnames if not (base / d).is_symlink()]


def tree(src: Path, dest: str = "") -> Iterator[tuple[Path, str]]:
    """(file on disk, name in the layer) for every entry under `src`, placed under `dest`."""
    for path in _walk(src):
        rel = path.relative_to(src).as_posix()
        name = "/".join(p for p in (dest.strip("/"), "" if rel == "." else rel) if p)
        if name:
            yield path, name


@dataclass
class LayerInput:
    created_by: str
    entries: Iterable[tuple[Path, str]]


def _write_layer(spec: LayerInput, blobs: Path, compresslevel: int) -> tuple[str, str, int]:
    tmp = blobs / "tmp-layer"
    with tmp.open("wb") as raw_out:
        blob = _Hashing(raw_out)
        with igzip.IGzipFile(fileobj=blob, mode="wb", compresslevel=compresslevel, mtime=0) as gz:
            diff = _Hashing(gz)
            with tarfile.open(fileobj=diff, mode="w|", format=tarfile.PAX_FORMAT) as tf:
                for path, name in spec.entries:
                    try:
                        info = tf.gettarinfo(str(path), arcname=name)
                    except OSError:
                        continue  # vanished or unreadable host file: the corpus just lacks it
                    if info is None:
                        continue
                    info.mtime = 0
                    if info.isreg():
                        with path.open("rb") as fh:
                            tf.addfile(info, fh)
                    else:
                        tf.addfile(info)
    digest = "sha256:" + blob.hash.hexdigest()
    tmp.rename(blobs / digest.split(":")[1])
    return digest, "sha256:" + diff.hash.hexdigest(), blob.size


def build_oci(
    out: Path, layers: list[LayerInput], config: dict[str, object], tag: str = "app", compresslevel: int = 1
) -> Path:
    """Write an OCI layout at `out` (skipped when `out/.done` exists)."""
    if (out / ".done").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    descs, diff_ids = [], []
    for spec in layers:
        digest, diff_id, size = _write_layer(spec, blobs, compresslevel)
        descs.append(
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size}
        )
        diff_ids.append(diff_id)

    def put(doc: dict[str, object]) -> tuple[str, int]:
        data = json.dumps(doc, sort_keys=True).encode()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        (blobs / digest.split(":")[1]).write_bytes(data)
        return digest, len(data)

    cfg_digest, cfg_size = put(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2026-11-22T00:00:00Z",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": s.created_by} for s in layers],
        }
    )
    man_digest, man_size = put(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": cfg_digest,
                "size": cfg_size,
            },
            "layers": descs,
        }
    )
    (out / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": man_digest,
                "size": man_size,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (out / "index.json").write_text(json.dumps(index))
    (out / ".done").touch()
    return out


def docker_archive(oci_dir: Path, tag: str = "app", name: str = "bench/app:1.0") -> Path:
    """The same image as a docker-archive (what `trivy --input` and `docker load` read), via skopeo."""
    out = oci_dir.with_suffix(".docker.tar")
    if not out.exists():
        tmp = out.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        run(["skopeo", "copy", "-q", f"oci:{oci_dir}:{tag}", f"docker-archive:{tmp}:{name}"])
        tmp.rename(out)
    return out


def fat_image() -> Path:
    """Debian bookworm + Python + Node + Java (≈1 GB unpacked) with old vulnerable PyPI and npm packages."""
    base = debootstrap("bookworm-fat", include=FAT_PACKAGES)
    return build_oci(
        CACHE / "images" / "fat",
        [
            LayerInput(f"debootstrap --variant=minbase --include={FAT_PACKAGES} bookworm", tree(base)),
            LayerInput("/bin/sh -c pip install " + " ".join(PY_PACKAGES), tree(pip_tree(PY_PACKAGES))),
            LayerInput("/bin/sh -c npm install " + " ".join(NPM_PACKAGES), tree(npm_tree(NPM_PACKAGES))),
        ],
        {"User": "root", "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Cmd": ["/bin/bash"]},
    )


def image_bytes(oci_dir: Path) -> tuple[int, int]:
    """(compressed blob bytes, number of layers) of an OCI layout built here."""
    blobs = list((oci_dir / "blobs" / "sha256").iterdir())
    return sum(b.stat().st_size for b in blobs), len(blobs) - 2


if __name__ == "__main__":
    path = fat_image()
    print(path, image_bytes(path))
