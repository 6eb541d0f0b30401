"""Registry completeness and behaviours the matcher relies on, beyond the peer vectors."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import openhss.domain.version as version_pkg
from openhss.domain.enums import Ecosystem
from openhss.domain.version import InvalidVersion, VersionScheme, scheme_for, scheme_named
from openhss.domain.version.registry import ECOSYSTEM_SCHEMES, SCHEMES


def test_every_scheme_module_is_registered() -> None:
    registered = {type(s) for s in SCHEMES}
    found = set()
    for info in pkgutil.iter_modules(version_pkg.__path__):
        module = importlib.import_module(f"{version_pkg.__name__}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, VersionScheme)
                and not inspect.isabstract(cls)
                and cls.__module__ == module.__name__
            ):
                found.add(cls)
    assert found, "no scheme classes discovered"
    assert found == registered, f"not registered: {found - registered}"
    assert len({s.name for s in SCHEMES}) == len(SCHEMES), "scheme names must be unique"


def test_every_ecosystem_has_a_scheme() -> None:
    missing = [e for e in Ecosystem if e is not Ecosystem.UNKNOWN and e not in ECOSYSTEM_SCHEMES]
    assert not missing
    with pytest.raises(KeyError):
        scheme_for(Ecosystem.UNKNOWN)


@pytest.mark.parametrize(
    ("ecosystem", "scheme"),
    [
        (Ecosystem.DEBIAN, "dpkg"),
        ("Debian:12", "dpkg"),
        ("Ubuntu:22.04:LTS", "dpkg"),
        ("UOS", "dpkg"),
        ("Alpine:v3.18", "apk"),
        ("Wolfi", "apk"),
        ("Chainguard", "apk"),
        ("Red Hat:enterprise_linux:9::appstream", "rpm"),
        ("Rocky Linux:9", "rpm"),
        ("AlmaLinux:8", "rpm"),
        ("openEuler:22.03-LTS-SP1", "rpm"),
        ("SUSE:Linux Enterprise Server 15 SP5", "rpm"),
        ("openSUSE:Tumbleweed", "rpm"),
        (Ecosystem.HCE, "rpm"),
        (Ecosystem.KYLIN, "rpm"),
        ("PyPI", "pep440"),
        ("npm", "semver"),
        ("crates.io", "semver"),
        ("Go", "go"),
        ("Maven", "maven"),
        ("RubyGems", "gem"),
        ("NuGet", "nuget"),
        ("Packagist", "composer"),
    ],
)
def test_scheme_for(ecosystem: Ecosystem | str, scheme: str) -> None:
    assert scheme_for(ecosystem).name == scheme
    assert scheme_for(ecosystem) is scheme_named(scheme)


@pytest.mark.parametrize("bad", ["", "Hackage", "NotAnEcosystem:1"])
def test_scheme_for_unknown(bad: str) -> None:
    with pytest.raises(KeyError):
        scheme_for(bad)


@pytest.mark.parametrize("name", [s.name for s in SCHEMES])
def test_empty_version_is_invalid(name: str) -> None:
    scheme = scheme_named(name)
    assert not scheme.valid("")
    with pytest.raises(InvalidVersion):
        scheme.key("")


@pytest.mark.parametrize(
    ("ecosystem", "lower", "higher"),
    [
        # Debian security backports append to the revision; they are newer than the base revision.
        ("Debian", "1.1.1n-0+deb11u4", "1.1.1n-0+deb11u5"),
        ("Debian", "2.36-9", "2.36-9+deb12u1"),
        ("Debian", "2.0", "1:1.0"),
        ("Ubuntu", "1.2.3-1ubuntu0.1~18.04", "1.2.3-1ubuntu0.1"),
        ("Red Hat", "1:1.0-1.el9", "2:0.1-1.el9"),
        ("Red Hat", "3.10.0-229.el7", "3.10.0-229.1.2.el7"),
        ("Alpine", "1.2.3_rc1-r0", "1.2.3-r0"),
        ("Alpine", "1.2.3-r9", "1.2.3-r10"),
        ("PyPI", "2.19.1", "2.20.0"),
        ("PyPI", "1.0.0rc1", "1.0.0"),
        ("npm", "1.0.0-beta.2", "1.0.0-beta.11"),
        ("Go", "v0.0.0-20200101000000-abcdef123456", "v0.1.0"),
        ("Go", "1.2.3", "v1.2.4"),
        ("Go", "v2.0.0+incompatible", "v2.0.1-0.20060102150405-abcdef123456+incompatible"),
        ("Maven", "1.0-SNAPSHOT", "1.0"),
        ("Maven", "2.9.10.7", "2.9.10.8"),
        ("RubyGems", "5.2.0.beta1", "5.2.0"),
        ("NuGet", "4.0.0-RC1", "4.0.0"),
        ("Packagist", "2.0.0-beta", "2.0.0"),
    ],
)
def test_real_world_order(ecosystem: str, lower: str, higher: str) -> None:
    scheme = scheme_for(ecosystem)
    assert scheme.compare(lower, higher) == -1
    assert scheme.key(lower) < scheme.key(higher)


def test_pep440_specifier_membership() -> None:
    pypi = scheme_named("pep440")
    assert pypi.satisfies("2.19.1", "<2.20.0")  # type: ignore[attr-defined]
    assert not pypi.satisfies("2.20.0", ">=2.0,<2.20.0")  # type: ignore[attr-defined]
    # PEP 440: `<V` excludes V's own prereleases, but includes earlier prereleases.
    assert not pypi.satisfies("2.20.0rc1", "<2.20.0")  # type: ignore[attr-defined]
    assert pypi.satisfies("2.19.0rc1", "<2.20.0")  # type: ignore[attr-defined]
    with pytest.raises(InvalidVersion):
        pypi.satisfies("1.0", "=>1.0")  # type: ignore[attr-defined]


def test_apk_fuzzy_match() -> None:
    from openhss.domain.version.apk import match

    assert match("3.18.4", "~", "3.18")
    assert not match("3.19.0", "~", "3.18")
    assert match("1.2.3-r1", ">=", "1.2.3-r0")
    assert match("1.2.3-r1", "!<", "1.2.3-r0")


def test_keys_are_cached_with_a_bound() -> None:
    from openhss.domain.version import apk, composer, dpkg, gem, go, maven, nuget, pep440, rpm, semver

    for fn in (
        dpkg.dpkg_key,
        rpm.rpm_key,
        apk.apk_key,
        pep440.sort_key,
        semver.semver_key,
        maven.maven_key,
        go.go_key,
        gem.gem_key,
        nuget.nuget_key,
        composer.composer_key,
    ):
        maxsize = fn.cache_info().maxsize
        assert maxsize is not None and 0 < maxsize <= 1 << 20, fn


@pytest.mark.parametrize("name", [s.name for s in SCHEMES])
def test_oversized_input_is_refused(name: str) -> None:
    """Hostile metadata: a megabyte 'version' is refused before any parsing or caching."""
    scheme = scheme_named(name)
    with pytest.raises(InvalidVersion):
        scheme.key("1." * 500_000 + "0")
    assert not scheme.valid("v1" + "0" * 600)


@pytest.mark.parametrize("name", [s.name for s in SCHEMES])
def test_osv_introduced_zero_orders_below_real_versions(name: str) -> None:
    """OSV writes `introduced: "0"` for "since the beginning"; every scheme must key it, below a
    typical first release."""
    scheme = scheme_named(name)
    first = {"go": "v0.0.1", "rpm": "0.1-1", "dpkg": "0.1-1", "apk": "0.1-r0"}.get(name, "0.0.1")
    assert scheme.key("0") < scheme.key(first)
