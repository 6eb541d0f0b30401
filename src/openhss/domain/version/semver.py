"""SemVer ordering: OSV's `SEMVER` range type (npm, crates.io, generic SemVer 2.0).

Advisories are matched by ordering a package's version against OSV `introduced`/`fixed` events, so
openhss needs SemVer precedence only, not node-semver's range grammar (`^ ~ x-ranges`, `||`): the
OSV export of every npm advisory has already resolved those ranges into events. Ordering follows
osv-scalibr, the OSV reference, including how it reads the non-SemVer strings registries hold.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from openhss.domain.version.base import InvalidVersion, VersionScheme, bounded

Ident = tuple[int, int | str]

LikeKey = tuple[tuple[int, ...], tuple[int, tuple[Ident, ...]]]


def semver_like_key(version: str, max_components: int = 3, fold_case: bool = False) -> LikeKey:
    """Order of OSV's `SEMVER` type as its reference (osv-scalibr) reads real-world strings.

    Leading `v`; any number of dot-separated numeric components (beyond `max_components` they
    join the prerelease, `1.2.3.4` → `1.2.3` + `.4`), the first other character starts the
    prerelease/build tail; `+build` is ignored; missing components are zero. For SemVer 2.0
    strings this is exactly SemVer precedence (and node-semver's order).
    """
    text = bounded(version).strip()
    if text.startswith("v"):
        text = text[1:]
    comps: list[int] = []
    current = ""
    tail = ""
    for i, ch in enumerate(text):
        if "0" <= ch <= "9":
            current += ch
            continue
        if current:
            comps.append(int(current))
            current = ""
        if ch == ".":
            continue
        tail = text[i:]
        break
    else:
        if current:
            comps.append(int(current))
    if not comps:
        raise InvalidVersion(f"no numeric version component in {version!r}")
    if len(comps) > max_components:
        tail = "".join(f".{c}" for c in comps[max_components:]) + tail
        comps = comps[:max_components]
    while comps and comps[-1] == 0:
        comps.pop()
    tail = tail.split("+", 1)[0]
    if fold_case:
        tail = tail.lower()
    if tail.startswith("-"):
        tail = tail[1:]
    if not tail:
        return (tuple(comps), (1, ()))
    ids = tuple((0, int(p)) if _BIGINT.match(p) else (1, p) for p in tail.split("."))
    return (tuple(comps), (0, ids))


_BIGINT: Final = re.compile(r"^[+-]?[0-9]+$")


@lru_cache(maxsize=131072)
def semver_key(version: str) -> LikeKey:
    return semver_like_key(version)


class SemverScheme(VersionScheme):
    """npm, crates.io and OSV `SEMVER` ranges. Ordering is SemVer 2.0 precedence, tolerant of the
    non-SemVer strings registries hold (see `semver_like_key`)."""

    name = "semver"

    def key(self, version: str) -> LikeKey:
        return semver_key(version)
