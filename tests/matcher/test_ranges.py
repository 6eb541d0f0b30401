"""OSV range semantics over several schemes: SEMVER and ECOSYSTEM events, last_affected, versions lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import Package
from openhss.scan.matcher import VulnerabilityMatcher, needs_rematch
from openhss.services.vulndb import VulnDbService
from tests.vulndb.helpers import osv, write_zip


@pytest.fixture
def matcher(tmp_path: Path) -> VulnerabilityMatcher:
    docs = [
        # unsorted events, two introduced/fixed windows
        osv("GHSA-npm-1", "npm", "lodash", range_type="SEMVER",
            events=[{"fixed": "4.17.21"}, {"introduced": "4.0.0"}, {"fixed": "3.10.2"}, {"introduced": "0"}]),
        osv("GO-2022-1", "Go", "golang.org/x/text", range_type="SEMVER",
            events=[{"introduced": "0"}, {"fixed": "0.3.8"}], aliases=["CVE-2022-32149"]),
        osv("RUSTSEC-1", "crates.io", "smallvec",
            events=[{"introduced": "1.0.0"}, {"last_affected": "1.6.0"}]),
        osv("GHSA-mvn-1", "Maven", "org.apache.logging.log4j:log4j-core",
            events=[{"introduced": "2.0-beta9"}, {"fixed": "2.15.0"}], aliases=["CVE-2021-44228"]),
        osv("GHSA-mvn-2", "Maven", "org.apache.logging.log4j:log4j-core",
            events=[{"introduced": "2.0-beta9"}, {"fixed": "2.16.0"}], aliases=["CVE-2021-45046"]),
        osv("PYSEC-9", "PyPI", "Pillow", versions=["8.0.0", "8.0.1"], aliases=["CVE-2099-1"]),
        osv("GHSA-py-9", "PyPI", "pillow", events=[{"introduced": "8.0.0"}, {"fixed": "8.1.0"}],
            aliases=["CVE-2099-1"]),
    ]  # fmt: skip
    svc = VulnDbService(tmp_path / "db")
    svc.import_paths([write_zip(tmp_path / "mixed.zip", docs)])
    return VulnerabilityMatcher(svc.open_index())


def _ids(m: VulnerabilityMatcher, eco: Ecosystem, kind: PackageType, name: str, version: str) -> list[str]:
    return sorted(f.vul_id for f in m.match(None, [Package(name, version, eco, kind)]).findings)


@pytest.mark.parametrize(
    ("eco", "kind", "name", "version", "expected"),
    [
        (Ecosystem.NPM, PackageType.NPM, "lodash", "3.10.1", ["GHSA-npm-1"]),
        (Ecosystem.NPM, PackageType.NPM, "lodash", "3.10.2", []),
        (Ecosystem.NPM, PackageType.NPM, "lodash", "4.17.20", ["GHSA-npm-1"]),
        (Ecosystem.NPM, PackageType.NPM, "lodash", "4.17.21", []),
        (Ecosystem.NPM, PackageType.NPM, "Lodash", "4.0.0", []),  # npm names are case-sensitive
        (Ecosystem.GO, PackageType.GOBINARY, "golang.org/x/text", "v0.3.7", ["CVE-2022-32149"]),
        (Ecosystem.GO, PackageType.GOBINARY, "golang.org/x/text", "v0.3.8-0.20220101000000-abcdefabcdef",
         ["CVE-2022-32149"]),
        (Ecosystem.GO, PackageType.GOBINARY, "golang.org/x/text", "v0.3.8", []),
        (Ecosystem.CRATES_IO, PackageType.CARGO, "smallvec", "1.6.0", ["RUSTSEC-1"]),
        (Ecosystem.CRATES_IO, PackageType.CARGO, "smallvec", "1.6.1", []),
        (Ecosystem.CRATES_IO, PackageType.CARGO, "smallvec", "0.9.0", []),
        (Ecosystem.MAVEN, PackageType.JAR, "org.apache.logging.log4j:log4j-core", "2.14.1",
         ["CVE-2021-44228", "CVE-2021-45046"]),
        (Ecosystem.MAVEN, PackageType.JAR, "org.apache.logging.log4j:log4j-core", "2.15.0",
         ["CVE-2021-45046"]),
        (Ecosystem.PYPI, PackageType.PYTHON, "PILLOW", "8.0.1", ["CVE-2099-1"]),
    ],
)  # fmt: skip
def test_ranges(matcher: VulnerabilityMatcher, eco: Ecosystem, kind: PackageType, name: str, version: str,
                expected: list[str]) -> None:  # fmt: skip
    assert _ids(matcher, eco, kind, name, version) == expected


def test_alias_group_merges_and_takes_lowest_fix(matcher: VulnerabilityMatcher) -> None:
    (f,) = matcher.match(None, [Package("Pillow", "8.0.1", Ecosystem.PYPI, PackageType.PYTHON)]).findings
    assert f.aliases == ("GHSA-py-9", "PYSEC-9") and f.fixed_version == "8.1.0"
    (log4j, _) = sorted(
        matcher.match(None, [Package("org.apache.logging.log4j:log4j-core", "2.14.1", Ecosystem.MAVEN,
                                     PackageType.JAR)]).findings, key=lambda x: x.vul_id)  # fmt: skip
    assert log4j.fixed_version == "2.15.0"


def test_rematch_selects_only_changed_packages(tmp_path: Path) -> None:
    svc = VulnDbService(tmp_path / "db")
    z = tmp_path / "PyPI.zip"
    svc.import_paths([write_zip(z, [osv("PYSEC-1", "PyPI", "requests", events=[{"introduced": "0"}])])])
    inventory = [
        Package("Requests", "2.0", Ecosystem.PYPI, PackageType.PYTHON),
        Package("flask", "1.0", Ecosystem.PYPI, PackageType.PYTHON),
        Package("requests", "2.0", Ecosystem.NPM, PackageType.NPM),
    ]
    report = svc.import_paths([write_zip(z, [
        osv("PYSEC-1", "PyPI", "requests", events=[{"introduced": "0"}]),
        osv("PYSEC-2", "PyPI", "Flask", events=[{"introduced": "0"}, {"fixed": "2.0"}]),
    ])])  # fmt: skip
    assert report.changed == {("PyPI", "flask")}
    assert [p.name for p in needs_rematch(None, inventory, report.changed)] == ["flask"]
    assert needs_rematch(None, inventory, set()) == []
