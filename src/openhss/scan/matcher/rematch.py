"""Which stored packages an advisory update touches, so only those are matched again.

The store reports changed keys as (ecosystem value, normalised name); a package is affected when any of
the keys its matcher would look up is among them (release is deliberately ignored: cheap and safe).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from openhss.domain.models import OSInfo, Package
from openhss.scan.matcher.base import Matcher
from openhss.scan.matcher.registry import MATCHERS


def needs_rematch(
    os: OSInfo | None,
    packages: Iterable[Package],
    changed: set[tuple[str, str]],
    matchers: Sequence[Matcher] = MATCHERS,
) -> list[Package]:
    """The packages of one stored inventory whose advisories changed."""
    if not changed:
        return []
    out: list[Package] = []
    chosen: dict[tuple[object, ...], Matcher | None] = {}  # `handles` depends on type and ecosystem only
    for pkg in packages:
        kind = (pkg.type, pkg.ecosystem)
        if kind not in chosen:
            chosen[kind] = next((m for m in matchers if m.handles(pkg)), None)
        matcher = chosen[kind]
        if matcher is None:
            continue
        if any((k.ecosystem.value, k.name) in changed for k in matcher.keys(pkg, os)):
            out.append(pkg)
    return out
