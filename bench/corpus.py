"""Benchmark corpus: real images built here from real packages, cached under ~/.cache/openhss-bench.

Nothing is downloaded from image registries (none is reachable): bases come from `debootstrap`, language
layers from PyPI and the npm registry, and the OCI layout is written by a streaming builder (tar →
gzip → blob, hashed on the way) so a 1 GB image never sits in memory.
"""

from __future__ import annotations

import hashlib
import io
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


def _tests_minbase() -> Path | None:
    """The bookworm minbase tree the test suite already debootstrapped (tests/support/rootfs.py)."""
    base = Path(os.environ.get("OPENHSS_TEST_CACHE", Path.home() / ".cache" / "openhss-tests")) / "rootfs"
    for marker in sorted(base.glob("bookworm-minbase-*.complete")):
        if marker.with_suffix("").is_dir():
            return marker.with_suffix("")
    return None


def debootstrap(name: str, suite: str = "bookworm", include: str = "") -> Path:
    if name == "bookworm-minbase" and suite == "bookworm" and not include:
        shared = _tests_minbase()
        if shared is not None:
            return shared  # the same debootstrap output; read only
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
            "python3.11",
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-compile",
            "--target",
            str(site),
            *packages,
        ]
    )
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
    """One layer: (host file, name in the layer) pairs, or (bytes, name) for generated content."""

    created_by: str
    entries: Iterable[tuple[Path | bytes, str]]


def _write_layer(spec: LayerInput, blobs: Path, compresslevel: int) -> tuple[str, str, int]:
    tmp = blobs / "tmp-layer"
    with tmp.open("wb") as raw_out:
        blob = _Hashing(raw_out)
        with igzip.IGzipFile(fileobj=blob, mode="wb", compresslevel=compresslevel, mtime=0) as gz:
            diff = _Hashing(gz)
            with tarfile.open(fileobj=diff, mode="w|", format=tarfile.PAX_FORMAT) as tf:
                for path, name in spec.entries:
                    if isinstance(path, bytes):
                        info = tarfile.TarInfo(name)
                        # `Executable` content (bench/memory.py's hostile images) keeps its mode.
                        info.size, info.mode, info.mtime = len(path), getattr(path, "mode", 0o644), 0
                        tf.addfile(info, io.BytesIO(path))
                        continue
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
    out: Path,
    layers: list[LayerInput],
    config: dict[str, object],
    tag: str = "app",
    compresslevel: int = 1,
    *,
    architecture: str = "amd64",
    index: bool = True,
) -> Path:
    """Write an OCI layout at `out` (skipped when `out/.done` exists).

    `index=False` writes only the blobs (for `multi_arch`, which writes one index over several).
    """
    if (out / ".done").exists():
        return out
    if index:
        shutil.rmtree(out, ignore_errors=True)
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
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
            "architecture": architecture,
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
    (out / f".{architecture}.manifest").write_text(json.dumps({"digest": man_digest, "size": man_size}))
    if not index:
        return out
    top = {
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
    (out / "index.json").write_text(json.dumps(top))
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


def small_debian() -> Path:
    """Debian bookworm minbase (~90 packages, ~180 MB unpacked): the everyday small image."""
    base = debootstrap("bookworm-minbase")
    return build_oci(
        CACHE / "images" / "small-debian",
        [LayerInput("debootstrap --variant=minbase bookworm", tree(base))],
        {"Cmd": ["/bin/bash"]},
    )


def _small_files(n: int) -> Iterator[tuple[Path | bytes, str]]:
    """`n` small generated files shaped like a big node_modules tree: a package.json per 50 files."""
    for i in range(n):
        pkg = f"app/node_modules/pkg-{i // 50:05d}"
        if i % 50 == 0:
            doc = {"name": f"pkg-{i // 50:05d}", "version": f"1.{i % 7}.{i % 13}", "license": "MIT"}
            yield json.dumps(doc).encode(), f"{pkg}/package.json"
        else:
            yield f"module.exports = {i};\n// {'x' * (i % 200)}\n".encode(), f"{pkg}/lib/f{i}.js"


def many_files(n: int = 500_000) -> Path:
    """Debian minbase plus one layer of `n` small files (the member-count stress case)."""
    base = debootstrap("bookworm-minbase")
    return build_oci(
        CACHE / "images" / f"many-files-{n}",
        [
            LayerInput("debootstrap --variant=minbase bookworm", tree(base)),
            LayerInput(f"/bin/sh -c generate {n} files", _small_files(n)),
        ],
        {"Cmd": ["node", "/app/index.js"]},
    )


def multi_arch() -> Path:
    """An OCI index over an amd64 and an arm64 manifest (what `--platform` selects from).

    Both carry the same amd64 Debian minbase files, labelled per platform: what is measured is index
    resolution and platform selection, not foreign binaries (no arm64 rootfs can be built here).
    """
    out = CACHE / "images" / "multi-arch"
    if (out / ".done").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    base = debootstrap("bookworm-minbase")
    manifests = []
    for arch in ("amd64", "arm64"):
        build_oci(
            out,
            [LayerInput("debootstrap", tree(base))],
            {"Cmd": ["/bin/bash"]},
            architecture=arch,
            index=False,
        )
        desc = json.loads((out / f".{arch}.manifest").read_text())
        manifests.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **desc,
                "platform": {"os": "linux", "architecture": arch},
            }
        )
    doc = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests},
        sort_keys=True,
    ).encode()
    digest = hashlib.sha256(doc).hexdigest()
    (out / "blobs" / "sha256" / digest).write_bytes(doc)
    top = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": f"sha256:{digest}",
                "size": len(doc),
                "annotations": {"org.opencontainers.image.ref.name": "app"},
            }
        ],
    }
    (out / "index.json").write_text(json.dumps(top))
    (out / ".done").touch()
    return out


def image_bytes(oci_dir: Path) -> tuple[int, int]:
    """(compressed blob bytes, number of layers) of an OCI layout built here."""
    blobs = list((oci_dir / "blobs" / "sha256").iterdir())
    return sum(b.stat().st_size for b in blobs), len(blobs) - 2


CORPUS = {"small-debian": small_debian, "fat": fat_image, "many-files": many_files, "multi-arch": multi_arch}


if __name__ == "__main__":
    import sys

    for name in sys.argv[1:] or list(CORPUS):
        path = CORPUS[name]()
        print(name, path, image_bytes(path))
