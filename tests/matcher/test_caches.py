"""The matcher's caches: verdicts reused across images must give what a fresh evaluation gives, and a
swapped advisory file must never be answered from the previous generation's compiled tables."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from openhss.domain.enums import Ecosystem, PackageType, Severity, VulType
from openhss.domain.models import OSInfo, Package
from openhss.domain.vulnerability import VulnerabilityFinding
from openhss.scan.matcher import VulnerabilityMatcher
from openhss.services.vulndb import MatcherCache, VulnDbError, VulnDbService
from tests.vulndb.helpers import osv, write_zip

CVSS = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]


def _service(tmp_path: Path, fixed: str) -> VulnDbService:
    svc = VulnDbService(tmp_path / "db")
    docs = [
        osv("GHSA-a", "PyPI", "requests", events=[{"introduced": "0"}, {"fixed": fixed}],
            aliases=["CVE-2099-1"], severity=CVSS, summary="first advisory"),
        osv("PYSEC-b", "PyPI", "requests", events=[{"introduced": "0"}, {"fixed": "2.0"}],
            aliases=["CVE-2099-1"]),
        osv("ALSA-1", "AlmaLinux:9", "openssl", events=[{"introduced": "0"}, {"fixed": "1:3.0.7-1.el9"}]),
    ]  # fmt: skip
    svc.import_paths([write_zip(tmp_path / "feed.zip", docs)])
    return svc


PACKAGES = [
    Package("requests", "1.0", Ecosystem.PYPI, PackageType.PYTHON, purl="pkg:pypi/requests@1.0", path="a"),
    Package("requests", "1.0", Ecosystem.PYPI, PackageType.PYTHON, path="b", layer_digest="sha256:x"),
    Package("Requests", "2.5", Ecosystem.PYPI, PackageType.PYTHON),
    Package("openssl-libs", "1:3.0.1-1.el9", Ecosystem.ALMALINUX, PackageType.RPM, source_name="openssl"),
    Package("unlisted", "1.0", Ecosystem.PYPI, PackageType.PYTHON),
]
ALMA = OSInfo("almalinux", "9.3")


def test_cached_verdicts_equal_fresh_evaluation(tmp_path: Path) -> None:
    svc = _service(tmp_path, "3.0")
    cached = VulnerabilityMatcher(svc.open_index())
    first = cached.match(ALMA, PACKAGES)
    again = cached.match(ALMA, PACKAGES)  # every verdict now from the cache
    fresh = VulnerabilityMatcher(svc.open_index(), verdict_cache=0).match(ALMA, PACKAGES)
    assert first.findings == again.findings == fresh.findings
    by_path = {(f.package_name, f.path, f.vul_id): f for f in first.findings}
    assert set(by_path) == {
        ("requests", "a", "CVE-2099-1"),
        ("requests", "b", "CVE-2099-1"),
        ("Requests", "", "CVE-2099-1"),
        ("openssl-libs", "", "ALSA-1"),
    }
    # package fields come from each package, advisory fields are shared: two findings, one row
    a, b = by_path["requests", "a", "CVE-2099-1"], by_path["requests", "b", "CVE-2099-1"]
    assert (a.purl, a.layer_digest, b.purl, b.layer_digest) == ("pkg:pypi/requests@1.0", "", "", "sha256:x")
    assert a.fixed_version == "2.0" and a.aliases == ("GHSA-a", "PYSEC-b") and a.severity is Severity.CRITICAL
    assert a.description == "first advisory" and a.type is VulType.APP
    assert by_path["Requests", "", "CVE-2099-1"].fixed_version == "3.0"  # 2.0 fixed only PYSEC-b
    assert by_path["openssl-libs", "", "ALSA-1"].type is VulType.LINUX


def test_verdicts_are_per_os(tmp_path: Path) -> None:
    m = VulnerabilityMatcher(_service(tmp_path, "3.0").open_index())
    assert [f.vul_id for f in m.match(ALMA, PACKAGES[3:4]).findings] == ["ALSA-1"]
    assert m.match(OSInfo("almalinux", "8.9"), PACKAGES[3:4]).findings == []
    assert m.match(None, PACKAGES[3:4]).findings == []


def test_verdict_cache_bound_starts_over(tmp_path: Path) -> None:
    m = VulnerabilityMatcher(_service(tmp_path, "3.0").open_index(), verdict_cache=2)
    expected = VulnerabilityMatcher(m.index, verdict_cache=0).match(ALMA, PACKAGES).findings
    for _ in range(3):
        assert m.match(ALMA, PACKAGES).findings == expected
    assert m._verdict_count <= 2


def test_findings_keep_the_public_constructor() -> None:
    built = VulnerabilityFinding(
        vul_id="CVE-1", package_name="p", package_version="1", ecosystem=Ecosystem.NPM,
        severity=Severity.LOW, type=VulType.APP, path="x",
    )  # fmt: skip
    got = (built.fixed_version, built.status, built.path, built.repair_necessity)
    assert got == ("", "fixed", "x", "Low")


def test_swap_invalidates_cached_matcher(tmp_path: Path) -> None:
    svc = _service(tmp_path, "3.0")
    cache = MatcherCache(svc.store)
    old = cache.get()
    assert cache.get() is old  # warm caches survive across images
    assert svc.matcher() is not old  # a one-shot matcher: only a runtime's cache keeps one warm
    pkg = [Package("requests", "2.5", Ecosystem.PYPI, PackageType.PYTHON)]
    assert [f.fixed_version for f in old.match(None, pkg).findings] == ["3.0"]
    generation = svc.store.generation()

    _service(tmp_path, "2.4")  # re-import of the same feed: a new file swapped in atomically
    assert svc.store.generation() != generation
    new = cache.get()
    assert new is not old
    assert new.match(None, pkg).findings == []  # fixed in 2.4 now: nothing from the old tables
    # a scan that started on the old generation still finishes on it, consistently
    assert [f.fixed_version for f in old.match(None, pkg).findings] == ["3.0"]


def test_cache_is_per_file_and_reports_missing_db(tmp_path: Path) -> None:
    empty = VulnDbService(tmp_path / "none")
    with pytest.raises(VulnDbError, match="no advisory database"):
        empty.matcher()
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    one, two = _service(tmp_path / "1", "3.0"), _service(tmp_path / "2", "3.0")
    assert one.matcher() is not two.matcher()


def test_concurrent_get_returns_one_matcher(tmp_path: Path) -> None:
    cache = MatcherCache(_service(tmp_path, "3.0").store)
    got: list[VulnerabilityMatcher] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(m) for m in got}) == 1
