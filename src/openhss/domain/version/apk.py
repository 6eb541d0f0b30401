"""Alpine apk versions, ordered exactly as apk-tools' `apk_version_compare` (src/version.c).

apk walks both strings token by token (`digit{.digit}...{letter}{_suffix{#}}...{~hash}{-r#}`).
While token kinds agree it compares values; at the first kind mismatch the version that continues
with a pre-release suffix is older, otherwise the one whose next token comes *later* in the grammar
(closer to the end) is older. Each token becomes `(rank, value)` with rank = -kind (pre-release
suffixes ranked lowest), which turns that walk into plain tuple comparison.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from openhss.domain.version.base import MAX_VERSION_LENGTH, InvalidVersion, VersionScheme, bounded

Token = tuple[int, object] | tuple[int]

INITIAL_DIGIT: Final = 0
DIGIT: Final = 1
LETTER: Final = 2
SUFFIX: Final = 3
SUFFIX_NO: Final = 4
COMMIT_HASH: Final = 5
REVISION_NO: Final = 6
END: Final = 7
INVALID: Final = 8

_SUFFIXES: Final = {"alpha": 1, "beta": 2, "pre": 3, "rc": 4, "cvs": 6, "svn": 7, "git": 8, "hg": 9, "p": 10}
_SUFFIX_NONE: Final = 5
_PRE_SUFFIX_RANK: Final = -100
_DIGITS: Final = re.compile(r"[0-9]*")
_SUFFIX_CHARS: Final = re.compile(r"[a-z]*")
_HEX: Final = re.compile(r"[0-9a-fA-F]*")


def tokens(version: str, lenient: bool = False) -> list[tuple[int, object]]:
    """apk's token stream as (kind, comparable value); the last token is END or INVALID.

    `lenient` keeps going where apk-tools 3 stops at an invalid token, the way apk-tools 2 and OSV's
    reference comparator read real-world strings such as `5.7.1p1-r0` (digits after the letter),
    `1-r` (revision 0) or `0..1` (empty component); valid versions tokenize identically either way.
    """
    out: list[tuple[int, object]] = []
    pos, n = 0, len(version)
    digits = _DIGITS.match(version, 0)
    assert digits is not None
    if not digits.group() and not lenient:
        return [(INVALID, None)]
    out.append((INITIAL_DIGIT, int(digits.group() or "0")))
    pos = digits.end()
    kind = INITIAL_DIGIT
    while True:
        if pos >= n:
            out.append((END, None))
            return out
        ch = version[pos]
        value: object = None
        if "a" <= ch <= "z":
            if kind > DIGIT:
                break
            kind, value, pos = LETTER, ord(ch), pos + 1
        elif ch == "." or "0" <= ch <= "9":
            if ch == ".":
                if kind > DIGIT:
                    break
                pos += 1
            if kind in (INITIAL_DIGIT, DIGIT) or (lenient and kind == LETTER):
                kind = DIGIT
            elif kind == SUFFIX:
                kind = SUFFIX_NO
            else:
                break
            m = _DIGITS.match(version, pos)
            assert m is not None
            text, pos = m.group(), m.end()
            if not text and not (lenient and kind == DIGIT):
                break
            if kind == DIGIT:
                # apk compares digit runs with a leading zero as strings (Gentoo rule); a leading
                # zero always sorts below a non-zero first digit, so the flag keeps it total.
                value = (0, text) if not text or text[0] == "0" else (1, int(text))
            else:
                value = int(text)
        elif ch == "_":
            if kind > SUFFIX_NO:
                break
            m = _SUFFIX_CHARS.match(version, pos + 1)
            assert m is not None
            suffix = _SUFFIXES.get(m.group())
            if suffix is None:
                break
            kind, value, pos = SUFFIX, suffix, m.end()
        elif ch == "~":
            if kind >= COMMIT_HASH:
                break
            m = _HEX.match(version, pos + 1)
            assert m is not None
            if not m.group():
                break
            kind, value, pos = COMMIT_HASH, m.group(), m.end()
        elif ch == "-":
            if kind >= REVISION_NO or not version.startswith("-r", pos):
                break
            m = _DIGITS.match(version, pos + 2)
            assert m is not None
            if not m.group() and not lenient:
                break
            kind, value, pos = REVISION_NO, int(m.group() or "0"), m.end()
        else:
            break
        out.append((kind, value))
    out.append((INVALID, None))
    return out


def _rank(kind: int, value: object) -> Token:
    if kind == SUFFIX and isinstance(value, int) and value < _SUFFIX_NONE:
        return (_PRE_SUFFIX_RANK, value)
    if kind >= END:
        return (-kind,)
    return (-kind, value)


@lru_cache(maxsize=131072)
def apk_key(version: str) -> tuple[Token, ...]:
    """Sort key for any string apk would compare; valid or not, ordering equals apk-tools'."""
    return tuple(_rank(k, v) for k, v in tokens(version, lenient=True))


def apk_valid(version: str) -> bool:
    return tokens(version)[-1][0] == END


def compare_fuzzy(a: str, b: str, fuzzy: bool) -> int:
    """apk_version_compare_fuzzy: with `fuzzy`, `a` equals `b` when it matches all of `b`'s tokens."""
    for (ka, va), (kb, vb) in zip(tokens(a), tokens(b), strict=False):
        if ka != kb or ka >= END:
            if ka == kb or (fuzzy and kb == END):
                return 0
            return -1 if _rank(ka, va) < _rank(kb, vb) else 1
        ra, rb = _rank(ka, va), _rank(kb, vb)
        if ra != rb:
            return -1 if ra < rb else 1
    return 0


_OP_BITS: Final = {"<": 1, "=": 2, ">": 4, "~": 2 | 8}


def match(a: str, op: str, b: str) -> bool:
    """apk's dependency operators (`<`, `<=`, `=`, `>=`, `>`, `~`, `<~`, `>~`, and `!`-negated):
    does version `a` satisfy `op b`?"""
    negate = op.startswith("!")
    mask = 0
    for ch in op.lstrip("!"):
        if ch not in _OP_BITS:
            raise ValueError(f"unknown apk version operator {op!r}")
        mask |= _OP_BITS[ch]
    result = compare_fuzzy(a, b, fuzzy=bool(mask & 8))
    ok = bool({-1: 1, 0: 2, 1: 4}[result] & mask)
    return ok != negate


class ApkScheme(VersionScheme):
    """Alpine, Wolfi and Chainguard (all apk-tools based)."""

    name = "apk"

    def key(self, version: str) -> tuple[Token, ...]:
        if not bounded(version):
            raise InvalidVersion("empty apk version")
        return apk_key(version)

    def valid(self, version: str) -> bool:
        """apk-tools' own validity (apk_version_validate); malformed strings still get a key."""
        return len(version) <= MAX_VERSION_LENGTH and apk_valid(version)
