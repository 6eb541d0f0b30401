"""Runs each peer vector file of ../shared/data/vectors/ through the schemes.

Every file listed in MANIFEST.json has exactly one entry here: a checker (scheme name + function
returning how many cases it checked and a description of each disagreement) or an explicit reason
why it is not applicable. A new vector file without an entry fails `test_every_vector_file_is_handled`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openhss.domain.version import apk, go, semver
from openhss.domain.version.base import InvalidVersion, VersionScheme
from openhss.domain.version.composer import ComposerScheme
from openhss.domain.version.dpkg import DpkgScheme
from openhss.domain.version.gem import GemScheme
from openhss.domain.version.maven import MavenScheme
from openhss.domain.version.nuget import NugetScheme
from openhss.domain.version.pep440 import Pep440Scheme
from openhss.domain.version.rpm import RpmScheme, rpmvercmp

Result = tuple[int, list[str]]
Checker = Callable[[Any], Result]


@dataclass(frozen=True)
class Handler:
    scheme: str
    check: Checker


@dataclass(frozen=True)
class NotApplicable:
    reason: str


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


def pairs(compare: Callable[[str, str], int]) -> Checker:
    """`[{"a", "b", "cmp"}]`: compare(a, b) must equal cmp, and compare(b, a) must equal -cmp."""

    def check(rows: list[dict[str, Any]]) -> Result:
        bad = []
        for row in rows:
            a, b, want = row["a"], row["b"], row["cmp"]
            try:
                got, back = _sign(compare(a, b)), _sign(compare(b, a))
            except InvalidVersion as exc:
                bad.append(f"{a!r} vs {b!r}: InvalidVersion {exc}")
                continue
            if got != want or back != -want:
                bad.append(f"{a!r} vs {b!r}: want {want}, got {got} (reverse {back})")
        return len(rows), bad

    return check


def ascending(scheme: VersionScheme) -> Checker:
    """A strictly ascending list: every adjacent pair compares -1 and sorting by key keeps the list."""

    def check(versions: list[str]) -> Result:
        bad = [f"{a!r} !< {b!r}" for a, b in itertools.pairwise(versions) if scheme.compare(a, b) != -1]
        if sorted(versions, key=scheme.key) != versions:
            bad.append("sorted(key=scheme.key) reorders the list")
        return len(versions), bad

    return check


# ---- per-file checkers -----------------------------------------------------------------------------

_pep = Pep440Scheme()


def _pep_invalid(rows: list[str]) -> Result:
    bad = []
    for v in rows:
        try:
            _pep.parse(v)
            bad.append(f"{v!r} accepted")
        except InvalidVersion:
            pass
    return len(rows), bad


def _pep_normalized(rows: list[dict[str, str]]) -> Result:
    bad = [
        f"{r['version']!r} → {_pep.parse(r['version'])}"
        for r in rows
        if str(_pep.parse(r["version"])) != r["normalized"]
    ]
    return len(rows), bad


def _jsonable(value: object) -> object:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def _pep_prop(prop: str) -> Checker:
    def check(rows: list[dict[str, Any]]) -> Result:
        bad = []
        for r in rows:
            got = _jsonable(getattr(_pep.parse(r["version"]), prop))
            if got != r[prop]:
                bad.append(f"{r['version']!r}.{prop} = {got!r}, want {r[prop]!r}")
        return len(rows), bad

    return check


def _pep_contains(rows: list[dict[str, Any]]) -> Result:
    bad = [
        f"{r['version']!r} in {r['spec']!r}: want {r['contains']}"
        for r in rows
        if _pep.satisfies(r["version"], r["spec"], prereleases=True) != r["contains"]
    ]
    return len(rows), bad


def _apk_match(rows: list[dict[str, Any]]) -> Result:
    bad = []
    for r in rows:
        op = r["op"].lstrip("!")  # "!OP" rows carry expect=false: the plain relation must not hold
        if apk.match(r["a"], op, r["b"]) != r["expect"]:
            bad.append(f"{r['a']} {r['op']} {r['b']}: want {r['expect']}")
    return len(rows), bad


def _apk_validity(rows: list[dict[str, Any]]) -> Result:
    bad = [f"{r['version']!r} valid={r['valid']}" for r in rows if apk.apk_valid(r["version"]) != r["valid"]]
    return len(rows), bad


def _go_canonical(rows: list[dict[str, Any]]) -> Result:
    bad = [
        f"{r['version']!r}"
        for r in rows
        if go.canonical(r["version"]) != r["canonical"] or go.is_valid(r["version"]) != r["valid"]
    ]
    return len(rows), bad


_PSEUDO_TIME = datetime(2006, 1, 2, 15, 4, 5, tzinfo=UTC)


def _go_pseudo(rows: list[dict[str, str]]) -> Result:
    bad = []
    for r in rows:
        major = "" if r["major"] == "unused" else r["major"]
        v = r["version"]
        checks = [
            go.pseudo_version(major, r["older"], _PSEUDO_TIME, "hash") == v,
            go.is_pseudo_version(v),
            not go.is_pseudo_version(r["older"]),
            go.pseudo_version_base(v) == r["older"],
            go.pseudo_version_rev(v) == "hash",
            go.pseudo_version_time(v) == _PSEUDO_TIME,
        ]
        if not all(checks):
            bad.append(f"{v!r}: {checks}")
    return len(rows), bad


def _go_invalid_base(rows: list[str]) -> Result:
    bad = []
    for v in rows:
        with contextlib.suppress(InvalidVersion):
            bad.append(f"{v!r} → base {go.pseudo_version_base(v)!r}")
    return len(rows), bad


def _maven_cases(rows: list[dict[str, Any]]) -> Result:
    # "HaveSameOrder" rows: compareTo == 0 although equals() is false; ordering is all we provide.
    return pairs(_maven.compare)(rows)


# node-semver fixtures: arrays whose optional last element is the options argument.
def _npm_options(raw: object) -> semver.Options:
    if not isinstance(raw, dict):
        return semver.Options(loose=bool(raw))

    def truthy(v: object) -> bool:
        return not (isinstance(v, dict) and v.get("__undefined__")) and bool(v)

    return semver.Options(
        loose=truthy(raw.get("loose")), include_prerelease=truthy(raw.get("includePrerelease"))
    )


def _opts(row: list[Any], n: int) -> semver.Options:
    return _npm_options(row[n]) if len(row) > n else semver.Options()


def _npm_compare(want: int) -> Checker:
    def check(rows: list[list[Any]]) -> Result:
        bad = []
        for row in rows:
            o = _opts(row, 2)
            a, b = semver.parse(row[0], o), semver.parse(row[1], o)
            if semver.compare(a, b) != want or semver.compare(b, a) != -want:
                bad.append(repr(row))
        return len(rows), bad

    return check


def _npm_invalid(rows: list[list[Any]]) -> Result:
    bad = []
    for row in rows:
        try:
            semver.parse(row[0], _opts(row, 2))
            bad.append(repr(row))
        except InvalidVersion:
            pass
    return len(rows), bad


def _npm_valid(rows: list[list[Any]]) -> Result:
    bad = []
    for v, major, minor, patch, pre, build in rows:
        s = semver.parse(v)
        if (s.major, s.minor, s.patch, list(s.prerelease), list(s.build)) != (
            major,
            minor,
            patch,
            pre,
            build,
        ):
            bad.append(repr(v))
    return len(rows), bad


def _npm_range(want: bool) -> Checker:
    def check(rows: list[list[Any]]) -> Result:
        bad = [repr(r) for r in rows if semver.satisfies(r[1], r[0], _opts(r, 2)) != want]
        return len(rows), bad

    return check


def _npm_range_parse(rows: list[list[Any]]) -> Result:
    bad = []
    for row in rows:
        got = semver.valid_range(row[0], _opts(row, 2))
        if got != row[1]:
            bad.append(f"{row[0]!r}: want {row[1]!r}, got {got!r}")
    return len(rows), bad


def _npm_outside(hilo: str, want: bool) -> Checker:
    def check(rows: list[list[Any]]) -> Result:
        bad = [repr(r) for r in rows if semver.outside(r[1], r[0], hilo, _opts(r, 2)) != want]
        return len(rows), bad

    return check


def _npm_comparator_intersection(rows: list[list[Any]]) -> Result:
    bad = []
    for row in rows:
        options = semver.Options(include_prerelease=bool(row[3]) if len(row) > 3 else False)
        a, b = semver.parse_comparator(row[0]), semver.parse_comparator(row[1])
        if {semver.comparator_intersects(a, b, options), semver.comparator_intersects(b, a, options)} != {
            row[2]
        }:
            bad.append(repr(row))
    return len(rows), bad


def _npm_range_intersection(rows: list[list[Any]]) -> Result:
    bad = [
        repr(r)
        for r in rows
        if {semver.ranges_intersect(r[0], r[1]), semver.ranges_intersect(r[1], r[0])} != {r[2]}
    ]
    return len(rows), bad


def _npm_truncations(rows: list[list[Any]]) -> Result:
    bad = [f"{r!r} → {semver.truncate(r[0], r[1])!r}" for r in rows if semver.truncate(r[0], r[1]) != r[2]]
    return len(rows), bad


def _npm_increments(rows: list[list[Any]]) -> Result:
    """[version, release, result, options?, identifier?, identifierBase?]; like node-semver's `inc`,
    a string in the options position is the identifier (and the next element its base)."""
    bad = []
    for row in rows:
        version, release, want, *rest = row
        if rest and isinstance(rest[0], str):
            rest = [None, *rest]
        options = _npm_options(rest[0]) if rest else semver.Options()
        identifier = rest[1] if len(rest) > 1 else None
        base = rest[2] if len(rest) > 2 else None
        got = semver.inc(version, release, options, identifier, base)
        if got != want:
            bad.append(f"{row!r} → {got!r}")
    return len(rows), bad


def _rpmvercmp(rows: list[dict[str, Any]]) -> Result:
    return pairs(rpmvercmp)(rows)


_dpkg, _rpm, _maven = DpkgScheme(), RpmScheme(), MavenScheme()
_apk, _semver = apk.ApkScheme(), semver.SemverScheme()
_gem, _nuget, _composer = GemScheme(), NugetScheme(), ComposerScheme()

_NO_ECOSYSTEM = "openhss has no Ecosystem for {} (not an OSV ecosystem it scans), so no scheme orders it"

HANDLERS: dict[str, Handler | NotApplicable] = {
    "dpkg/dpkg-perl.json": Handler("dpkg", pairs(_dpkg.compare)),
    "dpkg/apt-compareversion.json": Handler("dpkg", pairs(_dpkg.compare)),
    "osv-scalibr/debian.json": Handler("dpkg", pairs(_dpkg.compare)),
    "osv-scalibr/debian-generated.json": Handler("dpkg", pairs(_dpkg.compare)),
    "rpm/rpmvercmp.json": Handler("rpm", _rpmvercmp),
    "rpm/rpmvercmp-disabled-oddities.json": NotApplicable(
        "the manifest marks these cases as commented out upstream: rpm itself does not assert them"
    ),
    "osv-scalibr/redhat.json": Handler("rpm", pairs(_rpm.compare)),
    "apk/apk-tools-compare.json": Handler("apk", pairs(_apk.compare)),
    "apk/apk-tools-match.json": Handler("apk", _apk_match),
    "apk/apk-tools-validity.json": Handler("apk", _apk_validity),
    "osv-scalibr/alpine.json": Handler("apk", pairs(_apk.compare)),
    "osv-scalibr/alpine-generated.json": Handler("apk", pairs(_apk.compare)),
    "pep440/packaging-sorted.json": Handler("pep440", ascending(_pep)),
    "pep440/packaging-pairs.json": Handler("pep440", pairs(_pep.compare)),
    "pep440/packaging-invalid.json": Handler("pep440", _pep_invalid),
    "pep440/packaging-normalized.json": Handler("pep440", _pep_normalized),
    "pep440/packaging-specifier-contains.json": Handler("pep440", _pep_contains),
    "osv-scalibr/pypi.json": Handler("pep440", pairs(_pep.compare)),
    "osv-scalibr/pypi-generated.json": Handler("pep440", pairs(_pep.compare)),
    "semver-npm/comparisons.json": Handler("semver", _npm_compare(1)),
    "semver-npm/equality.json": Handler("semver", _npm_compare(0)),
    "semver-npm/invalid-versions.json": Handler("semver", _npm_invalid),
    "semver-npm/valid-versions.json": Handler("semver", _npm_valid),
    "semver-npm/range-include.json": Handler("semver", _npm_range(True)),
    "semver-npm/range-exclude.json": Handler("semver", _npm_range(False)),
    "semver-npm/range-parse.json": Handler("semver", _npm_range_parse),
    "semver-npm/version-gt-range.json": Handler("semver", _npm_outside(">", True)),
    "semver-npm/version-lt-range.json": Handler("semver", _npm_outside("<", True)),
    "semver-npm/version-not-gt-range.json": Handler("semver", _npm_outside(">", False)),
    "semver-npm/version-not-lt-range.json": Handler("semver", _npm_outside("<", False)),
    "semver-npm/increments.json": Handler("semver", _npm_increments),
    "semver-npm/truncations.json": Handler("semver", _npm_truncations),
    "semver-npm/comparator-intersection.json": Handler("semver", _npm_comparator_intersection),
    "semver-npm/range-intersection.json": Handler("semver", _npm_range_intersection),
    "osv-scalibr/semver.json": Handler("semver", pairs(_semver.compare)),
    "maven/comparableversion.json": Handler("maven", _maven_cases),
    "maven/comparableversion-versions_number-sorted.json": Handler("maven", ascending(_maven)),
    "maven/comparableversion-versions_qualifier-sorted.json": Handler("maven", ascending(_maven)),
    "osv-scalibr/maven.json": Handler("maven", pairs(_maven.compare)),
    "osv-scalibr/maven-generated.json": Handler("maven", pairs(_maven.compare)),
    "go/semver-compare.json": Handler("go", pairs(go.go_compare)),
    "go/semver-canonical.json": Handler("go", _go_canonical),
    "go/pseudo-versions.json": Handler("go", _go_pseudo),
    "go/pseudo-versions-invalid-base.json": Handler("go", _go_invalid_base),
    "osv-scalibr/rubygems.json": Handler("gem", pairs(_gem.compare)),
    "osv-scalibr/rubygems-generated.json": Handler("gem", pairs(_gem.compare)),
    "osv-scalibr/nuget.json": Handler("nuget", pairs(_nuget.compare)),
    "osv-scalibr/packagist.json": Handler("composer", pairs(_composer.compare)),
    "osv-scalibr/packagist-generated.json": Handler("composer", pairs(_composer.compare)),
    "osv-scalibr/cran.json": NotApplicable(_NO_ECOSYSTEM.format("CRAN")),
    "osv-scalibr/cran-generated.json": NotApplicable(_NO_ECOSYSTEM.format("CRAN")),
    "osv-scalibr/hackage.json": NotApplicable(_NO_ECOSYSTEM.format("Hackage")),
    "osv-scalibr/pub.json": NotApplicable(_NO_ECOSYSTEM.format("Pub")),
}
for _prop in (
    "public",
    "base_version",
    "epoch",
    "release",
    "local",
    "pre",
    "is_prerelease",
    "dev",
    "post",
    "is_postrelease",
    "is_devrelease",
):
    HANDLERS[f"pep440/packaging-prop-{_prop}.json"] = Handler("pep440", _pep_prop(_prop))


def load(vectors: Path, name: str) -> Any:
    return json.loads((vectors / name).read_text())


def manifest(vectors: Path) -> Iterable[str]:
    listed: dict[str, Any] = json.loads((vectors / "MANIFEST.json").read_text())
    return listed.keys()
