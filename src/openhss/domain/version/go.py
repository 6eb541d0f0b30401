"""Go module versions: golang.org/x/mod/semver ordering plus module pseudo-versions.

Go requires the `v` prefix, accepts the `v1`/`v1.2` shorthands, treats `+incompatible` as build
metadata (ignored in ordering) and orders pseudo-versions (`v0.0.0-20060102150405-abcdef`) as
the prereleases they are. Invalid strings are rejected by `key`; `go_compare` reproduces
`semver.Compare`, where invalid versions are equal to each other and below all valid ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Final

from openhss.domain.version.base import InvalidVersion, VersionScheme, bounded

GoKey = tuple[int, int, int, tuple[int, tuple[tuple[int, int | str], ...]]]

_NUM: Final = re.compile(r"0|[1-9][0-9]*")
_IDENT: Final = re.compile(r"[0-9A-Za-z-]+")
_PSEUDO: Final = re.compile(
    r"^v[0-9]+\.(0\.0-|\d+\.\d+-([^+]*\.)?0\.)\d{14}-[A-Za-z0-9]+(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
TIMESTAMP_FORMAT: Final = "%Y%m%d%H%M%S"


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


def is_valid(v: str) -> bool:
    return parse(v) is not None


def canonical(v: str) -> str:
    p = parse(v)
    if p is None:
        return ""
    if p.build:
        return v[: len(v) - len(p.build)]
    return v + p.short


def prerelease(v: str) -> str:
    p = parse(v)
    return p.prerelease if p else ""


def build(v: str) -> str:
    p = parse(v)
    return p.build if p else ""


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


def go_compare(a: str, b: str) -> int:
    """semver.Compare: invalid versions are equal to each other and below every valid one."""
    try:
        ka = go_key(a)
    except InvalidVersion:
        return 0 if not is_valid(b) else -1
    try:
        kb = go_key(b)
    except InvalidVersion:
        return 1
    return int(ka > kb) - int(ka < kb)


# ---- pseudo-versions (golang.org/x/mod/module/pseudo.go) ----------------------------------------


def is_pseudo_version(v: str) -> bool:
    return v.count("-") >= 2 and is_valid(v) and _PSEUDO.match(v) is not None


def _inc_decimal(d: str) -> str:
    return str(int(d) + 1)


def pseudo_version(major: str, older: str, when: datetime, rev: str) -> str:
    """module.PseudoVersion: the pseudo-version for commit `rev` at `when` after tag `older`."""
    major = major or "v0"
    segment = f"{when.astimezone(UTC).strftime(TIMESTAMP_FORMAT)}-{rev}"
    build_part = build(older)
    older = canonical(older)
    if not older:
        return f"{major}.0.0-{segment}{build_part}"
    if prerelease(older):
        return f"{older}.0.{segment}{build_part}"
    i = older.rfind(".") + 1
    return f"{older[:i]}{_inc_decimal(older[i:])}-0.{segment}{build_part}"


def _parse_pseudo(v: str) -> tuple[str, str, str, str]:
    if not is_pseudo_version(v):
        raise InvalidVersion(f"not a pseudo-version: {v!r}")
    b = build(v)
    v = v[: len(v) - len(b)] if b else v
    j = v.rfind("-")
    v, rev = v[:j], v[j + 1 :]
    i = v.rfind("-")
    k = v.rfind(".")
    if k > i:
        base, stamp = v[:k], v[k + 1 :]
    else:
        base, stamp = v[:i], v[i + 1 :]
    return base, stamp, rev, b


def pseudo_version_base(v: str) -> str:
    """module.PseudoVersionBase: the tag a pseudo-version builds on ("" when there is none)."""
    base, _, _, b = _parse_pseudo(v)
    pre = prerelease(base)
    if pre == "":
        if b:
            raise InvalidVersion(f"{v!r} lacks a base version but has build metadata {b!r}")
        return ""
    if pre == "-0":
        base = base[: len(base) - len(pre)]
        i = base.rfind(".")
        patch = base[i + 1 :]
        if patch == "0" or not patch.isdigit():
            raise InvalidVersion(f"{v!r}: cannot decrement patch {patch!r}")
        return base[: i + 1] + str(int(patch) - 1) + b
    if not base.endswith(".0"):
        raise InvalidVersion(f"{v!r}: malformed pseudo-version base")
    return base[: -len(".0")] + b


def pseudo_version_rev(v: str) -> str:
    return _parse_pseudo(v)[2]


def pseudo_version_time(v: str) -> datetime:
    stamp = _parse_pseudo(v)[1]
    return datetime.strptime(stamp, TIMESTAMP_FORMAT).replace(tzinfo=UTC)


class GoScheme(VersionScheme):
    """Go modules (`v1.2.3`, `v2.0.0+incompatible`, pseudo-versions)."""

    name = "go"

    def key(self, version: str) -> GoKey:
        if version and version[0] != "v":
            # OSV's Go advisories write versions without the `v` (`1.2.3`); Go itself requires it.
            version = "v" + version
        return go_key(version)
