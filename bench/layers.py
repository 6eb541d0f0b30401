"""Layer reading throughput and memory: source + LayerReader vs the bare decompressor, same blobs.

Builds once (cached under ~/.cache/openhss-tests/bench-layers-v1/) an OCI image of five gzip layers,
>= 1 GB of uncompressed tar made of real files from this machine (/usr libraries, binaries, share
data, the project's venv). Then, each in its own subprocess so peak RSS is that run's alone:
  bare    isal igzip read of every layer blob to nothing (the floor: decompression alone)
  source  open_image(oci:...) -> open_layer (digest-verifying stream) -> LayerReader over every entry
Each mode runs twice, alternating; the best time of each counts. Goal: ratio <= 1.2, source RSS < 300 MB.
CPU seconds (user+sys of the child) are printed too: the source walk runs decompression, blob hashing and
tar parsing on three threads, so on an idle 2-core machine its wall time approaches the bare inflate while
its CPU time is their sum; on a loaded machine the wall ratio drifts toward the CPU ratio.
"""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from isal import igzip

from common import measure, record, table
from corpus import LayerInput, build_oci

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


def _files() -> list[tuple[Path, str]]:
    # Hard links would become content-less link entries in the tar, so dedupe by inode, not name.
    seen: set[tuple[int, int]] = set()
    out = []
    for top in SOURCES:
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                if not os.path.isfile(full) or os.path.islink(full):
                    continue
                st = os.stat(full)
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
                out.append((Path(full), full.lstrip("/")))
    return out


def _chunks(files: list[tuple[Path, str]]) -> list[list[tuple[Path, str]]]:
    """N_LAYERS groups of about LAYER_BYTES of file content each."""
    chunks: list[list[tuple[Path, str]]] = [[]]
    size = 0
    for entry in files:
        if size >= LAYER_BYTES:
            if len(chunks) == N_LAYERS:
                break
            chunks.append([])
            size = 0
        chunks[-1].append(entry)
        size += entry[0].stat().st_size
    return chunks


def build() -> Path:
    layers = [LayerInput(f"layer {i}", chunk) for i, chunk in enumerate(_chunks(_files()))]
    return build_oci(CACHE / "oci", layers, {}, tag="bench", compresslevel=2)


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
    cpu: dict[str, list[float]] = {"bare": [], "source": []}
    for _ in range(2):
        for mode in ("bare", "source"):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            r = measure([sys.executable, __file__, f"--{mode}", str(layout)])
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if r.returncode != 0:
                raise SystemExit(f"{mode} run failed")
            runs[mode].append((r.seconds, r.max_rss_mb, r.stdout.decode().strip()))
            cpu[mode].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    bare = min(runs["bare"])
    src = min(runs["source"])
    uncompressed = int(src[2].split()[0])
    ratio = src[0] / bare[0]
    rows = [
        [
            "bare isal gzip",
            f"{bare[0]:.2f}",
            f"{uncompressed / bare[0] / 1e6:.0f}",
            f"{min(cpu['bare']):.2f}",
            f"{max(r[1] for r in runs['bare']):.0f}",
        ],
        [
            "source+LayerReader",
            f"{src[0]:.2f}",
            f"{uncompressed / src[0] / 1e6:.0f}",
            f"{min(cpu['source']):.2f}",
            f"{max(r[1] for r in runs['source']):.0f}",
        ],
    ]
    print(
        f"image: {stored / 1e6:.0f} MB stored, {uncompressed / 1e6:.0f} MB uncompressed, "
        f"{src[2].split()[1]} members"
    )
    print(table(rows, ["mode", "seconds", "MB/s (uncompressed)", "CPU seconds", "peak RSS MB"]))
    print(
        f"ratio source/bare: {ratio:.2f}x (goal <= 1.2x), CPU {min(cpu['source']) / min(cpu['bare']):.2f}x; "
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
            "bare_cpu_seconds": min(cpu["bare"]),
            "source_cpu_seconds": min(cpu["source"]),
            "load_average": os.getloadavg()[0],
            "source_peak_rss_mb": max(r[1] for r in runs["source"]),
            "bare_peak_rss_mb": max(r[1] for r in runs["bare"]),
        },
    )


if __name__ == "__main__":
    main()
