"""Run language analyzers the way a scan does: files packed into a layer tar, walked once, then folded."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from openhss.domain.models import Package
from openhss.scan.analyzers.base import Analyzer
from openhss.scan.analyzers.lang.dotnet import DotnetAnalyzer
from openhss.scan.analyzers.lang.golang import GoBinaryAnalyzer
from openhss.scan.analyzers.lang.java import JavaAnalyzer
from openhss.scan.analyzers.lang.node import NodeAnalyzer
from openhss.scan.analyzers.lang.php import PhpAnalyzer
from openhss.scan.analyzers.lang.python import PythonAnalyzer
from openhss.scan.analyzers.lang.ruby import RubyAnalyzer
from openhss.scan.analyzers.lang.rust import RustAnalyzer
from openhss.scan.applier import fold
from openhss.scan.walk import LayerAnalysis, analyze_layer

LANG_ANALYZERS: list[type[Analyzer]] = [
    PythonAnalyzer,
    NodeAnalyzer,
    JavaAnalyzer,
    GoBinaryAnalyzer,
    RustAnalyzer,
    RubyAnalyzer,
    PhpAnalyzer,
    DotnetAnalyzer,
]


def tar_of(files: Iterable[tuple[str, Path | bytes, int]]) -> bytes:
    """A layer from (image path, host file or bytes, mode) triples."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for dest, src, mode in files:
            data = src.read_bytes() if isinstance(src, Path) else src
            ti = tarfile.TarInfo(dest)
            ti.size = len(data)
            ti.mode = mode
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def tree_files(root: Path, dest: str) -> list[tuple[str, Path | bytes, int]]:
    """Every regular file under `root`, placed under `dest` in the image, modes kept."""
    out: list[tuple[str, Path | bytes, int]] = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out.append((f"{dest}/{p.relative_to(root).as_posix()}", p, p.stat().st_mode & 0o7777))
    return out


def analyze(layer: bytes | Path, analyzers: Sequence[type[Analyzer]] = LANG_ANALYZERS) -> LayerAnalysis:
    instances = [a() for a in analyzers]
    if isinstance(layer, Path):
        with layer.open("rb") as f:
            return analyze_layer(f, "", instances, diff_id="sha256:" + "1" * 64)
    return analyze_layer(io.BytesIO(layer), "", instances, diff_id="sha256:" + "1" * 64)


def scan_files(
    files: Iterable[tuple[str, Path | bytes, int]], analyzers: Sequence[type[Analyzer]] = LANG_ANALYZERS
) -> tuple[list[Package], list[tuple[str, str]]]:
    done = analyze(tar_of(files), analyzers)
    inv = fold([done])
    return inv.packages, inv.skipped
