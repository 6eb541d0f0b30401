"""Matcher throughput against the full staged OSV set (`../shared/data/osv/*.zip`).

Prints: import time of every zip (goal < 60 s), package-matches/s on one core for a 2,000-package
inventory (goal >= 100,000/s; with and without the per-package verdict cache, and for the packages no
advisory hits), p50/p99 per image, and re-match throughput over 10,000 stored
inventories after an advisory update. Baseline measured in the same run: the first (cold) image, whose
cost includes reading and compiling every advisory key it touches.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

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


def main() -> None:
    rng = random.Random(42)
    zips = sorted(SHARED.glob("*.zip"))
    if not zips:
        sys.exit(f"no OSV zips under {SHARED}")
    with tempfile.TemporaryDirectory() as tmp:
        svc = VulnDbService(Path(tmp) / "vulndb")
        t0 = time.perf_counter()
        report = svc.import_paths(zips)
        import_s = time.perf_counter() - t0
        records = sum(c or 0 for c in report.counts.values())

        cands = _candidates(rng)
        PATCHED.update(_patched(cands))
        images = [_inventory(rng, cands, 2000) for _ in range(40)]

        # baseline: first image on a cold matcher (reads + compiles every advisory key it touches)
        index = svc.open_index()
        matcher = VulnerabilityMatcher(index)
        t0 = time.perf_counter()
        cold = matcher.match(ALMA9, images[0])
        cold_s = time.perf_counter() - t0

        for img in images:  # warm every key once, as a long-running worker is
            matcher.match(ALMA9, img)
        per_image: list[float] = []
        findings = 0
        for img in images:
            t0 = time.perf_counter()
            findings += len(matcher.match(ALMA9, img).findings)
            per_image.append(time.perf_counter() - t0)
        warm_rate = 2000 * len(images) / sum(per_image)
        p50 = statistics.median(per_image)
        p99 = sorted(per_image)[int(0.99 * (len(per_image) - 1))]

        # the same images with per-package verdicts recomputed every time (advisory keys still compiled)
        uncached = VulnerabilityMatcher(index, verdict_cache=0)
        uncached.match(ALMA9, [p for img in images for p in img])
        t0 = time.perf_counter()
        for img in images[:10]:
            uncached.match(ALMA9, img)
        uncached_rate = 2000 * 10 / (time.perf_counter() - t0)

        # the lookup path alone: the packages of an image that no advisory hits (most of a real image)
        clean = [p for p in images[0] if not matcher.match(ALMA9, [p]).findings]
        t0 = time.perf_counter()
        for _ in range(10):
            matcher.match(ALMA9, clean)
        clean_rate = 10 * len(clean) / (time.perf_counter() - t0)

        # re-match: 10,000 stored inventories of 200 packages; an update changes 2% of the PyPI keys
        stored = [rng.sample(images[i % len(images)], 200) for i in range(10_000)]
        changed = {("PyPI", name.lower().replace("_", "-")) for name, _ in rng.sample(cands["PyPI"], 60)}
        t0 = time.perf_counter()
        rematched = 0
        for inv in stored:
            todo = needs_rematch(ALMA9, inv, changed)
            if todo:
                matcher.match(ALMA9, todo)
                rematched += len(todo)
        rematch_s = time.perf_counter() - t0

    figures = {
        "import_seconds": round(import_s, 2),
        "import_records": records,
        "cold_image_seconds": round(cold_s, 4),
        "cold_package_matches_per_s": round(2000 / cold_s),
        "warm_package_matches_per_s": round(warm_rate),
        "warm_vs_cold_ratio": round(warm_rate / (2000 / cold_s), 1),
        "goal_ratio_100k_per_s": round(warm_rate / 100_000, 2),
        "findings_per_s": round(findings / sum(per_image)),
        "no_verdict_cache_package_matches_per_s": round(uncached_rate),
        "no_finding_packages": len(clean),
        "no_finding_package_matches_per_s": round(clean_rate),
        "no_finding_goal_ratio_100k_per_s": round(clean_rate / 100_000, 2),
        "p50_image_ms": round(p50 * 1000, 2),
        "p99_image_ms": round(p99 * 1000, 2),
        "findings_per_image": round(findings / len(images), 1),
        "cold_image_findings": len(cold.findings),
        "rematch_10k_inventories_seconds": round(rematch_s, 2),
        "rematch_packages_rematched": rematched,
    }
    print(table([[k, v] for k, v in figures.items()], ["figure", "value"]))
    print(f"recorded {record('match', figures)}")


if __name__ == "__main__":
    main()
