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


#: Runs its argv, then prints the child's exit status and rusage as JSON (see `measure(isolate=True)`).
_RUSAGE_SHIM = """
import json, os, subprocess, sys, time
t = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(proc.pid, 0)
sys.stderr.write("\\n@@rusage " + json.dumps({"code": os.waitstatus_to_exitcode(status),
                 "maxrss_kb": usage.ru_maxrss, "seconds": time.perf_counter() - t}) + "\\n")
"""


def measure(
    cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None, *, isolate: bool = False
) -> Run:
    """Wall time and the child's peak RSS (ru_maxrss of exactly that process tree's waited child).

    Linux carries the *parent's* RSS high-water mark into a child across fork+exec, so a benchmark
    that itself holds hundreds of MB would see that as the child's peak. `isolate=True` starts the
    child from a tiny interpreter and reads its rusage there (the shim's start-up is not timed).
    """
    if isolate:
        return _measure_isolated(cmd, env, cwd)
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


def _measure_isolated(cmd: list[str], env: dict[str, str] | None, cwd: Path | None) -> Run:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        subprocess.run([sys.executable, "-c", _RUSAGE_SHIM, *cmd], stdout=out, stderr=err, env=env, cwd=cwd)
        out.seek(0)
        err.seek(0)
        data, errors = out.read(), err.read().decode(errors="replace")
    head, _, tail = errors.rpartition("@@rusage ")
    usage = json.loads(tail.strip().splitlines()[0]) if tail else {"code": -1, "maxrss_kb": 0, "seconds": 0.0}
    if usage["code"] != 0:
        sys.stderr.write(head[-2000:])
    return Run(float(usage["seconds"]), usage["maxrss_kb"] / 1024, data, int(usage["code"]))


def byte_compile_openhss() -> None:
    """Write openhss's `.pyc` files, as installing the wheel does, before timing its start-up.

    The development install is editable, and under `PYTHONDONTWRITEBYTECODE=1` (set in this machine's
    environment) nothing ever writes bytecode, so every `openhss` run would compile its ~100 imported
    modules from source (0.1-0.2 s of a 0.3 s cached rescan) while the Go peers pay nothing alike.
    Idempotent and quick once done; `compileall` writes them whatever the environment says."""
    import importlib.util

    spec = importlib.util.find_spec("openhss")
    for location in (spec.submodule_search_locations or []) if spec else []:
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", location], check=True, stdout=subprocess.DEVNULL
        )


def ratio(value: float, baseline: float) -> float:
    """`value / baseline`, rounded for tables; 0 when the baseline is 0 (nothing to compare)."""
    return round(value / baseline, 2) if baseline else 0.0


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
