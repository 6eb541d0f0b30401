"""Matcher throughput against the full staged OSV set (`../shared/data/osv/*.zip`).

Prints: import time of every zip (goal < 60 s), package-matches/s on one core for a 2,000-package
inventory (goal >= 100,000/s; with and without the per-package verdict cache, and for the packages no
advisory hits), p50/p99 per image, and re-match throughput over 10,000 stored
inventories after an advisory update. Rates are per CPU second of this one process (one core), so a
busy machine distorts them less than wall time; wall figures are printed beside them.

Baseline in the same run: `--baseline REV` (e.g. `--baseline main`) measures the code of that git
revision on the same advisory file and the same images in a child process, and prints the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

# OPENHSS_BENCH_SRC: the sources of an older revision, when this runs as the baseline child
sys.path.insert(0, os.environ.get("OPENHSS_BENCH_SRC") or str(Path(__file__).resolve().parent.parent / "src"))

from common import record, table
from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import OSInfo, Package
from openhss.domain.version import InvalidVersion, scheme_for
from openhss.scan.matcher import VulnerabilityMatcher, needs_rematch
from openhss.services.vulndb import VulnDbService

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "osv"
KINDS = {
    "PyPI": (Ecosystem.PYPI, PackageType.PYTHON),
    "Go": (Ecosystem.GO, PackageType.GOBINARY),
    "crates.io": (Ecosystem.CRATES_IO, PackageType.CARGO),
    "Maven": (Ecosystem.MAVEN, PackageType.JAR),
    "AlmaLinux:9": (Ecosystem.ALMALINUX, PackageType.RPM),
}
ALMA9 = OSInfo(family="almalinux", version="9.4")
PATCHED: dict[str, dict[str, str]] = {}
RATES = (
    "warm_package_matches_per_cpu_s",
    "cold_package_matches_per_cpu_s",
    "no_verdict_cache_package_matches_per_cpu_s",
    "no_finding_package_matches_per_cpu_s",
)


def _candidates(rng: random.Random) -> dict[str, list[tuple[str, str]]]:
    """(name, version) pairs per ecosystem, versions taken from the advisories' own events."""
    out: dict[str, list[tuple[str, str]]] = {k: [] for k in KINDS}
    for zpath in sorted(SHARED.glob("*.zip")):
        with zipfile.ZipFile(zpath) as zf:
            for n in zf.namelist():
                if not n.endswith(".json"):
                    continue
                doc = json.loads(zf.read(n))
                for aff in doc.get("affected", []):
                    eco = aff.get("package", {}).get("ecosystem", "")
                    if eco not in out:
                        continue
                    events = [e for r in aff.get("ranges", []) for e in r.get("events", [])]
                    versions = [v for e in events for v in e.values() if v != "0"] or ["1.0.0"]
                    out[eco].append((aff["package"]["name"], rng.choice(versions)))
    return out


def _patched(cands: dict[str, list[tuple[str, str]]]) -> dict[str, dict[str, str]]:
    """Per ecosystem and name, the highest version any advisory mentions: a package kept up to date."""
    out: dict[str, dict[str, str]] = {}
    for eco, pairs in cands.items():
        scheme = scheme_for(eco)
        best: dict[str, str] = {}
        for name, version in pairs:
            try:
                if name not in best or scheme.key(version) > scheme.key(best[name]):
                    best[name] = version
            except InvalidVersion:
                continue
        out[eco] = best
    return out


def _inventory(rng: random.Random, cands: dict[str, list[tuple[str, str]]], size: int) -> list[Package]:
    """A realistic mix: about a third of packages are named by some advisory, the rest by none; of the
    named ones most are at the newest version the advisories know (patched), a quarter at an older one."""
    pkgs: list[Package] = []
    for i in range(size):
        eco = rng.choice(list(KINDS))
        e, t = KINDS[eco]
        if rng.random() < 0.35 and cands[eco]:
            name, version = rng.choice(cands[eco])
            if rng.random() < 0.75:
                version = PATCHED[eco].get(name, version)
        else:
            name, version = f"unlisted-{eco}-{i}", "1.0.0" if t is not PackageType.RPM else "1.0-1.el9"
        pkgs.append(Package(name, version, e, t, source_name=name if t.is_os else ""))
    return pkgs


def _rate(n: int, seconds: float) -> int:
    return round(n / seconds) if seconds > 0 else 0


def measure(db_dir: Path, cands: dict[str, list[tuple[str, str]]], images: list[list[Package]],
            inventories: int, seed: int) -> dict[str, float]:  # fmt: skip
    """Every matching figure for one code version; CPU seconds (one core) and wall seconds both."""
    rng = random.Random(seed)
    svc = VulnDbService(db_dir)
    size = len(images[0])

    # cold: first image on a fresh matcher (reads + compiles every advisory key it touches)
    index = svc.open_index()
    matcher = VulnerabilityMatcher(index)
    c0, t0 = time.process_time(), time.perf_counter()
    cold = matcher.match(ALMA9, images[0])
    cold_cpu, cold_wall = time.process_time() - c0, time.perf_counter() - t0

    for img in images:  # warm every key once, as a long-running worker is
        matcher.match(ALMA9, img)
    cpu: list[float] = []
    wall: list[float] = []
    findings = 0
    for img in images:
        c0, t0 = time.process_time(), time.perf_counter()
        findings += len(matcher.match(ALMA9, img).findings)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)

    # the same images with per-package verdicts recomputed every time (advisory keys still compiled)
    uncached = VulnerabilityMatcher(index, verdict_cache=0)
    uncached.match(ALMA9, [p for img in images for p in img])
    few = images[:10]
    c0 = time.process_time()
    for img in few:
        uncached.match(ALMA9, img)
    uncached_cpu = time.process_time() - c0

    # the lookup path alone: the packages of an image that no advisory hits (most of a real image)
    clean = [p for p in images[0] if not matcher.match(ALMA9, [p]).findings]
    c0 = time.process_time()
    for _ in range(10):
        matcher.match(ALMA9, clean)
    clean_cpu = time.process_time() - c0

    # re-match: stored inventories of 200 packages; an update changes 2% of the PyPI keys
    stored = [rng.sample(images[i % len(images)], 200) for i in range(inventories)]
    changed = {("PyPI", name.lower().replace("_", "-")) for name, _ in rng.sample(cands["PyPI"], 60)}
    c0, t0 = time.process_time(), time.perf_counter()
    rematched = 0
    for inv in stored:
        todo = needs_rematch(ALMA9, inv, changed)
        if todo:
            matcher.match(ALMA9, todo)
            rematched += len(todo)
    rematch_cpu, rematch_wall = time.process_time() - c0, time.perf_counter() - t0

    def pct(xs: list[float], q: float) -> float:
        return round(sorted(xs)[int(q * (len(xs) - 1))] * 1000, 2)

    return {
        "cold_image_cpu_seconds": round(cold_cpu, 4),
        "cold_image_wall_seconds": round(cold_wall, 4),
        "cold_package_matches_per_cpu_s": _rate(size, cold_cpu),
        "warm_package_matches_per_cpu_s": _rate(size * len(images), sum(cpu)),
        "warm_package_matches_per_wall_s": _rate(size * len(images), sum(wall)),
        "findings_per_cpu_s": _rate(findings, sum(cpu)),
        "no_verdict_cache_package_matches_per_cpu_s": _rate(size * len(few), uncached_cpu),
        "no_finding_packages": len(clean),
        "no_finding_package_matches_per_cpu_s": _rate(10 * len(clean), clean_cpu),
        "p50_image_cpu_ms": round(statistics.median(cpu) * 1000, 2),
        "p99_image_cpu_ms": pct(cpu, 0.99),
        "p50_image_wall_ms": round(statistics.median(wall) * 1000, 2),
        "p99_image_wall_ms": pct(wall, 0.99),
        "findings_per_image": round(findings / len(images), 1),
        "cold_image_findings": len(cold.findings),
        "rematch_inventories": inventories,
        "rematch_cpu_seconds": round(rematch_cpu, 2),
        "rematch_wall_seconds": round(rematch_wall, 2),
        "rematch_packages_rematched": rematched,
    }


def _baseline(rev: str, db_dir: Path, state: Path, out: Path) -> dict[str, float]:
    """The same measurement on the code of git revision `rev`, in a child process on the same
    advisory file and the same images (the store format is shared): the old-vs-new ratio of one run."""
    root = Path(__file__).resolve().parent.parent
    src = state.parent / "baseline"
    src.mkdir()
    archive = subprocess.run(["git", "-C", str(root), "archive", rev, "src"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
    env = {**os.environ, "OPENHSS_BENCH_SRC": str(src / "src")}
    cmd = [sys.executable, __file__, "--child", str(db_dir), str(state), str(out)]
    subprocess.run(cmd, check=True, env=env)
    figures: dict[str, float] = json.loads(out.read_text())
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=40, help="2,000-package images to match (default 40)")
    ap.add_argument("--inventories", type=int, default=10_000, help="stored inventories to re-match")
    ap.add_argument("--baseline", metavar="REV", help="also measure git revision REV in the same run")
    ap.add_argument("--child", nargs=3, metavar=("DB", "STATE", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        db, state, out = map(Path, args.child)
        cands, images, inventories = pickle.loads(state.read_bytes())  # noqa: S301 - our own file
        Path(out).write_text(json.dumps(measure(db, cands, images, inventories, seed=7)))
        return

    rng = random.Random(42)
    # Bitnami's advisories name no ecosystem openhss scans: importing that zip yields no records, an error.
    zips = [z for z in sorted(SHARED.glob("*.zip")) if z.stem != "Bitnami"]
    if not zips:
        sys.exit(f"no OSV zips under {SHARED}")
    with tempfile.TemporaryDirectory() as tmp:
        db_dir = Path(tmp) / "vulndb"
        svc = VulnDbService(db_dir)
        t0 = time.perf_counter()
        report = svc.import_paths(zips)
        import_s = time.perf_counter() - t0
        records = sum(c or 0 for c in report.counts.values())

        cands = _candidates(rng)
        PATCHED.update(_patched(cands))
        images = [_inventory(rng, cands, 2000) for _ in range(args.images)]
        figures: dict[str, object] = {"import_seconds": round(import_s, 2), "import_records": records}
        new = measure(db_dir, cands, images, args.inventories, seed=7)
        figures.update(new)
        rate = new["warm_package_matches_per_cpu_s"]
        figures["goal_ratio_100k_per_s"] = round(rate / 100_000, 2)
        if args.baseline:
            state = Path(tmp) / "state.pickle"
            state.write_bytes(pickle.dumps((cands, images, args.inventories)))
            old = _baseline(args.baseline, db_dir, state, Path(tmp) / "baseline.json")
            figures["baseline_rev"] = args.baseline
            for k in RATES:
                figures[f"baseline_{k}"] = old[k]
                figures[f"ratio_{k}"] = round(new[k] / old[k], 2) if old[k] else 0
            for k in ("p50_image_cpu_ms", "p99_image_cpu_ms", "p50_image_wall_ms", "p99_image_wall_ms",
                      "rematch_cpu_seconds", "findings_per_image"):  # fmt: skip
                figures[f"baseline_{k}"] = old[k]
        figures["scale"] = f"{args.images} images x 2000 packages, {args.inventories} stored inventories"
    print(table([[k, v] for k, v in figures.items()], ["figure", "value"]))
    print(f"recorded {record('match', figures)}")


if __name__ == "__main__":
    main()
