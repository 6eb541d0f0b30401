"""Repeated findings of one rule in one directory become one finding with a count and examples.

Baseline rules describe the state of single files so that a later layer's deletion clears exactly what
it deletes (see the applier); but a user reading a minbase image does not want 92 rows of "package
manager cache left in the image", one per `.deb`, pushing a Critical sshd finding off the page. The
grouping runs on the folded image, after whiteouts have been applied, so layer semantics are
unchanged and a cached layer still serves every image. Malware, secrets and compliance findings stay
one per file: the HSS lists and exports of those are row-per-file by specification.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence

from openhss.domain.enums import FindingKind
from openhss.domain.models import Finding

#: Kinds whose repeated findings are grouped.
GROUPED_KINDS = frozenset({FindingKind.BASELINE})
#: Example paths kept on a grouped finding.
EXAMPLES = 3


def _directory(path: str) -> str:
    return path.rsplit("/", 1)[0] + "/" if "/" in path else ""


def group_repeated(findings: Sequence[Finding]) -> list[Finding]:
    """One finding per (kind, rule, directory) for grouped kinds, in first-seen order; others as given."""
    groups: dict[tuple[FindingKind, str, str], list[Finding]] = defaultdict(list)
    order: list[tuple[FindingKind, str, str] | int] = []
    for i, f in enumerate(findings):
        if f.kind not in GROUPED_KINDS or not f.path:
            order.append(i)
            continue
        key = (f.kind, f.rule_id, _directory(f.path))
        if key not in groups:
            order.append(key)
        groups[key].append(f)
    out: list[Finding] = []
    for item in order:
        if isinstance(item, int):
            out.append(findings[item])
            continue
        members = groups[item]
        if len(members) == 1:
            out.append(members[0])
            continue
        paths = sorted(f.path for f in members)
        first = members[0]
        shown = ", ".join(p.rsplit("/", 1)[-1] for p in paths[:EXAMPLES])
        more = f" and {len(paths) - EXAMPLES} more" if len(paths) > EXAMPLES else ""
        out.append(
            dataclasses.replace(
                first,
                path=item[2],
                severity=max((f.severity for f in members), key=lambda s: s.rank),
                evidence=f"{len(paths)} files: {shown}{more}",
                count=len(paths),
                examples=tuple(paths[:EXAMPLES]),
            )
        )
    return out
