from __future__ import annotations

import logging

import pytest

from openhss.domain.advisory import AffectedStatus, EventKind, normalize_name, normalize_release
from openhss.domain.enums import Ecosystem, Severity
from openhss.vulndb.osv import OsvVulnerability, parse_ecosystem, records_from_osv
from openhss.vulndb.severity import score_vector, severity_from_word
from tests.vulndb.helpers import osv


def _records(doc: dict[str, object]) -> list:  # type: ignore[type-arg]
    return records_from_osv(OsvVulnerability.model_validate(doc), "test")


def test_ecosystem_range_versions_and_aliases() -> None:
    doc = osv("PYSEC-1", "PyPI", "Foo_Bar.baz", events=[{"introduced": "0"}, {"fixed": "1.2"}],
              versions=["1.0", "1.1"], aliases=["CVE-2020-1", "GHSA-aaaa-bbbb-cccc"])  # fmt: skip
    (rec,) = _records(doc)
    assert rec.ecosystem is Ecosystem.PYPI and rec.release == "" and rec.name == "foo-bar-baz"
    assert rec.ranges[0].events[1].kind is EventKind.FIXED and rec.fixed_versions == ("1.2",)
    assert rec.versions == ("1.0", "1.1") and rec.aliases == ("CVE-2020-1", "GHSA-aaaa-bbbb-cccc")
    assert rec.status is AffectedStatus.AFFECTED and rec.source == "test"


def test_git_ranges_dropped_unknown_ecosystems_and_withdrawn_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    git = osv("GO-1", "Go", "example.com/m", events=[{"introduced": "abc"}], range_type="GIT")
    assert _records(git) == []  # a GIT-only entry cannot be matched against versions
    assert _records(osv("BIT-1", "Bitnami", "x", events=[{"introduced": "0"}])) == []
    withdrawn = osv("PYSEC-2", "PyPI", "x", events=[{"introduced": "0"}], withdrawn="2024-01-01T00:00:00Z")
    assert _records(withdrawn) == []
    caplog.set_level(logging.WARNING)
    weird = osv("X-1", "PyPI", "x", events=[{"introduced": "0"}, {"bogus": "1"}])
    (rec,) = _records(weird)
    assert len(rec.ranges[0].events) == 1 and "bogus" in caplog.text


@pytest.mark.parametrize(
    ("vector", "score"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3),
        ("AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5),
        ("CVSS:3.1/AV:X/garbage", None),
    ],
)
def test_cvss_scores(vector: str, score: float | None) -> None:
    assert score_vector(vector) == score


def test_severity_from_vector_then_words() -> None:
    v3 = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}]
    (rec,) = _records(osv("A-1", "npm", "left-pad", events=[{"introduced": "0"}], severity=v3))
    assert (rec.cvss_score, rec.severity) == (7.5, Severity.HIGH) and rec.cvss_vector.startswith("CVSS:3.1")
    ghsa = osv(
        "GHSA-x", "Maven", "g:a", events=[{"introduced": "0"}], database_specific={"severity": "MODERATE"}
    )
    assert _records(ghsa)[0].severity is Severity.MEDIUM
    ubuntu = osv("UBUNTU-CVE-2020-36325", "Ubuntu:22.04:LTS", "jansson", events=[{"introduced": "0"}],
                 severity=[{"type": "Ubuntu", "score": "low"}])  # fmt: skip
    (rec,) = _records(ubuntu)
    assert rec.severity is Severity.LOW and rec.aliases == ("CVE-2020-36325",)
    assert (rec.ecosystem, rec.release) == (Ecosystem.UBUNTU, "22.04")
    assert (
        severity_from_word("high**") is Severity.HIGH
        and severity_from_word("not yet assigned") is Severity.UNKNOWN
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Debian:12", (Ecosystem.DEBIAN, "12")),
        ("Debian:bookworm", (Ecosystem.DEBIAN, "12")),
        ("Alpine:v3.18", (Ecosystem.ALPINE, "3.18")),
        ("Ubuntu:Pro:18.04:LTS", (Ecosystem.UBUNTU, "pro:18.04")),
        ("AlmaLinux:9", (Ecosystem.ALMALINUX, "9")),
        ("Rocky Linux:8", (Ecosystem.ROCKY, "8")),
        ("crates.io", (Ecosystem.CRATES_IO, "")),
        ("Hex", None),
    ],
)
def test_parse_ecosystem(text: str, expected: tuple[Ecosystem, str] | None) -> None:
    assert parse_ecosystem(text) == expected


def test_normalisation_per_ecosystem() -> None:
    assert normalize_name(Ecosystem.PYPI, "Zope.Interface__x") == "zope-interface-x"
    assert normalize_name(Ecosystem.PACKAGIST, "Symfony/HTTP-Kernel") == "symfony/http-kernel"
    assert normalize_name(Ecosystem.NPM, "@Scope/Pkg") == "@Scope/Pkg"  # npm names are case-sensitive
    assert normalize_name(Ecosystem.GO, "github.com/BurntSushi/toml") == "github.com/BurntSushi/toml"
    assert normalize_release(Ecosystem.DEBIAN, "12.5") == "12"
    assert normalize_release(Ecosystem.ALPINE, "3.18.4") == "3.18"
    assert normalize_release(Ecosystem.REDHAT, "el9") == "9"
    assert normalize_release(Ecosystem.UBUNTU, "22.04") == "22.04"
