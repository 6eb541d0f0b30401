"""`make bench`: run every benchmark in turn, then print the figures and write `results/summary.json`.

A benchmark is any `bench/*.py` script that is not a helper module (below); adding one needs no line
here. Each prints its own table — figures as ratios against a baseline measured in the same run,
plus absolute wall time and peak RSS — and records them with `common.record` into
`results/<name>.json`. Benchmarks run one after another (in parallel they would distort each other's
timings), each in its own process started from this small one, so a child's peak RSS is its own.

    python bench/run.py                 # everything
    python bench/run.py memory layers   # just these
    python bench/run.py --list
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: Modules imported by benchmarks, not benchmarks themselves.
HELPERS = {"run", "common", "corpus", "goals", "__init__"}


def discover() -> list[Path]:
    return sorted(p for p in HERE.glob("*.py") if p.stem not in HELPERS and not p.stem.startswith("_"))


def _figures(results: Path, name: str, since: float) -> dict[str, Any] | None:
    """What the benchmark recorded in this run (a stale file from an earlier run does not count)."""
    path = results / f"{name}.json"
    if not path.exists() or path.stat().st_mtime < since:
        return None
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    scripts = discover()
    if args.list:
        print("\n".join(p.stem for p in scripts))
        return 0
    if args.names:
        unknown = set(args.names) - {p.stem for p in scripts}
        if unknown:
            have = ", ".join(p.stem for p in scripts)
            print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; have {have}")
            return 2
        scripts = [p for p in scripts if p.stem in args.names]

    sys.path.insert(0, str(HERE))
    from common import RESULTS, table
    from goals import HEADER
    from goals import rows as goal_rows

    summary: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "benchmarks": {},
    }
    rows = []
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        started = time.time()
        code = subprocess.run([sys.executable, str(script)], check=False).returncode
        seconds = round(time.time() - started, 1)
        figures = _figures(RESULTS, script.stem, started)
        status = "ok" if code == 0 else f"failed (exit {code})"
        if code == 0 and figures is None:
            status = "ok (recorded no figures)"
        summary["benchmarks"][script.stem] = {"status": status, "seconds": seconds, "figures": figures}
        rows.append([script.stem, status, seconds])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    print("\n=== summary ===")
    print(table(rows, ["benchmark", "status", "wall s"]))
    for name, entry in summary["benchmarks"].items():
        if entry["figures"]:
            print(f"{name}: {json.dumps(entry['figures'], sort_keys=True)[:600]}")
    # Goals of benchmarks not run now are read from their last recorded JSON, marked as such.
    latest: dict[str, Any] = {}
    for path in sorted(RESULTS.glob("*.json")):
        if path.stem != "summary":
            ran = summary["benchmarks"].get(path.stem)
            latest[path.stem] = ran["figures"] if ran else json.loads(path.read_text())
            if not ran:
                stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime(path.stat().st_mtime))
                print(f"(goal rows of {path.stem} are from an earlier run, {stamp} UTC)")
    print("\n=== goals (issue 20) ===")
    print(table(goal_rows(latest), HEADER))
    print(f"load average now: {os.getloadavg()[0]:.2f} (baselines are from the same run as each figure)")
    print(f"\nwritten: {RESULTS / 'summary.json'}")
    return 1 if any(not e["status"].startswith("ok") for e in summary["benchmarks"].values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
