"""Prints, at the end of the run, how many peer vectors each version scheme was checked against."""

from __future__ import annotations

from collections import defaultdict

import pytest

# scheme -> [files, cases checked, cases agreeing, documented divergences]
VECTOR_COUNTS: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
NOT_APPLICABLE: list[tuple[str, str]] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not VECTOR_COUNTS and not NOT_APPLICABLE:
        return
    tr = terminalreporter
    tr.section("version scheme peer vectors")
    tr.write_line(f"{'scheme':<10} {'files':>5} {'cases':>7} {'agree':>7} {'documented divergences':>23}")
    total = [0, 0, 0, 0]
    for scheme in sorted(VECTOR_COUNTS):
        files, cases, agree, diverge = VECTOR_COUNTS[scheme]
        total = [t + x for t, x in zip(total, VECTOR_COUNTS[scheme], strict=True)]
        tr.write_line(f"{scheme:<10} {files:>5} {cases:>7} {agree:>7} {diverge:>23}")
    tr.write_line(f"{'total':<10} {total[0]:>5} {total[1]:>7} {total[2]:>7} {total[3]:>23}")
    for name, reason in NOT_APPLICABLE:
        tr.write_line(f"not applicable: {name}: {reason}")
