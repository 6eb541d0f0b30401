"""Shared benchmark plumbing: run a command, measure wall time and peak RSS, record figures as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(os.environ.get("OPENHSS_BENCH_RESULTS", ROOT / "bench" / "results"))
OPENHSS = str(Path(sys.executable).parent / "openhss")


@dataclass
class Run:
    seconds: float
    max_rss_mb: float
    stdout: bytes
    returncode: int


def measure(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """Wall time and the child's peak RSS (ru_maxrss of exactly that process tree's waited child)."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read() if proc.stderr else b""
        out.seek(0)
        data = out.read()
    if proc.returncode != 0:
        sys.stderr.write(err.decode(errors="replace")[-2000:])
    return Run(seconds, usage.ru_maxrss / 1024, data, proc.returncode)


def record(name: str, figures: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return path


def table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [header, *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
