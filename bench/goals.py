"""The goal table of issue 20, read from what the benchmarks recorded (`results/<name>.json`).

`make bench` ends with one row per goal: the measure, openhss's figure, the baseline measured in the same
run, their ratio, the goal, and whether it is met. Each row names the benchmark whose JSON holds it and
how to read its two figures there; a row whose benchmark did not run (or recorded no such figure) says
so instead of guessing. A benchmark may also record a `goals` list of ready rows
(`{"measure", "openhss", "baseline", "goal", "met"}`) for goals not in this table.

The table reads the benchmarks' JSON as it is; it never changes what a benchmark measures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Figures = Mapping[str, Any]
#: (openhss's figure, the same run's baseline or None) from a benchmark's JSON; None: not recorded.
Pick = Callable[[Figures], tuple[float, float | None] | None]


@dataclass(frozen=True, slots=True)
class Goal:
    measure: str
    benchmark: str
    pick: Pick
    goal: str
    met: Callable[[float, float | None], bool]


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _keys(ours: str, base: str | None = None) -> Pick:
    """Two top-level numbers (the baseline optional)."""

    def pick(f: Figures) -> tuple[float, float | None] | None:
        value = _num(f.get(ours))
        return None if value is None else (value, _num(f.get(base)) if base else None)

    return pick


def _api_p99(f: Figures) -> tuple[float, float | None] | None:
    """The worst API p99 over every filter measured, against the bare SQL p99 of that same filter."""
    cases = [v for v in f.values() if isinstance(v, Mapping) and "p99_ms" in v and "sql_p99_ms" in v]
    if not cases:
        return None
    worst = max(cases, key=lambda v: float(v["p99_ms"]))
    return float(worst["p99_ms"]), _num(worst.get("sql_p99_ms"))


def _api_rps(f: Figures) -> tuple[float, float | None] | None:
    """The lowest rate achieved by an open-loop run (every run must sustain the goal)."""
    rates = [
        float(v["achieved_rps"])
        for k, v in f.items()
        if k.startswith("open_loop") and isinstance(v, Mapping) and _num(v.get("achieved_rps")) is not None
    ]
    return (min(rates), None) if rates else None


def _inventory(kind: str) -> Pick:
    def pick(f: Figures) -> tuple[float, float | None] | None:
        runs = f.get("runs")
        if not isinstance(runs, Mapping):
            return None
        ours, trivy = runs.get(f"openhss {kind}"), runs.get(f"trivy {kind}")
        if not isinstance(ours, Mapping) or not isinstance(trivy, Mapping):
            return None
        value = _num(ours.get("seconds"))
        return None if value is None else (value, _num(trivy.get("seconds")))

    return pick


def _lanes(f: Figures) -> tuple[float, float | None] | None:
    """The slowest manual-scan start over every broker, against the idle-queue median."""
    runs = [r for r in f.get("lanes") or [] if isinstance(r, Mapping)]
    if not runs:
        return None
    worst = max(runs, key=lambda r: float(r["manual_start_max_seconds"]))
    return float(worst["manual_start_max_seconds"]), _num(worst.get("manual_start_idle_median_seconds"))


def _unchanged(ours: str, base_run: str, base_key: str) -> Pick:
    def pick(f: Figures) -> tuple[float, float | None] | None:
        u = f.get("unchanged")
        if not isinstance(u, Mapping) or _num(u.get(ours)) is None:
            return None
        base = u.get(base_run)
        return float(u[ours]), _num(base.get(base_key)) if isinstance(base, Mapping) else None

    return pick


def _rematch(f: Figures) -> tuple[float, float | None] | None:
    rm = f.get("rematch")
    value = _num(rm.get("seconds")) if isinstance(rm, Mapping) else None
    return None if value is None else (value, None)


def _at_most(limit: float) -> Callable[[float, float | None], bool]:
    return lambda ours, _base: ours <= limit


def _ratio_at_most(limit: float) -> Callable[[float, float | None], bool]:
    def met(ours: float, base: float | None) -> bool:
        return base is not None and base > 0 and ours / base <= limit

    return met


GOALS: tuple[Goal, ...] = (
    Goal(
        "layer read vs bare isal inflate, s",
        "layers",
        _keys("source_seconds", "bare_seconds"),
        "<= 1.2x",
        _ratio_at_most(1.2),
    ),
    Goal(
        "500k small files, all scanners vs bare inflate, s",
        "many_files",
        _keys("openhss_seconds", "bare_seconds"),
        "<= 10x",
        _ratio_at_most(10),
    ),
    Goal(
        "secrets vs Trivy, same paths, s",
        "secret_scan",
        _keys("openhss_seconds", "trivy_seconds"),
        "<= 0.5x",
        _ratio_at_most(0.5),
    ),
    Goal("warm rescan of fat image vs Trivy, s", "inventory", _inventory("warm"), "<= 2x", _ratio_at_most(2)),
    Goal(
        "cold inventory of fat image vs Trivy, s",
        "inventory",
        _inventory("cold"),
        "<= 0.8x",
        _ratio_at_most(0.8),
    ),
    Goal(
        "GET /vulnerability/images p99, worst filter, ms (vs bare SQL)",
        "api",
        _api_p99,
        "< 50 ms",
        lambda ours, _b: ours < 50,
    ),
    Goal("API open loop, lowest achieved req/s", "api", _api_rps, ">= 300", lambda ours, _b: ours >= 300),
    Goal(
        "XLSX export, s (vs bare cursor read)",
        "export",
        _keys("xlsx_wall_seconds", "cursor_wall_seconds"),
        "< 60 s",
        lambda ours, _b: ours < 60,
    ),
    Goal(
        "XLSX export peak RSS, MB (vs bare cursor read)",
        "export",
        _keys("xlsx_peak_rss_mb", "cursor_peak_rss_mb"),
        "< 200 MB",
        lambda ours, _b: ours < 200,
    ),
    Goal(
        "manual scan start during 10,000-image scan-all, s (vs idle)", "fleet", _lanes, "<= 5 s", _at_most(5)
    ),
    Goal(
        "unchanged rescan, server s (vs rescan without fingerprint)",
        "fleet",
        _unchanged("unchanged_seconds_max", "rescan_without_fingerprint", "seconds"),
        "<= 0.2 s",
        _at_most(0.2),
    ),
    Goal(
        "unchanged rescan, layer bytes read (vs cold scan)",
        "fleet",
        _unchanged("unchanged_layer_bytes_read", "first_scan", "bytes_read"),
        "0",
        _at_most(0),
    ),
    Goal(
        "unchanged rescan, result bytes added (vs without fingerprint)",
        "fleet",
        _unchanged("unchanged_result_bytes_added", "rescan_without_fingerprint", "result_bytes_added"),
        "0",
        _at_most(0),
    ),
    Goal("re-match of 10,000 stored inventories, s", "fleet", _rematch, "<= 60 s", _at_most(60)),
)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if value == int(value) and abs(value) >= 100 else f"{value:.3g}"


def rows(results: Mapping[str, Figures | None]) -> list[list[str]]:
    """One row per goal: measure, openhss, baseline, ratio, goal, met (or why there is no figure)."""
    out = []
    for g in GOALS:
        figures = results.get(g.benchmark)
        picked = g.pick(figures) if figures else None
        if picked is None:
            why = "did not run" if figures is None else "not recorded"
            out.append([g.measure, "-", "-", "-", g.goal, f"({g.benchmark}: {why})"])
            continue
        ours, base = picked
        ratio = f"{ours / base:.2f}x" if base else "-"
        out.append([g.measure, _fmt(ours), _fmt(base), ratio, g.goal, "yes" if g.met(ours, base) else "NO"])
    known = {g.measure for g in GOALS}
    for name, figures in results.items():
        for extra in (figures or {}).get("goals") or []:
            if isinstance(extra, Mapping) and extra.get("measure") not in known:
                value, against = _num(extra.get("openhss")), _num(extra.get("baseline"))
                ratio = f"{value / against:.2f}x" if value is not None and against else "-"
                met = extra.get("met")
                out.append(
                    [
                        f"{extra.get('measure')} [{name}]",
                        _fmt(value),
                        _fmt(against),
                        ratio,
                        str(extra.get("goal", "-")),
                        "-" if met is None else ("yes" if met else "NO"),
                    ]
                )
    return out


HEADER = ["measure", "openhss", "baseline", "ratio", "goal", "met?"]
