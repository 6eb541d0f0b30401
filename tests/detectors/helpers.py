"""Build test layers in memory and run analyzers on them exactly as a scan does (walk, then fold)."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from openhss.scan.analyzers.base import Analyzer
from openhss.scan.applier import Inventory, fold
from openhss.scan.image import ImageConfig, parse_config
from openhss.scan.walk import LayerAnalysis, analyze_layer


@dataclass(frozen=True)
class Member:
    path: str
    data: bytes = b""
    mode: int = 0o644
    kind: bytes = tarfile.REGTYPE


def file(path: str, data: bytes | str, mode: int = 0o644) -> Member:
    return Member(path, data.encode() if isinstance(data, str) else data, mode)


def directory(path: str, mode: int = 0o755) -> Member:
    return Member(path, b"", mode, tarfile.DIRTYPE)


def whiteout(path: str) -> Member:
    head, _, name = path.rpartition("/")
    return Member(f"{head}/.wh.{name}" if head else f".wh.{name}")


def layer_tar(members: Iterable[Member]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for m in members:
            ti = tarfile.TarInfo(m.path)
            ti.type = m.kind
            ti.mode = m.mode
            ti.size = len(m.data) if m.kind == tarfile.REGTYPE else 0
            tf.addfile(ti, io.BytesIO(m.data) if m.kind == tarfile.REGTYPE else None)
    return buf.getvalue()


def analyze(members: Iterable[Member], analyzers: Sequence[Analyzer], diff_id: str) -> LayerAnalysis:
    return analyze_layer(io.BytesIO(layer_tar(members)), "", analyzers, diff_id=diff_id)


def scan_layers(layers: Sequence[Iterable[Member]], make: Sequence[type[Analyzer]]) -> Inventory:
    """Analyze each layer with fresh analyzer instances, then fold them in order."""
    results = [analyze(m, [a() for a in make], f"sha256:{i:064x}") for i, m in enumerate(layers)]
    return fold(results)


def image_config(
    history: Sequence[str | tuple[str, bool]] = (),
    env: Sequence[str] = (),
    user: str = "",
    healthcheck: list[str] | None = None,
    labels: dict[str, str] | None = None,
    ports: Sequence[str] = (),
) -> ImageConfig:
    hist: list[dict[str, Any]] = []
    diff_ids = []
    for i, h in enumerate(history):
        text, empty = (h, False) if isinstance(h, str) else h
        hist.append({"created_by": text, "empty_layer": empty})
        if not empty:
            diff_ids.append(f"sha256:{i:064x}")
    cfg: dict[str, Any] = {"Env": list(env), "User": user, "Labels": labels or {}}
    if healthcheck is not None:
        cfg["Healthcheck"] = {"Test": healthcheck}
    if ports:
        cfg["ExposedPorts"] = {p: {} for p in ports}
    doc = {
        "os": "linux",
        "architecture": "amd64",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": hist,
    }
    return parse_config(json.dumps(doc).encode())
