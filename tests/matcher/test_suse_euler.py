"""SUSE, openSUSE and openEuler: the OS analyzer's release strings (from real os-release samples) and
OSV's ecosystem names (`SUSE:Linux Enterprise Server 15 SP3`, `openSUSE:Leap 15.5`,
`openEuler:22.03-LTS-SP1`) must land on the same store key, or every advisory is silently missed."""

from __future__ import annotations

from pathlib import Path

import pytest

from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import OSInfo, Package
from openhss.scan.analyzers.os.release import from_os_release, from_release_line
from openhss.scan.matcher import VulnerabilityMatcher
from openhss.scan.matcher.distro import os_release
from openhss.services.vulndb import VulnDbService
from openhss.vulndb.osv import parse_ecosystem
from tests.vulndb.helpers import osv, write_zip

TRIVY = "data/fixtures/os-release/trivy/analyzer-os-release/testdata"

# openEuler's own os-release files, as its container images ship them
OPENEULER_2203_SP1 = (
    'NAME="openEuler"\nVERSION="22.03 (LTS-SP1)"\nID="openEuler"\nVERSION_ID="22.03"\n'
    'PRETTY_NAME="openEuler 22.03 (LTS-SP1)"\nANSI_COLOR="0;31"\n'
)
OPENEULER_2403 = (
    'NAME="openEuler"\nVERSION="24.03 (LTS)"\nID="openEuler"\nVERSION_ID="24.03"\n'
    'PRETTY_NAME="openEuler 24.03 (LTS)"\nANSI_COLOR="0;31"\n'
)


def _key(osv_ecosystem: str) -> tuple[Ecosystem, str]:
    parsed = parse_ecosystem(osv_ecosystem)
    assert parsed is not None
    return parsed


def _sample(shared: Path, name: str) -> OSInfo:
    info = from_os_release((shared / TRIVY / name).read_text())
    assert info is not None
    return info


@pytest.mark.parametrize(
    ("sample", "osv_ecosystem", "other"),
    [
        ("sles", "SUSE:Linux Enterprise Server 15 SP3", "SUSE:Linux Enterprise Server 15 SP4"),
        ("sles", "SUSE:Linux Enterprise Module for Basesystem 15 SP3", "SUSE:Linux Enterprise Server 12 SP3"),
        ("slemicro", "SUSE:Linux Enterprise Micro 5.3", "SUSE:Linux Enterprise Server 15 SP3"),
        ("slemicro6.0", "SUSE:Linux Micro 6.0", "SUSE:Linux Enterprise Micro 6.0"),
        ("opensuseleap-42.3", "openSUSE:Leap 42.3", "openSUSE:Leap 15.3"),
        ("opensuseleap-15.2.1", "openSUSE:Leap 15.2", "openSUSE:Leap Micro 5.2"),
        ("opensusetumbleweed", "openSUSE:Tumbleweed", "openSUSE:Leap 15.5"),
    ],
)
def test_suse_samples_meet_osv_names(shared_dir: Path, sample: str, osv_ecosystem: str, other: str) -> None:
    info = _sample(shared_dir, sample)
    eco, release = _key(osv_ecosystem)
    assert os_release(eco, info) == release
    other_eco, other_release = _key(other)
    assert other_eco is not eco or os_release(other_eco, info) != other_release


@pytest.mark.parametrize(
    ("text", "osv_ecosystem", "other"),
    [
        (OPENEULER_2203_SP1, "openEuler:22.03-LTS-SP1", "openEuler:22.03-LTS"),
        (OPENEULER_2403, "openEuler:24.03-LTS", "openEuler:24.03-LTS-SP1"),
    ],
)
def test_openeuler_os_release_meets_osv_names(text: str, osv_ecosystem: str, other: str) -> None:
    info = from_os_release(text)
    assert info is not None and info.family == "openEuler"
    eco, release = _key(osv_ecosystem)
    assert os_release(eco, info) == release
    assert os_release(eco, info) != _key(other)[1]
    # the same release seen only through /etc/openEuler-release
    line = from_release_line(f"openEuler release {info.version} ({info.codename})\n", "etc/openEuler-release")
    assert line is not None and os_release(eco, line) == release


def test_suse_and_openeuler_advisories_match_end_to_end(shared_dir: Path, tmp_path: Path) -> None:
    svc = VulnDbService(tmp_path / "db")
    suse = osv(
        "SUSE-SU-2024:1",
        "SUSE:Linux Enterprise Server 15 SP3",
        "openssl-1_1",
        events=[{"introduced": "0"}, {"fixed": "1.1.1d-150200.11.90.1"}],
        aliases=["CVE-2099-10"],
    )
    sp4 = osv(
        "x",
        "SUSE:Linux Enterprise Server 15 SP4",
        "openssl-1_1",
        events=[{"introduced": "0"}, {"fixed": "1.1.1l-150400.7.70.1"}],
    )
    suse["affected"] += sp4["affected"]  # one SUSE advisory lists every product it fixes
    svc.import_paths([write_zip(tmp_path / "feeds.zip", [
        suse,
        osv("openSUSE-SU-2024:2", "openSUSE:Leap 15.2", "curl",
            events=[{"introduced": "0"}, {"fixed": "7.66.0-lp152.4.1"}]),
        osv("OESA-2024-3", "openEuler:22.03-LTS-SP1", "zlib",
            events=[{"introduced": "0"}, {"fixed": "1.2.11-26.oe2203sp1"}]),
    ])])  # fmt: skip
    m = VulnerabilityMatcher(svc.open_index())

    def hits(info: OSInfo, eco: Ecosystem, name: str, version: str) -> list[tuple[str, str]]:
        pkg = Package(name, version, eco, PackageType.RPM, source_name=name)
        return [(f.vul_id, f.fixed_version) for f in m.match(info, [pkg]).findings]

    sles = _sample(shared_dir, "sles")
    assert hits(sles, Ecosystem.SUSE, "openssl-1_1", "1.1.1d-150200.11.80.1") == [
        ("CVE-2099-10", "1.1.1d-150200.11.90.1")  # the SP3 fix, not SP4's
    ]
    assert hits(sles, Ecosystem.SUSE, "openssl-1_1", "1.1.1d-150200.11.90.1") == []
    leap = _sample(shared_dir, "opensuseleap-15.2.1")
    assert hits(leap, Ecosystem.OPENSUSE, "curl", "7.66.0-lp152.3.1") == [
        ("openSUSE-SU-2024:2", "7.66.0-lp152.4.1")
    ]
    euler = from_os_release(OPENEULER_2203_SP1)
    assert euler is not None
    assert hits(euler, Ecosystem.OPENEULER, "zlib", "1.2.11-25.oe2203sp1") == [
        ("OESA-2024-3", "1.2.11-26.oe2203sp1")
    ]
    # packages whose ecosystem the OS restamper left unknown are placed by the OS family
    assert hits(euler, Ecosystem.UNKNOWN, "zlib", "1.2.11-25.oe2203sp1") == [
        ("OESA-2024-3", "1.2.11-26.oe2203sp1")
    ]
