"""Layer reading throughput and memory: source + LayerReader vs the bare decompressor, same blobs.

Builds once (cached under ~/.cache/openhss-tests/bench-layers-v1/) an OCI image of five gzip layers,
>= 1 GB of uncompressed tar made of real files from this machine (/usr libraries, binaries, share
data, the project's venv). Then, each in its own subprocess so peak RSS is that run's alone:
  bare    isal igzip read of every layer blob to nothing (the floor: decompression alone)
  source  open_image(oci:...) -> open_layer (digest-verifying stream) -> LayerReader over every entry
Each mode runs twice, alternating; the best time of each counts. Goal: ratio <= 1.2, source RSS < 300 MB.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tarfile
from pathlib import Path
from typing import BinaryIO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from isal import igzip

from common import measure, record, table

CACHE = (
    Path(os.environ.get("OPENHSS_TEST_CACHE", Path.home() / ".cache" / "openhss-tests")) / "bench-layers-v1"
)
LAYER_BYTES = 230 * 1024 * 1024
SOURCES = [
    "/usr/lib/x86_64-linux-gnu",
    "/usr/share",
    "/usr/bin",
    "/usr/lib/python3",
    "/usr/lib/gcc",
    str(Path(__file__).resolve().parent.parent / ".venv"),
    "/usr/libexec",
    "/usr/lib",
]
N_LAYERS = 5


class _Hashing:
    def __init__(self, inner: BinaryIO | None) -> None:
        self.inner = inner
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        if self.inner is not None:
            self.inner.write(data)
        return len(data)

    def flush(self) -> None:
        pass


def _files() -> list[tuple[str, str]]:
    seen: set[str] = set()
    out = []
    for top in SOURCES:
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                real = os.path.realpath(full)
                if real in seen or not os.path.isfile(full) or os.path.islink(full):
                    continue
                seen.add(real)
                out.append((full, full.lstrip("/")))
    return out


def build() -> Path:
    out = CACHE / "oci"
    if (out / "index.json").exists():
        return out
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    files = iter(_files())
    descs, diff_ids = [], []
    for i in range(N_LAYERS):
        tmp = blobs / f"tmp-{i}"
        with tmp.open("wb") as f:
            comp = _Hashing(f)
            gz = igzip.IGzipFile(fileobj=comp, mode="wb", compresslevel=2, mtime=0)  # type: ignore[no-untyped-call]
            raw = _Hashing(gz)  # type: ignore[arg-type]
            with tarfile.open(fileobj=raw, mode="w|", format=tarfile.PAX_FORMAT) as tf:  # type: ignore[call-overload]
                for full, arc in files:
                    try:
                        tf.add(full, arcname=arc, recursive=False)
                    except OSError:
                        continue
                    if raw.size >= LAYER_BYTES:
                        break
            gz.close()
        digest = comp.hash.hexdigest()
        tmp.rename(blobs / digest)
        descs.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": f"sha256:{digest}",
                "size": comp.size,
            }
        )
        diff_ids.append(f"sha256:{raw.hash.hexdigest()}")
        print(f"layer {i}: {raw.size / 1e6:.0f} MB tar, {comp.size / 1e6:.0f} MB gzip", file=sys.stderr)

    def put(obj: object) -> dict[str, object]:
        data = json.dumps(obj).encode()
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    config = put(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    )
    manifest = put(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
            "layers": descs,
        }
    )
    (out / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **manifest,
                "annotations": {"org.opencontainers.image.ref.name": "bench"},
            }
        ],
    }
    (out / "index.json").write_text(json.dumps(index))
    return out


def run_bare(layout: Path) -> None:
    from openhss.scan.sources.base import SourceOptions
    from openhss.scan.sources.registry import open_image

    with open_image(f"oci:{layout}:bench", SourceOptions()) as h:
        blobs = [layout / "blobs" / "sha256" / la.digest.split(":")[1] for la in h.image.layers]
    total = 0
    for path in blobs:
        with igzip.open(path, "rb") as f:  # type: ignore[no-untyped-call]
            while chunk := f.read(1024 * 1024):
                total += len(chunk)
    print(total)


def run_source(layout: Path) -> None:
    from openhss.scan.layers import LayerReader
    from openhss.scan.sources.base import SourceOptions
    from openhss.scan.sources.registry import open_image

    total = members = 0
    with open_image(f"oci:{layout}:bench", SourceOptions()) as h:
        for layer in h.image.layers:
            with h.open_layer(layer) as stream:
                reader = LayerReader(stream, layer.media_type)
                for _entry, _content in reader:
                    members += 1
                total += reader.stats.uncompressed_bytes
    print(total, members)


def main() -> None:
    if len(sys.argv) == 3:
        {"--bare": run_bare, "--source": run_source}[sys.argv[1]](Path(sys.argv[2]))
        return
    layout = build()
    stored = sum(p.stat().st_size for p in (layout / "blobs" / "sha256").iterdir())
    runs: dict[str, list[tuple[float, float, str]]] = {"bare": [], "source": []}
    for _ in range(2):
        for mode in ("bare", "source"):
            r = measure([sys.executable, __file__, f"--{mode}", str(layout)])
            if r.returncode != 0:
                raise SystemExit(f"{mode} run failed")
            runs[mode].append((r.seconds, r.max_rss_mb, r.stdout.decode().strip()))
    bare = min(runs["bare"])
    src = min(runs["source"])
    uncompressed = int(src[2].split()[0])
    ratio = src[0] / bare[0]
    rows = [
        [
            "bare isal gzip",
            f"{bare[0]:.2f}",
            f"{uncompressed / bare[0] / 1e6:.0f}",
            f"{max(r[1] for r in runs['bare']):.0f}",
        ],
        [
            "source+LayerReader",
            f"{src[0]:.2f}",
            f"{uncompressed / src[0] / 1e6:.0f}",
            f"{max(r[1] for r in runs['source']):.0f}",
        ],
    ]
    print(
        f"image: {stored / 1e6:.0f} MB stored, {uncompressed / 1e6:.0f} MB uncompressed, "
        f"{src[2].split()[1]} members"
    )
    print(table(rows, ["mode", "seconds", "MB/s (uncompressed)", "peak RSS MB"]))
    print(
        f"ratio source/bare: {ratio:.2f}x (goal <= 1.2x); "
        f"source peak RSS {max(r[1] for r in runs['source']):.0f} MB (goal < 300)"
    )
    record(
        "layers",
        {
            "stored_bytes": stored,
            "uncompressed_bytes": uncompressed,
            "bare_seconds": bare[0],
            "source_seconds": src[0],
            "ratio": ratio,
            "source_peak_rss_mb": max(r[1] for r in runs["source"]),
            "bare_peak_rss_mb": max(r[1] for r in runs["bare"]),
        },
    )


if __name__ == "__main__":
    main()
