"""`make bench`: run every benchmark in turn, then print the figures each one recorded.

Each benchmark is a plain script that prints its own table and writes `bench/results/<name>.json`;
this runner only sequences them (they would disturb each other's timings if run in parallel).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOT_BENCHMARKS = {"run.py", "common.py", "corpus.py"}


def main(selected: list[str]) -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name not in NOT_BENCHMARKS)
    if selected:
        scripts = [p for p in scripts if p.stem in selected]
    failed = []
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        if subprocess.run([sys.executable, str(script)], check=False).returncode != 0:
            failed.append(script.stem)
    results = HERE / "results"
    print("\n=== summary ===")
    for path in sorted(results.glob("*.json")) if results.exists() else []:
        print(f"{path.stem}: {json.dumps(json.loads(path.read_text()), sort_keys=True)[:600]}")
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
