"""RubyGems versions, ordered as `Gem::Version#<=>`.

Gem splits a version into numeric and alphabetic segments (`1.0.b1` → 1, 0, "b", 1; a `-` means
`.pre.`), drops trailing zeros from the release part and from the prerelease part, and compares
segment by segment with missing segments read as 0 and any string below any number. The key
run-length-encodes zeros so that plain tuple comparison reproduces the "missing means 0" rule.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from openhss.domain.version.base import InvalidVersion, VersionScheme, bounded

Elem = tuple[int, int, int] | tuple[int, int, str] | tuple[float]
GemKey = tuple[Elem, ...]

_SEGMENT: Final = re.compile(r"[0-9]+|[a-z]+", re.IGNORECASE)
# The end of the segment list: above any string segment, below any positive number.
_END: Final[Elem] = (0.5,)


def canonical_segments(version: str) -> list[int | str]:
    """Gem's canonical segments. Strings `gem` itself would refuse (`1beta`, seen in old
    lockfiles and advisories) are still segmented the same way, as OSV does; only a string
    without any segment is invalid."""
    text = bounded(version).strip()
    if not text:
        # Ruby reads "" as "0"; for an installed package or an advisory it is missing data.
        raise InvalidVersion("empty gem version")
    text = text.replace("-", ".pre.")
    segs: list[int | str] = [int(s) if s.isdigit() else s for s in _SEGMENT.findall(text)]
    if not segs:
        raise InvalidVersion(f"Malformed version number string {version!r}")
    split = next((i for i, s in enumerate(segs) if isinstance(s, str)), len(segs))
    numeric, rest = segs[:split], segs[split:]
    while numeric and numeric[-1] == 0:
        numeric.pop()
    while rest and rest[-1] == 0:
        rest.pop()
    return numeric + rest


@lru_cache(maxsize=131072)
def gem_key(version: str) -> GemKey:
    out: list[Elem] = []
    zeros = 0
    for seg in canonical_segments(version):
        if seg == 0:
            zeros += 1
            continue
        # After `zeros` implicit/explicit zeros: a positive number wins against a zero (rank 1,
        # fewer preceding zeros is larger), a string loses against it (rank 0, more zeros larger).
        out.append((1, -zeros, seg) if isinstance(seg, int) else (0, zeros, seg))
        zeros = 0
    out.append(_END)
    return tuple(out)


class GemScheme(VersionScheme):
    """RubyGems (Gemfile.lock, installed gemspecs)."""

    name = "gem"

    def key(self, version: str) -> GemKey:
        return gem_key(version)
