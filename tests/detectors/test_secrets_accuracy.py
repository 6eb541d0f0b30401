"""Accuracy of the secret rules against gitleaks' and Trivy's own validation strings.

Upstream validates each rule alone (gitleaks `utils.Validate`): every true positive must produce a finding
for that rule, every false positive must not. We do the same per rule, and run Trivy's builtin-rule cases
through the whole engine by file, comparing rule id and line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from openhss.scan.analyzers.secrets import default_engine

# Contexts in which upstream embeds `generated_true_positive_secrets` (utils.GenerateSampleSecrets).
CONTEXTS = (
    '{ident}_api_token = "{secret}"',
    "{ident}_TOKEN={secret}",
    '"{ident}_secret": "{secret}",',
    "{ident}Key: '{secret}'",
    '{ident}_token = "{secret}"',
)

# Trivy cases with no expected finding that are about *not* reporting something.
TRIVY_NEGATIVE = ("invalid", "skip", "inside another word")


def _gitleaks_cases(shared: Path) -> list[dict[str, Any]]:
    doc = json.loads((shared / "data/secrets/gitleaks-rule-cases.json").read_text())
    return list(doc["rules"])


def test_gitleaks_cases(shared_dir: Path) -> None:
    engine = default_engine()
    ids = {r.id for r in engine.rules}
    tp = tp_hit = fp = fp_hit = 0
    misses: list[str] = []
    for case in _gitleaks_cases(shared_dir):
        rid = case["rule_id"]
        assert rid in ids, f"gitleaks rule {rid} has no counterpart in our rules"
        only = {rid}
        positives: list[str | list[str]] = list(case["true_positives"])
        for gen in case["generated_true_positive_secrets"]:
            positives.append([c.format(ident=gen["identifier"], secret=gen["secret"]) for c in CONTEXTS])
        for text in positives:
            tp += 1
            # a generated secret counts as found when one of our sample contexts reveals it
            variants = text if isinstance(text, list) else [text]
            if any(engine.scan(v.encode(), "", only) for v in variants):
                tp_hit += 1
            else:
                misses.append(f"MISS {rid}: {variants[0][:90]!r}")
        for text in case["false_positives"]:
            fp += 1
            if engine.scan(text.encode(), "", only):
                fp_hit += 1
                misses.append(f"FP   {rid}: {text[:90]!r}")
    recall = 100.0 * tp_hit / tp
    fp_rate = 100.0 * fp_hit / fp
    print(
        f"\ngitleaks cases: recall {tp_hit}/{tp} = {recall:.1f}%,"
        f" false positives {fp_hit}/{fp} = {fp_rate:.1f}%"
    )
    print("\n".join(misses))
    assert recall >= 95.0
    assert fp_rate <= 5.0


def test_trivy_builtin_cases(shared_dir: Path) -> None:
    base = shared_dir / "data/secrets"
    doc = json.loads((base / "trivy-secret-cases.json").read_text())
    engine = default_engine()
    expected_n = found = neg_n = neg_clean = 0
    report: list[str] = []
    for case in doc["cases"]:
        if case["config"] != "skip-test.yaml":
            continue  # cases of Trivy's custom-rule config format, which we do not implement
        path = base / "trivy-testdata" / case["input"]
        if not path.exists():
            continue
        name = f"srv/app/{case['input']}"
        # Path exclusions apply before any byte is read (Trivy's `examples` allow rule is one of ours).
        matches = [] if engine.path_excluded(name) else engine.scan(path.read_bytes(), name)
        got = {(m.rule.id, m.line) for m in matches}
        # A multi-line secret (a key block) is found when the expected line lies within the match.
        lines = {n for m in matches for n in range(m.line, m.end_line + 1)}
        want = {(f["RuleID"], f["StartLine"]) for f in case["expected_findings"]}
        if not want:
            if any(k in case["case"] for k in TRIVY_NEGATIVE):
                neg_n += 1
                neg_clean += not got
                if got:
                    report.append(f"FP   {case['case']}: {sorted(got)}")
            continue
        for rid, line in sorted(want):
            expected_n += 1
            if line in lines:
                found += 1
                if (rid, line) not in got:
                    report.append(f"note {case['case']}: line {line} found by {sorted(got)} (trivy: {rid})")
            else:
                report.append(f"MISS {case['case']}: {rid} line {line}; got {sorted(got)}")
    recall = 100.0 * found / expected_n
    print(f"\ntrivy cases: recall {found}/{expected_n} = {recall:.1f}%, clean negatives {neg_clean}/{neg_n}")
    print("\n".join(report))
    assert recall >= 95.0
    # Known divergence: gitleaks' generic-api-key flags `"AWS_key":<64 chars>` (Trivy's "invalid aws
    # secrets" case), which Trivy's fixed-length AWS rule rejects; we keep gitleaks' generic rule.
    assert neg_clean >= neg_n - 1


@pytest.mark.parametrize("rule_id", ["private-key", "aws-access-token", "github-pat"])
def test_rule_ids_are_stable(rule_id: str) -> None:
    assert rule_id in {r.id for r in default_engine().rules}
