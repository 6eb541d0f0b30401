"""Debian package versions (`[epoch:]upstream[-revision]`), ordered exactly as dpkg's `verrevcmp`.

dpkg compares alternating non-digit and digit runs; within a non-digit run `~` sorts before the end
of the run, which sorts before letters, which sort before every other character. The key encodes
each character as an integer weight with a 0 terminator so tuple comparison reproduces that walk,
and ends every component with a sentinel that stands for "nothing left" (see `_SENTINEL`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from openhss.domain.version.base import InvalidVersion, VersionScheme, bounded

Part = tuple[tuple[int, ...], int]
Component = tuple[Part, ...]
DpkgKey = tuple[int, Component, Component]

_RUNS: Final = re.compile(r"(\D*)(\d*)")
_EPOCH: Final = re.compile(r"\d+")
# Versions consisting of these characters are what dpkg accepts (policy §5.6.12); anything else
# (spaces, control characters) is a malformed record, not an ordering question.
_ALLOWED: Final = re.compile(r"[A-Za-z0-9.+~:\-_]+")
# A part "(non-digits, number)" compared against the end of the other string: dpkg pads the shorter
# string with empty runs, so an exhausted component behaves like ((0,), -1) ahead of any real part:
# a part starting with `~` is smaller, any other non-empty part is larger.
_SENTINEL: Final[Part] = ((0,), -1)
# The empty string behaves like "0" (dpkg: "1.0" == "1.0-0"), so it gets that part explicitly.
_EMPTY: Final[Component] = (((0,), 0), _SENTINEL)


def _weight(ch: str) -> int:
    if ch == "~":
        return -1
    return ord(ch) if ch.isascii() and ch.isalpha() else ord(ch) + 256


# Only characters _ALLOWED admits reach _weights; their weights are precomputed.
_WEIGHT: Final = {ch: _weight(ch) for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.+~:-_"}


@lru_cache(maxsize=4096)  # runs repeat across versions: ".", "+dfsg", "ubuntu", "+deb"
def _weights(run: str) -> tuple[int, ...]:
    return (*map(_WEIGHT.__getitem__, run), 0)


def _component(text: str) -> Component:
    if not text:
        return _EMPTY
    parts = [
        (_weights(alpha), int(digits) if digits else 0)
        for alpha, digits in _RUNS.findall(text)
        if alpha or digits
    ]
    parts.append(_SENTINEL)
    return tuple(parts)


@lru_cache(maxsize=131072)
def dpkg_key(version: str) -> DpkgKey:
    text = bounded(version).strip()
    if not text or not _ALLOWED.fullmatch(text):
        raise InvalidVersion(f"not a Debian version: {version!r}")
    epoch = 0
    if ":" in text:
        head, text = text.split(":", 1)
        if not _EPOCH.fullmatch(head):
            raise InvalidVersion(f"bad epoch in Debian version: {version!r}")
        epoch = int(head)
    upstream, sep, revision = text.rpartition("-")
    if not sep:
        upstream, revision = text, ""
    if not upstream:
        raise InvalidVersion(f"empty upstream version: {version!r}")
    return (epoch, _component(upstream), _component(revision))


class DpkgScheme(VersionScheme):
    """Debian, Ubuntu and their derivatives (UOS)."""

    name = "dpkg"

    def key(self, version: str) -> DpkgKey:
        return dpkg_key(version)
