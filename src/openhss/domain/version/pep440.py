"""Python package versions (PEP 440) via `packaging`, the reference implementation pip uses.

PyPI still serves releases whose versions predate PEP 440 (`0.9-doduo`, `2013-01-21T20:33:09`).
OSV orders them as setuptools' old `LegacyVersion` did: below every PEP 440 version, among
themselves by the legacy component key. The key is `(1, Version)` or `(0, legacy parts)`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion as _PackagingInvalid
from packaging.version import Version

from openhss.domain.version.base import InvalidVersion, VersionScheme, bounded

Pep440Key = tuple[int, Version | tuple[str, ...]]

_LEGACY_COMPONENT: Final = re.compile(r"(\d+|[a-z]+|\.|-)")
_LEGACY_REPLACE: Final = {"pre": "c", "preview": "c", "-": "final-", "rc": "c", "dev": "@"}


@lru_cache(maxsize=131072)
def pep440_key(version: str) -> Version:
    """Strict PEP 440 parse; raises InvalidVersion for anything `packaging` rejects."""
    try:
        return Version(bounded(version))
    except _PackagingInvalid as exc:
        raise InvalidVersion(str(exc)) from exc


def legacy_key(version: str) -> tuple[str, ...]:
    """setuptools' `LegacyVersion` comparison key (packaging < 22), transcribed."""
    parts: list[str] = []
    for raw in [*_LEGACY_COMPONENT.split(version.lower()), "final"]:
        part = _LEGACY_REPLACE.get(raw, raw)
        if not part or part == ".":
            continue
        part = part.zfill(8) if part[:1] in "0123456789" else "*" + part
        if part.startswith("*"):
            if part < "*final":
                while parts and parts[-1] == "*final-":
                    parts.pop()
            while parts and parts[-1] == "00000000":
                parts.pop()
        parts.append(part)
    return tuple(parts)


@lru_cache(maxsize=131072)
def sort_key(version: str) -> Pep440Key:
    if not bounded(version).strip():
        raise InvalidVersion("empty version")
    try:
        return (1, Version(version))
    except _PackagingInvalid:
        return (0, legacy_key(version))


@lru_cache(maxsize=16384)
def _specifier(spec: str, prereleases: bool) -> SpecifierSet:
    try:
        return SpecifierSet(spec, prereleases=prereleases)
    except InvalidSpecifier as exc:
        raise InvalidVersion(str(exc)) from exc


class Pep440Scheme(VersionScheme):
    """PyPI: PEP 440 order, legacy (non-PEP 440) versions below all others."""

    name = "pep440"

    def key(self, version: str) -> Pep440Key:
        return sort_key(version)

    def parse(self, version: str) -> Version:
        """The strict PEP 440 `Version` (release, pre, post, dev, local …); InvalidVersion if legacy."""
        return pep440_key(version)

    def satisfies(self, version: str, spec: str, prereleases: bool = True) -> bool:
        """`version` within a PEP 440 specifier set (`>=1.0,<2`); prereleases count by default,
        because an advisory's range covers its prereleases too."""
        return _specifier(spec, prereleases).contains(pep440_key(version), prereleases=prereleases)
