"""Runs each peer vector file of ../shared/data/vectors/ through the schemes.

Every file listed in MANIFEST.json has exactly one entry here: a checker (scheme name + function
returning how many cases it checked and a description of each disagreement) or an explicit reason
why it is not applicable. A new vector file without an entry fails `test_every_vector_file_is_handled`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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


def _go_valid(v: str) -> bool:
    return go.parse(v) is not None


def _go_canonical_of(v: str) -> str:
    """x/mod/semver `Canonical`, from the parse the scheme orders by: `v1.2` → `v1.2.0`, build dropped."""
    p = go.parse(v)
    if p is None:
        return ""
    return v[: len(v) - len(p.build)] if p.build else v + p.short


def _go_canonical(rows: list[dict[str, Any]]) -> Result:
    bad = [
        f"{r['version']!r}"
        for r in rows
        if _go_canonical_of(r["version"]) != r["canonical"] or _go_valid(r["version"]) != r["valid"]
    ]
    return len(rows), bad


def _go_pseudo(rows: list[dict[str, str]]) -> Result:
    """A pseudo-version is a valid version that sorts after the tag it builds on: the matcher's only
    use of pseudo-versions (a commit after `v1.2.3` is not `v1.2.3`, and is below `v1.2.4`)."""
    bad = []
    for r in rows:
        v, older = r["version"], r["older"]
        checks = [_go_valid(v)]
        if older:
            checks.append(_go.compare(older, v) == -1)
        if not all(checks):
            bad.append(f"{v!r}: {checks}")
    return len(rows), bad


def go_compare(a: str, b: str) -> int:
    """golang.org/x/mod `semver.Compare`, the oracle's semantics: invalid versions are equal to each
    other and below every valid one (`GoScheme.key` raises on them instead)."""
    valid_a, valid_b = _go_valid(a), _go_valid(b)
    if not (valid_a and valid_b):
        return int(valid_a) - int(valid_b)
    return _go.compare(a, b)


def _maven_cases(rows: list[dict[str, Any]]) -> Result:
    # "HaveSameOrder" rows: compareTo == 0 although equals() is false; ordering is all we provide.
    return pairs(_maven.compare)(rows)


def _rpmvercmp(rows: list[dict[str, Any]]) -> Result:
    return pairs(rpmvercmp)(rows)


_dpkg, _rpm, _maven = DpkgScheme(), RpmScheme(), MavenScheme()
_apk, _semver, _go = apk.ApkScheme(), semver.SemverScheme(), go.GoScheme()
_gem, _nuget, _composer = GemScheme(), NugetScheme(), ComposerScheme()

_NO_RANGE_GRAMMAR = (
    "tests node-semver's range grammar / Go's pseudo-version construction: openhss matches OSV events "
    "by ordering only (osv-scalibr/semver.json and go/semver-compare.json check that)"
)
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
    # [greater, lesser, options?]: SemVer precedence, which the OSV ordering must agree with.
    "semver-npm/comparisons.json": Handler(
        "semver", lambda rows: pairs(_semver.compare)([{"a": r[0], "b": r[1], "cmp": 1} for r in rows])
    ),
    "semver-npm/equality.json": NotApplicable(
        "node-semver's loose input forms (`=1.2.3`, `v 1.2.3`) are never versions of a package or OSV event"
    ),
    "semver-npm/invalid-versions.json": NotApplicable(_NO_RANGE_GRAMMAR),
    "semver-npm/valid-versions.json": NotApplicable(_NO_RANGE_GRAMMAR),
    "semver-npm/range-include.json": NotApplicable(_NO_RANGE_GRAMMAR),
    "semver-npm/range-exclude.json": NotApplicable(_NO_RANGE_GRAMMAR),
    "semver-npm/range-parse.json": NotApplicable(_NO_RANGE_GRAMMAR),
    "semver-npm/version-gt-range.json": NotApplicable(_NO_RANGE_GRAMMAR),
    "semver-npm/version-lt-range.json": NotApplicable(_NO_RANGE_GRAMMAR),
    "semver-npm/version-not-gt-range.json": NotApplicable(_NO_RANGE_GRAMMAR),
    "semver-npm/version-not-lt-range.json": NotApplicable(_NO_RANGE_GRAMMAR),
    "semver-npm/increments.json": NotApplicable(_NO_RANGE_GRAMMAR),
    "semver-npm/truncations.json": NotApplicable(_NO_RANGE_GRAMMAR),
    "semver-npm/comparator-intersection.json": NotApplicable(_NO_RANGE_GRAMMAR),
    "semver-npm/range-intersection.json": NotApplicable(_NO_RANGE_GRAMMAR),
    "osv-scalibr/semver.json": Handler("semver", pairs(_semver.compare)),
    "maven/comparableversion.json": Handler("maven", _maven_cases),
    "maven/comparableversion-versions_number-sorted.json": Handler("maven", ascending(_maven)),
    "maven/comparableversion-versions_qualifier-sorted.json": Handler("maven", ascending(_maven)),
    "osv-scalibr/maven.json": Handler("maven", pairs(_maven.compare)),
    "osv-scalibr/maven-generated.json": Handler("maven", pairs(_maven.compare)),
    "go/semver-compare.json": Handler("go", pairs(go_compare)),
    "go/semver-canonical.json": Handler("go", _go_canonical),
    "go/pseudo-versions.json": Handler("go", _go_pseudo),
    "go/pseudo-versions-invalid-base.json": NotApplicable(_NO_RANGE_GRAMMAR),
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
