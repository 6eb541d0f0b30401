"""Run the OS analyzers the way a scan does: tar layers through `analyze_layer`, then `fold`."""

from __future__ import annotations

import dataclasses
import io
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from openhss.domain.models import Package
from openhss.scan.analyzers.base import Analyzer
from openhss.scan.analyzers.files import FilesAnalyzer
from openhss.scan.analyzers.os.apk import ApkAnalyzer
from openhss.scan.analyzers.os.dpkg import DpkgAnalyzer
from openhss.scan.analyzers.os.release import OSReleaseAnalyzer, infer_os
from openhss.scan.analyzers.os.restamp import restamp_os_packages
from openhss.scan.analyzers.os.rpm import RpmAnalyzer
from openhss.scan.applier import Inventory, fold
from openhss.scan.walk import LayerAnalysis, analyze_layer

OS_ANALYZERS: list[type[Analyzer]] = [OSReleaseAnalyzer, DpkgAnalyzer, ApkAnalyzer, RpmAnalyzer]
ALL_ANALYZERS: list[type[Analyzer]] = [*OS_ANALYZERS, FilesAnalyzer]


def tar_of(files: Iterable[tuple[str, Path | bytes]]) -> bytes:
    """A layer from (image path, host file or bytes) pairs, with fixed metadata."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for dest, src in files:
            data = src.read_bytes() if isinstance(src, Path) else src
            ti = tarfile.TarInfo(dest)
            ti.size = len(data)
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def tar_of_tree(root: Path, out: Path, exclude: Sequence[str] = ()) -> Path:
    """Pack a directory tree (a rootfs) into an uncompressed layer tar on disk, keeping modes/owners."""

    def keep(ti: tarfile.TarInfo) -> tarfile.TarInfo | None:
        name = ti.name.lstrip("./")
        return None if any(name == e or name.startswith(e + "/") for e in exclude) else ti

    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        for child in sorted(root.iterdir()):
            tf.add(child, arcname=child.name, filter=keep)
    return out


def analyze(
    layer: bytes | Path, analyzers: Sequence[type[Analyzer]] = OS_ANALYZERS, diff_id: str = ""
) -> LayerAnalysis:
    instances = [a() for a in analyzers]
    if isinstance(layer, Path):
        with layer.open("rb") as f:
            return analyze_layer(f, "", instances, diff_id=diff_id, scratch_dir=Path(tempfile.gettempdir()))
    return analyze_layer(io.BytesIO(layer), "", instances, diff_id=diff_id)


def scan(layers: Sequence[bytes | Path], analyzers: Sequence[type[Analyzer]] = OS_ANALYZERS) -> Inventory:
    done = [analyze(layer, analyzers, diff_id=f"sha256:{i:064x}") for i, layer in enumerate(layers, 1)]
    inv = fold(done, restamp=restamp_os_packages)
    if inv.os is None:
        # What the pipeline does after the fold when no layer named the OS (distroless).
        inv.os = infer_os(inv.packages)
        if inv.os is not None:
            inv.packages = restamp_os_packages(inv.packages, inv.os)
    return inv


def pkg_json(p: Package) -> dict[str, Any]:
    d = dataclasses.asdict(p)
    d.pop("dependencies", None)
    d.pop("layer_digest", None)
    if not p.owner:
        d.pop("owner", None)  # goldens predate ownership; a package database never owns itself
    d["ecosystem"] = p.ecosystem.value
    d["type"] = p.type.value
    d["licenses"] = list(p.licenses)
    return d
