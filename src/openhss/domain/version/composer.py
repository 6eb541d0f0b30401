"""Composer/Packagist versions, ordered like PHP's `version_compare` (which Composer builds on).

The string is canonicalised (`-`, `_`, `+` become `.`; a dot separates digit/non-digit runs), then
compared part by part: numbers numerically, words by their special-form weight
`dev < alpha/a < beta/b < RC/rc < number < patch/pl/p` (unknown words weigh like `dev`). When one
version runs out, a following number makes the other newer, a following word is weighed against
a number (so `1.0` > `1.0-beta` but `1.0` < `1.0-p1`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from openhss.domain.version.base import InvalidVersion, VersionScheme, bounded

ComposerKey = tuple[tuple[int, int], ...]

_SEPARATORS: Final = re.compile(r"[-_+]")
_ALPHA_DIGIT: Final = re.compile(r"([^\d.])(\d)")
_DIGIT_ALPHA: Final = re.compile(r"(\d)([^\d.])")
_SPECIALS: Final = ("dev", "a", "b", "rc", "#", "p")
_NUMBER_WEIGHT: Final = 4
# The end of a version compares like a number-weighted word that every real number beats.
_END: Final = (_NUMBER_WEIGHT, -1)


def canonicalize(version: str) -> str:
    v = version.strip()
    v = v.removeprefix("v").removeprefix("V")
    v = _SEPARATORS.sub(".", v)
    v = _ALPHA_DIGIT.sub(r"\1.\2", v)
    return _DIGIT_ALPHA.sub(r"\1.\2", v)


def _weight(word: str) -> int:
    if word.startswith("RC"):
        return 3
    for i, special in enumerate(_SPECIALS):
        if word.startswith(special):
            return i
    return 0


@lru_cache(maxsize=131072)
def composer_key(version: str) -> ComposerKey:
    if not bounded(version).strip():
        raise InvalidVersion("empty Composer version")
    out: list[tuple[int, int]] = []
    for part in canonicalize(version).split("."):
        if part.isdigit() and part.isascii():
            out.append((_NUMBER_WEIGHT, int(part)))
        else:
            out.append((_weight(part), 0))
    out.append(_END)
    return tuple(out)


class ComposerScheme(VersionScheme):
    """Packagist (composer.lock)."""

    name = "composer"

    def key(self, version: str) -> ComposerKey:
        return composer_key(version)
