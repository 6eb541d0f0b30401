"""Alias groups: advisories that name one flaw (CVE ↔ GHSA ↔ PYSEC ↔ GO-…) joined into one group.

The matcher folds one package's hits into findings by group, and the enrichment derivation lends a
group's scores to its unrated members; both must agree on what a group is, so both use this.
"""

from __future__ import annotations

from collections.abc import Iterable


class AliasGroups:
    """Union-find over advisory ids (path halving): `join` an id with its aliases, `find` its root."""

    __slots__ = ("_parent",)

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self._parent
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def join(self, advisory_id: str, aliases: Iterable[str]) -> str:
        """Put `advisory_id` and each alias in one group; returns the group's root."""
        root = self.find(advisory_id)
        for alias in aliases:
            self._parent[self.find(alias)] = root
        return root

    def ids(self) -> Iterable[str]:
        return self._parent.keys()
