"""Order laws every scheme must obey, on generated versions (hypothesis).

The matcher sorts and bisects keys, so `key` must be a total order consistent with `compare`:
antisymmetric, transitive, and equal keys exactly when compare says 0.
"""

from __future__ import annotations

import itertools

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from openhss.domain.version import InvalidVersion, VersionScheme, scheme_named

# Grammar-shaped strings per scheme, plus a sprinkling of junk in each scheme's alphabet, so that
# lenient paths (malformed apk, legacy PEP 440, odd Maven qualifiers) are exercised too.
GRAMMARS: dict[str, list[str]] = {
    "dpkg": [r"([0-9]{1,2}:)?[0-9][A-Za-z0-9.+~]{0,8}(-[A-Za-z0-9.+~]{1,6})?"],
    "rpm": [r"([0-9]:)?[A-Za-z0-9.~^_+]{1,10}(-[A-Za-z0-9.~^_]{1,6})?"],
    "apk": [
        r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}[a-z]?(_(alpha|beta|pre|rc|p|git|cvs)[0-9]{0,2}){0,2}(~[0-9a-f]{1,4})?(-r[0-9]{1,2})?",
        r"[0-9][0-9a-z._~-]{0,9}",
    ],
    "pep440": [
        r"([0-9]!)?[0-9]{1,3}(\.[0-9]{1,3}){0,3}((a|b|rc)[0-9]{1,2})?(\.post[0-9])?(\.dev[0-9])?(\+[a-z0-9]{1,3})?",
        r"[0-9a-z.-]{1,10}",
    ],
    "semver": [r"v?[0-9]{1,3}(\.[0-9]{1,3}){0,3}(-[0-9A-Za-z.-]{1,8})?(\+[0-9A-Za-z.-]{1,5})?"],
    "maven": [
        r"[0-9]{1,2}(\.[0-9]{1,2}){0,3}([.-]?(alpha|beta|rc|cr|m|sp|ga|final|snapshot|x)[0-9]{0,2}){0,2}",
        r"[0-9a-z.-]{1,10}",
    ],
    "go": [
        r"v[0-9]{1,2}(\.[0-9]{1,2}(\.[0-9]{1,2}(-[0-9A-Za-z]{1,4}(\.[0-9A-Za-z]{1,4}){0,2})?(\+incompatible)?)?)?"
    ],
    "gem": [r"[0-9]{1,2}(\.[0-9a-z]{1,3}){0,4}(-[0-9a-z.]{1,5})?"],
    "nuget": [r"[0-9]{1,2}(\.[0-9]{1,2}){0,3}(-[0-9A-Za-z.]{1,6})?(\+[a-z0-9]{1,3})?"],
    "composer": [r"v?[0-9]{1,2}(\.[0-9]{1,2}){0,3}([-_.]?(dev|alpha|a|beta|b|RC|rc|p|pl|patch)[0-9]?)?"],
}


def versions(name: str) -> st.SearchStrategy[str]:
    return st.one_of(*(st.from_regex(g, fullmatch=True) for g in GRAMMARS[name]))


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


def _valid_triple(scheme: VersionScheme, triple: list[str]) -> list[str] | None:
    try:
        for v in triple:
            scheme.key(v)
    except InvalidVersion:
        return None
    return triple


@pytest.mark.parametrize("name", sorted(GRAMMARS))
def test_order_laws(name: str) -> None:
    scheme = scheme_named(name)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(versions(name), min_size=3, max_size=3))
    def laws(triple: list[str]) -> None:
        if _valid_triple(scheme, triple) is None:
            return
        for a, b in itertools.product(triple, repeat=2):
            c = scheme.compare(a, b)
            assert c in (-1, 0, 1)
            assert _sign(scheme.compare(b, a)) == -c, f"antisymmetry: {a!r} {b!r}"
            ka, kb = scheme.key(a), scheme.key(b)
            assert c == (ka > kb) - (ka < kb), f"key/compare disagree: {a!r} {b!r}"
            assert (c == 0) == (ka == kb), f"key equality/compare disagree: {a!r} {b!r}"
        for x, y, z in itertools.permutations(triple):
            xy, yz, xz = scheme.compare(x, y), scheme.compare(y, z), scheme.compare(x, z)
            if xy <= 0 and yz <= 0:
                assert xz <= 0, f"transitivity: {x!r} <= {y!r} <= {z!r} but {x!r} > {z!r}"
            if xy == 0 and yz == 0:
                assert xz == 0, f"equality transitivity: {x!r} {y!r} {z!r}"

    laws()


@pytest.mark.parametrize("name", sorted(GRAMMARS))
def test_key_is_deterministic_and_total_on_a_sort(name: str) -> None:
    """Sorting by key and by compare gives the same order for a batch of generated versions."""
    import functools

    scheme = scheme_named(name)

    @settings(max_examples=50, deadline=None)
    @given(st.lists(versions(name), min_size=2, max_size=25))
    def sorts_agree(batch: list[str]) -> None:
        batch = [v for v in batch if scheme.valid(v)]
        by_key = sorted(batch, key=scheme.key)
        by_cmp = sorted(batch, key=functools.cmp_to_key(scheme.compare))
        assert [scheme.key(v) for v in by_key] == [scheme.key(v) for v in by_cmp]
        for a, b in itertools.pairwise(by_key):
            assert scheme.compare(a, b) <= 0

    sorts_agree()
