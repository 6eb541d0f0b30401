"""Every peer vector file (../shared/data/vectors/) through the version schemes.

A file passes when every case agrees, except the divergences listed in KNOWN_DIVERGENCES: cases
where the peer reference is itself not a total order (so no sort key can agree with all of it), or
where two references contradict each other. Those lists are exact: a divergence disappearing or a
new one appearing both fail the test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.version.conftest import NOT_APPLICABLE, VECTOR_COUNTS
from tests.version.vectors import HANDLERS, Handler, NotApplicable, load, manifest

_ALPINE_REASON = (
    "osv-scalibr compares two strings apk-tools rejects (`0.r1`, `1--ruff1`) as raw strings and "
    "everything else structurally; that is not a total order (it has 1--ruff1 == 1-ruff2 == 1--ruff2 "
    "but 1--ruff1 < 1--ruff2). We order malformed strings by apk-tools 2's lenient tokens instead, "
    "agreeing with apk-tools' own vectors 100%."
)
_MAVEN_REASON = (
    "osv-scalibr's Maven comparator (and its generator) implement Maven 3's ComparableVersion: "
    "`ga`/`final` alias the empty qualifier and `.RC1` sorts below `-RC0`. Maven 4's ComparableVersion "
    "(apache/maven vectors, which we follow) adds combination items and MNG-7644 (`1.0.0.RC1` < "
    "`1.0.0-RC2`, `1-ga-1` != `1-1`); the two references contradict each other on exactly these pairs."
)
_PACKAGIST_REASON = (
    "osv-scalibr weighs a literal `#` component equal to every number and to the end of the version, "
    "so 1.2.3.# == 1.2.3 and 1.2.3.# == 1.2.3.1 while 1.2.3 < 1.2.3.1: no total order can agree."
)

KNOWN_DIVERGENCES: dict[str, tuple[str, set[tuple[str, str]]]] = {
    "osv-scalibr/alpine.json": (
        _ALPINE_REASON,
        {("0.r1", "0r2"), ("0.8.21.r2", "0.8.21r2"), ("1", "1-ruff"), ("1-ruff2", "1--ruff1")},
    ),
    "osv-scalibr/maven.json": (
        _MAVEN_REASON,
        {("1-1.foo-bar-1-baz-0.1", "1-1.foo-bar1baz-.1"), ("1-1", "1-ga-1")},
    ),
    "osv-scalibr/maven-generated.json": (
        _MAVEN_REASON,
        {
            ("3.2.0rc2", "3.2.0-rc.1"),
            ("1.0.0-RC16", "1.0.0.RC8-beta"),
            ("1.0.0-gradle-rework-beta3", "1.0.0.RC7-3"),
            ("2.9.0-1", "2.9.0.RC1"),
            ("6.1.12.rc5", "6.1.12rc1"),
            ("1.0.0-beta11", "1.0.0-beta.6"),
            ("1.1.31.sec10", "1.1.31_noneautotype"),
            ("1.1.34.sec10", "1.1.34_noneautotype"),
            ("1.1.46.sec10", "1.1.46_noneautotype"),
            ("1.2.8.sec10_noneautotype", "1.2.8_noneautotype"),
            ("1.2.31.sec10", "1.2.31_noneautotype"),
            ("1.2.48.sec10", "1.2.48_noneautotype"),
            ("1.2.50.sec10", "1.2.50_noneautotype"),
            ("1.2.54.sec10", "1.2.54_noneautotype"),
            ("1.2.57.sec10", "1.2.57_noneautotype"),
            ("1.2.60.sec10", "1.2.60_noneautotype"),
            ("1.2.67.sec10", "1.2.67_noneautotype"),
            ("1.0.0rc0", "1.0.beta8"),
            ("1.5.9.RC1", "1.5.9-RC0"),
            ("3.5.0-CR-2", "3.5.0.Beta-1"),
            ("1.1.0-01-glassfish", "1.1.0.Beta1"),
            ("v3.7.0rc2", "v3.7.0-rc.3"),
        },
    ),
    "osv-scalibr/packagist.json": (
        _PACKAGIST_REASON,
        {("1.2.3.#", "1.2.3"), ("1.2.3.#", "1.2.3.1"), ("1.2.3.#.beta", "1.2.3")},
    ),
}


@pytest.fixture(scope="module")
def vectors(shared_dir: Path) -> Path:
    return shared_dir / "data" / "vectors"


def test_every_vector_file_is_handled(vectors: Path) -> None:
    listed = set(manifest(vectors))
    on_disk = {str(p.relative_to(vectors)) for p in vectors.rglob("*.json")} - {"MANIFEST.json"}
    assert listed == on_disk, "MANIFEST.json and the files on disk differ"
    assert listed == set(HANDLERS), "vector files without a handler (or handlers without a file)"


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_vector_file(vectors: Path, name: str) -> None:
    handler = HANDLERS[name]
    if isinstance(handler, NotApplicable):
        NOT_APPLICABLE.append((name, handler.reason))
        pytest.skip(handler.reason)
    assert isinstance(handler, Handler)
    checked, failures = handler.check(load(vectors, name))
    reason, expected = KNOWN_DIVERGENCES.get(name, ("", set()))
    expected_prefixes = {f"{a!r} vs {b!r}:" for a, b in expected}
    unexpected = [f for f in failures if not any(f.startswith(p) for p in expected_prefixes)]
    vanished = [p for p in expected_prefixes if not any(f.startswith(p) for f in failures)]
    counts = VECTOR_COUNTS[handler.scheme]
    counts[0] += 1
    counts[1] += checked
    counts[2] += checked - len(failures)
    counts[3] += len(failures) - len(unexpected)
    assert checked > 0, "empty vector file"
    assert not unexpected, f"{len(unexpected)}/{checked} cases disagree:\n" + "\n".join(unexpected[:40])
    assert not vanished, f"documented divergences no longer occur ({reason}): {vanished}"
