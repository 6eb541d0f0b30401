"""Version-scheme throughput: key() (cold parse and cached), key comparison and compare() per
scheme, against baselines measured in the same run.

The matcher compares ≥100,000 versions/s: an installed version is keyed once (cached) and then
compared with every range bound of every advisory for that package. Baselines: a plain tuple
comparison (the floor any key compare can reach in CPython), and for PEP 440
`packaging.version.Version` parsing and comparing directly (the library the scheme wraps).
Versions are generated from a fixed seed so runs are comparable.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from packaging.version import Version

from common import record, table
from openhss.domain.version import (
    apk,
    composer,
    dpkg,
    gem,
    go,
    maven,
    nuget,
    pep440,
    rpm,
    scheme_named,
    semver,
)

N_VERSIONS = 4000
N_PAIRS = 200_000
TARGET = 100_000  # compares/s the matcher needs

KEY_FUNCTIONS: dict[str, Any] = {
    "dpkg": dpkg.dpkg_key,
    "rpm": rpm.rpm_key,
    "apk": apk.apk_key,
    "pep440": pep440.sort_key,
    "semver": semver.semver_key,
    "maven": maven.maven_key,
    "go": go.go_key,
    "gem": gem.gem_key,
    "nuget": nuget.nuget_key,
    "composer": composer.composer_key,
}


def _n(rng: random.Random, hi: int = 20) -> int:
    return rng.choice((0, 0, 1, 1, 2, 3, rng.randint(0, hi)))


def generate(scheme: str, rng: random.Random) -> str:
    """A realistic version string of `scheme` (shapes seen in real distro/registry metadata)."""
    core = f"{_n(rng)}.{_n(rng)}.{_n(rng, 60)}"
    if scheme == "dpkg":
        rev = rng.choice(["1", "2", "0+deb12u1", "1ubuntu0.3", "3~bpo11+1", "1build1"])
        up = core + rng.choice(["", "", "+dfsg", "~rc1", "a"])
        return (f"{rng.randint(1, 2)}:" if rng.random() < 0.1 else "") + f"{up}-{rev}"
    if scheme == "rpm":
        rel = rng.choice(["1.el9", "2.el9_3", "150.fc39", "3.oe2203sp1", "1.module+el8.9.0+2"])
        return (f"{rng.randint(1, 3)}:" if rng.random() < 0.1 else "") + f"{core}-{rel}"
    if scheme == "apk":
        return core + rng.choice(["", "", "_rc1", "_p2", "a", "_git20240101"]) + f"-r{_n(rng)}"
    if scheme == "pep440":
        return core + rng.choice(["", "", "", "rc1", "a2", ".post1", ".dev3", "b1"])
    if scheme == "semver":
        return core + rng.choice(["", "", "", "-beta.1", "-rc.2", "-alpha", "+build.5"])
    if scheme == "maven":
        return core + rng.choice(["", "", "-SNAPSHOT", ".Final", "-RC1", "-beta-2", ".RELEASE", "-jre"])
    if scheme == "go":
        if rng.random() < 0.2:
            stamp = f"2024{rng.randint(10, 12)}{rng.randint(10, 28)}120000"
            return f"v0.0.0-{stamp}-abcdef{rng.randint(100000, 999999)}"
        return "v" + core + rng.choice(["", "", "", "-rc.1", "+incompatible"])
    if scheme == "gem":
        return core + rng.choice(["", "", ".beta1", ".rc2", ".pre"])
    if scheme == "nuget":
        return core + rng.choice(["", "", ".0", "-preview.1", "-RC1", "-beta"])
    return core + rng.choice(["", "", "-beta", "-RC1", "-p1", "-dev"])


def rate(n: int, fn: Callable[[], None]) -> float:
    """ops/s of `fn`, which performs `n` operations; best of three runs."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def measure_scheme(name: str, key_fn: Any, versions: list[str], idx: list[tuple[int, int]]) -> dict[str, int]:
    scheme = scheme_named(name)
    pairs = [(versions[i], versions[j]) for i, j in idx]
    unique = list(dict.fromkeys(versions))
    module = sys.modules[key_fn.__module__]
    caches = [f for f in vars(module).values() if hasattr(f, "cache_clear")]

    def cold() -> None:
        for f in caches:
            f.cache_clear()
        for v in unique:
            key_fn(v)

    def warm() -> None:
        for v in versions:
            scheme.key(v)

    cold_rate = rate(len(unique), cold)
    warm()
    warm_rate = rate(len(versions), warm)
    keys = {v: scheme.key(v) for v in versions}
    kpairs = [(keys[a], keys[b]) for a, b in pairs]

    def key_cmp() -> None:
        for ka, kb in kpairs:
            _ = ka < kb

    def scheme_cmp() -> None:
        for a, b in pairs:
            scheme.compare(a, b)

    return {
        "key_cold_ops": round(cold_rate),
        "key_cached_ops": round(warm_rate),
        "key_compare_ops": round(rate(len(kpairs), key_cmp)),
        "compare_ops": round(rate(len(pairs), scheme_cmp)),
    }


def main() -> int:
    rng = random.Random(20261122)
    idx = [(rng.randrange(N_VERSIONS), rng.randrange(N_VERSIONS)) for _ in range(N_PAIRS)]

    # Baseline 1: comparing plain int tuples of the same shape (what a dpkg/semver key boils down to).
    tuples = [(rng.randint(0, 3), rng.randint(0, 20), rng.randint(0, 60)) for _ in range(N_VERSIONS)]
    tpairs = [(tuples[i], tuples[j]) for i, j in idx]

    def tuple_cmp() -> None:
        for a, b in tpairs:
            _ = a < b

    baseline_tuple = rate(N_PAIRS, tuple_cmp)

    rows: list[list[Any]] = []
    figures: dict[str, Any] = {
        "baseline_tuple_compare_ops": round(baseline_tuple),
        "target_compare_ops": TARGET,
    }
    for name, key_fn in KEY_FUNCTIONS.items():
        figures[name] = measure_scheme(name, key_fn, [generate(name, rng) for _ in range(N_VERSIONS)], idx)
        f = figures[name]
        rows.append(
            [
                name,
                f"{f['key_cold_ops']:,}",
                f"{f['key_cached_ops']:,}",
                f"{f['key_compare_ops']:,}",
                f"{f['key_compare_ops'] / baseline_tuple:.2f}",
                f"{f['compare_ops']:,}",
                "yes" if f["compare_ops"] >= TARGET else "NO",
            ]
        )
        f["key_compare_vs_tuple"] = round(f["key_compare_ops"] / baseline_tuple, 3)

    # Baseline 2 (PEP 440): packaging.version.Version used directly, no cache.
    pep_versions = list(dict.fromkeys(generate("pep440", rng) for _ in range(N_VERSIONS)))

    def packaging_parse() -> None:
        for v in pep_versions:
            Version(v)

    parsed = [Version(v) for v in pep_versions]
    vpairs = [(parsed[i % len(parsed)], parsed[j % len(parsed)]) for i, j in idx]

    def packaging_cmp() -> None:
        for a, b in vpairs:
            _ = a < b

    figures["baseline_packaging_parse_ops"] = round(rate(len(pep_versions), packaging_parse))
    figures["baseline_packaging_compare_ops"] = round(rate(N_PAIRS, packaging_cmp))

    print(
        f"{N_VERSIONS} versions per scheme (cold parse: distinct ones, all caches cleared), {N_PAIRS:,} pairs"
    )
    print(
        table(
            rows,
            [
                "scheme",
                "key cold/s",
                "key cached/s",
                "key cmp/s",
                "vs tuple",
                "compare()/s",
                f">={TARGET:,}/s",
            ],
        )
    )
    print(f"baseline: plain tuple compare {baseline_tuple:,.0f}/s")
    print(
        f"baseline: packaging Version() parse {figures['baseline_packaging_parse_ops']:,}/s, "
        f"Version < Version {figures['baseline_packaging_compare_ops']:,}/s"
    )
    path = record("versions", figures)
    print(f"recorded {path}")
    return 0 if all(figures[n]["compare_ops"] >= TARGET for n in KEY_FUNCTIONS) else 1


if __name__ == "__main__":
    sys.exit(main())
