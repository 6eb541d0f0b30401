"""Coverage of one inventory by the advisory database: which OS release / ecosystem could be judged.

Computed from the same lookup keys the matchers use (an OS package's ecosystem and release, a language
package's ecosystem), so "covered" means exactly "the matcher had advisories to compare with". A
language package owned by an OS package is judged through that OS release and counted there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from openhss.domain import coverage as cov
from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import OSInfo, Package
from openhss.scan.matcher.distro import OsMatcher

#: (ecosystem, release) → {source: records}, and source → synced_at; see `vulndb.store.CoverageTable`.
Table = tuple[dict[tuple[str, str], dict[str, int]], dict[str, float]]


@runtime_checkable
class CoverageSource(Protocol):
    def coverage_table(self) -> Table: ...


_OS = OsMatcher()


def _os_key(pkg: Package, os: OSInfo | None) -> tuple[str, str]:
    keys = _OS.keys(pkg, os)
    if keys:
        return keys[0].ecosystem.value, keys[0].release
    return pkg.ecosystem.value or (os.family if os is not None else ""), ""


def _entry(
    kind: str, key: tuple[str, str], pkgs: list[Package], table: Table, os: OSInfo | None
) -> cov.CoverageEntry:
    per_key, synced = table
    eco, release = key
    sources = per_key.get(key, {}) if kind != cov.UNIDENTIFIED else {}
    feeds = tuple(cov.FeedInfo(n, c, synced.get(n, 0.0)) for n, c in sorted(sources.items()))
    covered = bool(sources)
    note = ""
    if kind == cov.UNIDENTIFIED:
        note = "no name or ecosystem any advisory could match (see each package's checksum)"
    elif kind == cov.OS and not release:
        note = "the OS release could not be determined" if os is None else "unknown distribution"
    elif not covered:
        others = sorted(r for e, r in per_key if e == eco and r and r != release)
        if others:
            note = f"{eco} advisories are loaded only for release(s) {', '.join(others[:8])}"
    unchecked = [] if covered else [f"{p.name} {p.version}".strip() for p in pkgs]
    unique = sorted(set(unchecked))
    return cov.CoverageEntry(
        kind=kind,
        ecosystem=eco,
        release=release,
        packages=len(pkgs),
        covered=covered,
        records=sum(sources.values()),
        feeds=feeds,
        unchecked=tuple(unique[: cov.UNCHECKED_LISTED]),
        unchecked_count=len(unique),
        note=note,
    )


def coverage_of(os: OSInfo | None, packages: Iterable[Package], table: Table) -> list[cov.CoverageEntry]:
    """One entry per detected OS release and per ecosystem present, OS first."""
    os_groups: dict[tuple[str, str], list[Package]] = {}
    lang_groups: dict[tuple[str, str], list[Package]] = {}
    unidentified: list[Package] = []
    owned: list[Package] = []
    for pkg in packages:
        if pkg.type.is_os:
            os_groups.setdefault(_os_key(pkg, os), []).append(pkg)
        elif pkg.owner:
            owned.append(pkg)
        elif pkg.ecosystem is Ecosystem.UNKNOWN or not pkg.version:
            unidentified.append(pkg)
        else:
            lang_groups.setdefault((pkg.ecosystem.value, ""), []).append(pkg)
    if os is not None and not os_groups:
        # A detected release with no package database still states whether the DB covers it.
        probe = Package("", "", Ecosystem.UNKNOWN, PackageType.DEB)
        os_groups[_os_key(probe, os)] = []
    if owned:
        # Owned language packages are judged by their owner's release: the (first) OS group.
        target = next(iter(os_groups), ("", ""))
        os_groups.setdefault(target, []).extend(owned)
    out = [_entry(cov.OS, k, v, table, os) for k, v in sorted(os_groups.items())]
    out += [_entry(cov.ECOSYSTEM, k, v, table, os) for k, v in sorted(lang_groups.items())]
    if unidentified:
        out.append(_entry(cov.UNIDENTIFIED, ("", ""), unidentified, table, os))
    return out
