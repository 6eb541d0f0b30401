"""RPM `[epoch:]version[-release]` ordering: `rpmvercmp` on version, then on release.

rpmvercmp skips separators, then compares alphabetic and numeric segments one by one; numbers beat
letters, `~` sorts before everything (even the end of the string) and `^` sorts after the end but
before any further segment. Each segment becomes a `(rank, value)` pair whose ranks encode exactly
those rules, so a tuple of segments is a sort key equal to rpmvercmp.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from openhss.domain.version.base import InvalidVersion, VersionScheme, bounded

Segment = tuple[int, int | str] | tuple[int]
Segments = tuple[Segment, ...]
Part = tuple[int, Segments]
RpmKey = tuple[int, Part, Part]

_TILDE: Final = 0
_END: Final = 1
_CARET: Final = 2
_ALPHA: Final = 3
_NUM: Final = 4
_TOKENS: Final = re.compile(r"[A-Za-z]+|[0-9]+|~|\^")
_END_SEG: Final[Segment] = (_END,)
_ABSENT: Final[tuple[int, Segments]] = (0, ())


@lru_cache(maxsize=131072)
def vercmp_key(text: str) -> Segments:
    """Key of one version or release string under rpmvercmp (no epoch/release split)."""
    segs: list[Segment] = []
    for tok in _TOKENS.findall(text):
        if tok == "~":
            segs.append((_TILDE,))
        elif tok == "^":
            segs.append((_CARET,))
        elif tok[0].isdigit():
            segs.append((_NUM, int(tok)))
        else:
            segs.append((_ALPHA, tok))
    segs.append(_END_SEG)
    return tuple(segs)


def rpmvercmp(a: str, b: str) -> int:
    ka, kb = vercmp_key(a), vercmp_key(b)
    return int(ka > kb) - int(ka < kb)


@lru_cache(maxsize=131072)
def rpm_key(evr: str) -> RpmKey:
    """`epoch:version-release` key. Splitting follows OSV's reference (osv-scalibr): the epoch only
    when the part before the first `:` is all digits, the release after the first `-`; an absent
    version or release sorts below any present one."""
    text = bounded(evr).strip()
    if not text:
        raise InvalidVersion("empty RPM version")
    epoch = 0
    head, colon, rest = text.partition(":")
    if colon and (not head or head.isdigit()) and head.isascii():
        epoch, text = int(head or "0"), rest
    version, dash, release = text.partition("-")
    version_part = (1, vercmp_key(version)) if version else _ABSENT
    return (epoch, version_part, (1, vercmp_key(release)) if dash else _ABSENT)


class RpmScheme(VersionScheme):
    """Red Hat family, SUSE, openEuler and other RPM distributions: `epoch:version-release`."""

    name = "rpm"

    def key(self, version: str) -> RpmKey:
        return rpm_key(version)
