"""Go module versions: golang.org/x/mod/semver ordering, pseudo-versions included.

Go requires the `v` prefix, accepts the `v1`/`v1.2` shorthands, treats `+incompatible` as build
metadata (ignored in ordering) and orders pseudo-versions (`v0.0.0-20060102150405-abcdef`) as
the prereleases they are. Invalid strings are rejected by `key`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from openhss.domain.version.base import InvalidVersion, VersionScheme, bounded

GoKey = tuple[int, int, int, tuple[int, tuple[tuple[int, int | str], ...]]]

_NUM: Final = re.compile(r"0|[1-9][0-9]*")
_IDENT: Final = re.compile(r"[0-9A-Za-z-]+")


@dataclass(frozen=True, slots=True)
class Parsed:
    major: str
    minor: str
    patch: str
    short: str
    prerelease: str
    build: str


def _parse_int(v: str) -> tuple[str, str] | None:
    m = re.match(r"[0-9]+", v)
    if m is None:
        return None
    digits = m.group()
    if digits[0] == "0" and len(digits) != 1:
        return None
    return digits, v[m.end() :]


def _idents_ok(s: str, numeric_rule: bool) -> bool:
    for ident in s.split("."):
        if not _IDENT.fullmatch(ident):
            return False
        if numeric_rule and ident.isdigit() and ident[0] == "0" and len(ident) != 1:
            return False
    return True


def parse(v: str) -> Parsed | None:
    """x/mod/semver's parse; None where it reports !ok."""
    if not v or v[0] != "v":
        return None
    r = _parse_int(v[1:])
    if r is None:
        return None
    major, v = r
    if not v:
        return Parsed(major, "0", "0", ".0.0", "", "")
    if v[0] != ".":
        return None
    r = _parse_int(v[1:])
    if r is None:
        return None
    minor, v = r
    if not v:
        return Parsed(major, minor, "0", ".0", "", "")
    if v[0] != ".":
        return None
    r = _parse_int(v[1:])
    if r is None:
        return None
    patch, v = r
    pre = build = ""
    if v.startswith("-"):
        end = v.find("+")
        pre = v if end < 0 else v[:end]
        if not _idents_ok(pre[1:], numeric_rule=True):
            return None
        v = v[len(pre) :]
    if v.startswith("+"):
        build = v
        if not _idents_ok(build[1:], numeric_rule=False):
            return None
        v = ""
    if v:
        return None
    return Parsed(major, minor, patch, "", pre, build)


@lru_cache(maxsize=131072)
def go_key(v: str) -> GoKey:
    p = parse(bounded(v))
    if p is None:
        raise InvalidVersion(f"not a Go module version: {v!r}")
    if not p.prerelease:
        pre: tuple[int, tuple[tuple[int, int | str], ...]] = (1, ())
    else:
        ids = tuple((0, int(i)) if i.isdigit() else (1, i) for i in p.prerelease[1:].split("."))
        pre = (0, ids)
    return (int(p.major), int(p.minor), int(p.patch), pre)


class GoScheme(VersionScheme):
    """Go modules (`v1.2.3`, `v2.0.0+incompatible`, pseudo-versions)."""

    name = "go"

    def key(self, version: str) -> GoKey:
        if version and version[0] != "v":
            # OSV's Go advisories write versions without the `v` (`1.2.3`); Go itself requires it.
            version = "v" + version
        return go_key(version)
