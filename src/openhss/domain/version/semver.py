"""npm semver (node-semver): versions, ordering, prerelease rules and range expressions.

Also the ordering of OSV's `SEMVER` range type (crates.io, generic SemVer 2.0). The range grammar is
ported from node-semver (`^ ~ x-ranges`, hyphen ranges, `||`, comparators, `loose` and
`includePrerelease` options) because npm advisories are written in it and must mean exactly what
npm means: a prerelease only satisfies a range whose comparator names the same `major.minor.patch`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from openhss.domain.version.base import InvalidVersion, VersionScheme, bounded

MAX_LENGTH: Final = 256
MAX_SAFE_INTEGER: Final = 2**53 - 1

Ident = tuple[int, int | str]
SemverKey = tuple[int, int, int, tuple[int, tuple[Ident, ...]]]

# ---- node-semver's internal/re.js, transcribed -------------------------------------------------
_NUM = r"0|[1-9]\d*"
_NUML = r"[0-9]+"
_NONNUM = r"\d*[a-zA-Z-][a-zA-Z0-9-]*"
_MAIN = rf"({_NUM})\.({_NUM})\.({_NUM})"
_MAINL = rf"({_NUML})\.({_NUML})\.({_NUML})"
_PREID = rf"(?:{_NONNUM}|{_NUM})"
_PREIDL = rf"(?:{_NONNUM}|{_NUML})"
_PRE = rf"(?:-({_PREID}(?:\.{_PREID})*))"
_PREL = rf"(?:(?:-|\.*(?=[a-zA-Z-]))({_PREIDL}(?:\.{_PREIDL})*))"
_BUILDID = r"[0-9A-Za-z-]+"
_BUILD = rf"(?:\+({_BUILDID}(?:\.{_BUILDID})*))"
_FULLPLAIN = rf"v?{_MAIN}{_PRE}?{_BUILD}?"
_LOOSEPLAIN = rf"[v=\s]*{_MAINL}{_PREL}?{_BUILD}?"
_GTLT = r"((?:<|>)?=?)"
_XRID = rf"{_NUM}|x|X|\*"
_XRIDL = rf"{_NUML}|x|X|\*"
_XRPLAIN = rf"[v=\s]*({_XRID})(?:\.({_XRID})(?:\.({_XRID})(?:{_PRE})?)?)?{_BUILD}?"
_XRPLAINL = rf"[v=\s]*({_XRIDL})(?:\.({_XRIDL})(?:\.({_XRIDL})(?:{_PREL})?)?)?{_BUILD}?"

FULL: Final = re.compile(rf"^{_FULLPLAIN}$")
LOOSE: Final = re.compile(rf"^{_LOOSEPLAIN}$")
XRANGE: Final = re.compile(rf"^{_GTLT}\s*{_XRPLAIN}$")
XRANGELOOSE: Final = re.compile(rf"^{_GTLT}\s*{_XRPLAINL}$")
TILDETRIM: Final = re.compile(r"(\s*)(?:~>?)\s+")
TILDE: Final = re.compile(rf"^(?:~>?){_XRPLAIN}$")
TILDELOOSE: Final = re.compile(rf"^(?:~>?){_XRPLAINL}$")
CARETTRIM: Final = re.compile(r"(\s*)(?:\^)\s+")
CARET: Final = re.compile(rf"^(?:\^){_XRPLAIN}$")
CARETLOOSE: Final = re.compile(rf"^(?:\^){_XRPLAINL}$")
COMPARATORLOOSE: Final = re.compile(rf"^{_GTLT}\s*({_LOOSEPLAIN})$|^$")
COMPARATOR: Final = re.compile(rf"^{_GTLT}\s*({_FULLPLAIN})$|^$")
COMPARATORTRIM: Final = re.compile(rf"(\s*){_GTLT}\s*({_LOOSEPLAIN}|{_XRPLAIN})")
HYPHENRANGE: Final = re.compile(rf"^\s*({_XRPLAIN})\s+-\s+({_XRPLAIN})\s*$")
HYPHENRANGELOOSE: Final = re.compile(rf"^\s*({_XRPLAINL})\s+-\s+({_XRPLAINL})\s*$")
STAR: Final = re.compile(r"(<|>)?=?\s*\*")
GTE0: Final = re.compile(r"^\s*>=\s*0\.0\.0\s*$")
GTE0PRE: Final = re.compile(r"^\s*>=\s*0\.0\.0-0\s*$")
_NUMERIC: Final = re.compile(r"^[0-9]+$")


@dataclass(frozen=True, slots=True)
class Options:
    loose: bool = False
    include_prerelease: bool = False


DEFAULT: Final = Options()


@dataclass(frozen=True, slots=True)
class SemVer:
    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...]
    build: tuple[str, ...]

    @property
    def version(self) -> str:
        main = f"{self.major}.{self.minor}.{self.patch}"
        return f"{main}-{'.'.join(str(p) for p in self.prerelease)}" if self.prerelease else main

    @property
    def key(self) -> SemverKey:
        return _key_of(self)

    def __str__(self) -> str:
        return self.version


def _key_of(v: SemVer) -> SemverKey:
    if not v.prerelease:
        return (v.major, v.minor, v.patch, (1, ()))
    ids = tuple((0, p) if isinstance(p, int) else (1, p) for p in v.prerelease)
    return (v.major, v.minor, v.patch, (0, ids))


def parse(version: object, options: Options = DEFAULT) -> SemVer:
    """node-semver `new SemVer(version, options)`; raises InvalidVersion where it throws."""
    if not isinstance(version, str):
        raise InvalidVersion(f"a version must be a string, not {type(version).__name__}")
    return _parse(version, options)


@lru_cache(maxsize=131072)
def _parse(version: str, options: Options) -> SemVer:
    if len(version) > MAX_LENGTH:
        raise InvalidVersion(f"version is longer than {MAX_LENGTH} characters")
    m = (LOOSE if options.loose else FULL).match(version.strip())
    if m is None:
        raise InvalidVersion(f"invalid semver: {version!r}")
    major, minor, patch = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if max(major, minor, patch) > MAX_SAFE_INTEGER:
        raise InvalidVersion(f"version component too large: {version!r}")
    pre: tuple[int | str, ...] = ()
    if m.group(4):
        pre = tuple(
            int(p) if _NUMERIC.match(p) and int(p) < MAX_SAFE_INTEGER else p for p in m.group(4).split(".")
        )
    build = tuple(m.group(5).split(".")) if m.group(5) else ()
    return SemVer(major, minor, patch, pre, build)


def compare(a: SemVer, b: SemVer) -> int:
    ka, kb = _key_of(a), _key_of(b)
    return int(ka > kb) - int(ka < kb)


# ---- comparators and ranges ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparator:
    operator: str  # "", "<", "<=", ">", ">="
    semver: SemVer | None  # None is node-semver's ANY

    @property
    def value(self) -> str:
        return "" if self.semver is None else self.operator + self.semver.version

    def test(self, version: SemVer) -> bool:
        if self.semver is None:
            return True
        return _CMP[self.operator](_key_of(version), _key_of(self.semver))


_CMP: Final[dict[str, Callable[[SemverKey, SemverKey], bool]]] = {
    "": lambda a, b: a == b,
    "=": lambda a, b: a == b,
    "==": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _comparator(comp: str, options: Options) -> Comparator:
    comp = " ".join(comp.strip().split())
    m = (COMPARATORLOOSE if options.loose else COMPARATOR).match(comp)
    if m is None:
        raise InvalidVersion(f"invalid comparator: {comp!r}")
    op = m.group(1) or ""
    if op == "=":
        op = ""
    if not m.group(2):
        return Comparator("", None)
    # Build metadata never takes part in range tests; dropping it keeps long hashes within MAX_LENGTH.
    return Comparator(op, parse(m.group(2).split("+", 1)[0], options))


def _is_x(ident: str | None) -> bool:
    return not ident or ident.lower() == "x" or ident == "*"


def _check_x(*idents: str | None) -> None:
    """`1.x.5` or `x.1` name a version after a wildcard; node-semver rejects such ranges."""
    seen_x = False
    for ident in idents:
        if ident is None:
            return
        if _is_x(ident):
            seen_x = True
        elif seen_x:
            raise InvalidVersion(f"numeric identifier after a wildcard: {'.'.join(i for i in idents if i)}")


def _replace_tilde(comp: str, options: Options) -> str:
    def repl(m: re.Match[str]) -> str:
        big, minor, patch, pre = m.group(1), m.group(2), m.group(3), m.group(4)
        _check_x(big, minor, patch)
        z = "-0" if options.include_prerelease else ""
        if _is_x(big):
            return ""
        if _is_x(minor):
            return f">={big}.0.0{z} <{int(big) + 1}.0.0-0"
        if _is_x(patch):
            return f">={big}.{minor}.0{z} <{big}.{int(minor) + 1}.0-0"
        if pre:
            return f">={big}.{minor}.{patch}-{pre} <{big}.{int(minor) + 1}.0-0"
        return f">={big}.{minor}.{patch} <{big}.{int(minor) + 1}.0-0"

    return (TILDELOOSE if options.loose else TILDE).sub(repl, comp)


def _replace_caret(comp: str, options: Options) -> str:
    z = "-0" if options.include_prerelease else ""

    def repl(m: re.Match[str]) -> str:
        big, minor, patch, pre = m.group(1), m.group(2), m.group(3), m.group(4)
        _check_x(big, minor, patch)
        if _is_x(big):
            return ""
        if _is_x(minor):
            return f">={big}.0.0{z} <{int(big) + 1}.0.0-0"
        if _is_x(patch):
            if big == "0":
                return f">={big}.{minor}.0{z} <{big}.{int(minor) + 1}.0-0"
            return f">={big}.{minor}.0{z} <{int(big) + 1}.0.0-0"
        if pre:
            if big == "0":
                if minor == "0":
                    return f">={big}.{minor}.{patch}-{pre} <{big}.{minor}.{int(patch) + 1}-0"
                return f">={big}.{minor}.{patch}-{pre} <{big}.{int(minor) + 1}.0-0"
            return f">={big}.{minor}.{patch}-{pre} <{int(big) + 1}.0.0-0"
        if big == "0":
            if minor == "0":
                return f">={big}.{minor}.{patch} <{big}.{minor}.{int(patch) + 1}-0"
            return f">={big}.{minor}.{patch} <{big}.{int(minor) + 1}.0-0"
        return f">={big}.{minor}.{patch} <{int(big) + 1}.0.0-0"

    return (CARETLOOSE if options.loose else CARET).sub(repl, comp)


def _replace_xrange(comp: str, options: Options) -> str:
    comp = comp.strip()

    def repl(m: re.Match[str]) -> str:
        ret, gtlt = m.group(0), m.group(1)
        big, minor, patch = m.group(2), m.group(3), m.group(4)
        _check_x(big, minor, patch)
        x_major = _is_x(big)
        x_minor = x_major or _is_x(minor)
        x_patch = x_minor or _is_x(patch)
        if gtlt == "=" and x_patch:
            gtlt = ""
        pr = "-0" if options.include_prerelease else ""
        if x_major:
            return "<0.0.0-0" if gtlt in (">", "<") else "*"
        if gtlt and x_patch:
            n_major, n_minor, n_patch = int(big), 0 if x_minor else int(minor), 0
            if gtlt == ">":
                gtlt = ">="
                if x_minor:
                    n_major, n_minor = n_major + 1, 0
                else:
                    n_minor += 1
            elif gtlt == "<=":
                gtlt = "<"
                if x_minor:
                    n_major += 1
                else:
                    n_minor += 1
            if gtlt == "<":
                pr = "-0"
            return f"{gtlt}{n_major}.{n_minor}.{n_patch}{pr}"
        if x_minor:
            return f">={big}.0.0{pr} <{int(big) + 1}.0.0-0"
        if x_patch:
            return f">={big}.{minor}.0{pr} <{big}.{int(minor) + 1}.0-0"
        return ret

    return (XRANGELOOSE if options.loose else XRANGE).sub(repl, comp)


def _hyphen_replace(options: Options) -> Callable[[re.Match[str]], str]:
    inc = "-0" if options.include_prerelease else ""

    def repl(m: re.Match[str]) -> str:
        f_major, f_minor, f_patch, f_pre = m.group(2), m.group(3), m.group(4), m.group(5)
        t_major, t_minor, t_patch, t_pre = m.group(8), m.group(9), m.group(10), m.group(11)
        _check_x(f_major, f_minor, f_patch)
        _check_x(t_major, t_minor, t_patch)
        if _is_x(f_major):
            start = ""
        elif _is_x(f_minor):
            start = f">={f_major}.0.0{inc}"
        elif _is_x(f_patch):
            start = f">={f_major}.{f_minor}.0{inc}"
        elif f_pre:
            start = f">={f_major}.{f_minor}.{f_patch}-{f_pre}"
        else:
            start = f">={f_major}.{f_minor}.{f_patch}{inc}"
        if _is_x(t_major):
            end = ""
        elif _is_x(t_minor):
            end = f"<{int(t_major) + 1}.0.0-0"
        elif _is_x(t_patch):
            end = f"<{t_major}.{int(t_minor) + 1}.0-0"
        elif t_pre:
            end = f"<={t_major}.{t_minor}.{t_patch}-{t_pre}"
        elif inc:
            end = f"<{t_major}.{t_minor}.{int(t_patch) + 1}-0"
        else:
            end = f"<={t_major}.{t_minor}.{t_patch}"
        return f"{start} {end}".strip()

    return repl


def _parse_comparator(comp: str, options: Options) -> str:
    comp = " ".join(_replace_caret(c, options) for c in comp.strip().split())
    comp = " ".join(_replace_tilde(c, options) for c in comp.strip().split())
    comp = " ".join(_replace_xrange(c, options) for c in comp.split())
    return STAR.sub("", comp.strip(), count=1)


def _is_null_set(c: Comparator) -> bool:
    return c.value == "<0.0.0-0"


def _parse_range(text: str, options: Options) -> list[Comparator]:
    text = text.strip()
    text = (HYPHENRANGELOOSE if options.loose else HYPHENRANGE).sub(_hyphen_replace(options), text)
    text = COMPARATORTRIM.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}", text)
    text = TILDETRIM.sub(r"\1~", text)
    text = CARETTRIM.sub(r"\1^", text)
    text = " ".join(text.split())
    parts = " ".join(_parse_comparator(c, options) for c in text.split(" ")).split()
    if not parts:
        parts = [""]
    gte0 = GTE0PRE if options.include_prerelease else GTE0
    parts = [gte0.sub("", p.strip()) for p in parts]
    if options.loose:
        parts = [p for p in parts if COMPARATORLOOSE.match(p)]
    comps: dict[str, Comparator] = {}
    for p in parts:
        c = _comparator(p, options)
        if _is_null_set(c):
            return [c]
        comps[c.value] = c
    if len(comps) > 1 and "" in comps:
        del comps[""]
    return list(comps.values())


@dataclass(frozen=True, slots=True)
class Range:
    """A parsed node-semver range: OR of AND-sets of comparators."""

    raw: str
    set: tuple[tuple[Comparator, ...], ...]
    options: Options

    @property
    def range(self) -> str:
        return "||".join(" ".join(c.value for c in comps).strip() for comps in self.set).strip()

    def test(self, version: object) -> bool:
        if not isinstance(version, SemVer):
            try:
                version = parse(version, self.options)
            except InvalidVersion:
                return False
        return any(_test_set(s, version, self.options) for s in self.set)


@lru_cache(maxsize=16384)
def parse_range(text: str, options: Options = DEFAULT) -> Range:
    """node-semver `new Range(text, options)`; raises InvalidVersion where it throws."""
    if len(text) > MAX_LENGTH * 4:
        raise InvalidVersion("range expression too long")
    sets = [s for s in (_parse_range(part.strip(), options) for part in re.split(r"\s*\|\|\s*", text)) if s]
    if not sets:
        raise InvalidVersion(f"invalid semver range: {text!r}")
    if len(sets) > 1:
        first = sets[0]
        sets = [s for s in sets if not _is_null_set(s[0])] or [first]
        if len(sets) > 1:
            for s in sets:
                if len(s) == 1 and s[0].semver is None:
                    sets = [s]
                    break
    return Range(text, tuple(tuple(s) for s in sets), options)


def _test_set(comps: tuple[Comparator, ...], version: SemVer, options: Options) -> bool:
    if not all(c.test(version) for c in comps):
        return False
    if version.prerelease and not options.include_prerelease:
        release = (version.major, version.minor, version.patch)
        for c in comps:
            allowed = c.semver
            if (
                allowed is not None
                and allowed.prerelease
                and (allowed.major, allowed.minor, allowed.patch) == release
            ):
                return True
        return False
    return True


def satisfies(version: object, range_expr: str, options: Options = DEFAULT) -> bool:
    """npm `semver.satisfies`: False for an unparsable version or range, as npm does."""
    try:
        rng = parse_range(range_expr, options)
    except InvalidVersion:
        return False
    return rng.test(version)


_PRERELEASE_SEARCH: Final = re.compile(_PRE)
_PRERELEASE_LOOSE_SEARCH: Final = re.compile(_PREL)


def _compare_identifiers(a: int | str, b: int | str) -> int:
    anum, bnum = _NUMERIC.match(str(a)) is not None, _NUMERIC.match(str(b)) is not None
    if anum and bnum:
        a, b = int(a), int(b)
    if a == b:
        return 0
    if anum and not bnum:
        return -1
    if bnum and not anum:
        return 1
    return -1 if str(a) < str(b) else 1


def _is_nan(value: int | str | None) -> bool:
    return not isinstance(value, int)


def inc(
    version: str,
    release: str,
    options: Options = DEFAULT,
    identifier: str | None = None,
    identifier_base: str | bool | None = None,
) -> str | None:
    """node-semver `inc` (None where node-semver returns null). Used to compute "next version"
    hints; ported with the fixtures so its corner cases (identifier bases, `release`) hold."""
    try:
        v = parse(version, options)
    except InvalidVersion:
        return None
    state = [v.major, v.minor, v.patch]
    pre: list[int | str] = list(v.prerelease)

    if release.startswith("pre"):
        if not identifier and identifier_base is False:
            return None
        if identifier:
            m = (_PRERELEASE_LOOSE_SEARCH if options.loose else _PRERELEASE_SEARCH).search(f"-{identifier}")
            if m is None or m.group(1) != identifier:
                return None

    def bump(kind: str) -> bool:
        nonlocal pre
        if kind == "premajor":
            pre = []
            state[:] = [state[0] + 1, 0, 0]
            return bump("pre")
        if kind == "preminor":
            pre = []
            state[1:] = [state[1] + 1, 0]
            return bump("pre")
        if kind == "prepatch":
            pre = []
            bump("patch")
            return bump("pre")
        if kind == "prerelease":
            if not pre:
                bump("patch")
            return bump("pre")
        if kind == "release":
            if not pre:
                return False
            pre = []
            return True
        if kind == "major":
            if state[1] != 0 or state[2] != 0 or not pre:
                state[0] += 1
            state[1:] = [0, 0]
            pre = []
            return True
        if kind == "minor":
            if state[2] != 0 or not pre:
                state[1] += 1
            state[2] = 0
            pre = []
            return True
        if kind == "patch":
            if not pre:
                state[2] += 1
            pre = []
            return True
        if kind == "pre":
            try:
                base = 1 if identifier_base not in (None, False) and float(str(identifier_base)) else 0
            except ValueError:
                base = 0
            if not pre:
                pre = [base]
            else:
                for i in range(len(pre) - 1, -1, -1):
                    item = pre[i]
                    if isinstance(item, int):
                        pre[i] = item + 1
                        break
                else:
                    if identifier == ".".join(str(p) for p in pre) and identifier_base is False:
                        return False
                    pre.append(base)
            if identifier:
                # 1.2.0-beta.1 → 1.2.0-beta.2; 1.2.0-beta.foo or 1.2.0-beta → 1.2.0-beta.0
                parts = identifier.split(".")
                new: list[int | str] = [identifier] if identifier_base is False else [identifier, base]
                prefix_matches = len(pre) >= len(parts) and all(
                    _compare_identifiers(p, q) == 0 for p, q in zip(pre, parts, strict=False)
                )
                if not prefix_matches or _is_nan(pre[len(parts)] if len(pre) > len(parts) else None):
                    pre = new
            return True
        return False

    if not bump(release):
        return None
    main = f"{state[0]}.{state[1]}.{state[2]}"
    return f"{main}-{'.'.join(str(p) for p in pre)}" if pre else main


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
    non-SemVer strings registries hold (see `semver_like_key`); `satisfies` is node-semver's."""

    name = "semver"

    def key(self, version: str) -> LikeKey:
        return semver_key(version)

    def satisfies(self, version: str, range_expr: str, include_prerelease: bool = False) -> bool:
        return satisfies(version, range_expr, Options(loose=True, include_prerelease=include_prerelease))
