"""Distro descriptors: one per OS ecosystem, and every table that used to restate distro knowledge is
now read from them (the restamper's and the matcher's os-release tables had drifted apart)."""

from __future__ import annotations

import pytest

from openhss.domain.advisory import normalize_release
from openhss.domain.distros.debian import CODENAMES, codename_of
from openhss.domain.distros.registry import BY_ECOSYSTEM, BY_OS_ID, DISTROS
from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import OSInfo, Package
from openhss.domain.version import scheme_for
from openhss.scan.analyzers.os import restamp
from openhss.scan.matcher import distro as os_matcher

LANGUAGE = {
    Ecosystem.PYPI,
    Ecosystem.NPM,
    Ecosystem.MAVEN,
    Ecosystem.GO,
    Ecosystem.CRATES_IO,
    Ecosystem.RUBYGEMS,
    Ecosystem.PACKAGIST,
    Ecosystem.NUGET,
}


def test_every_os_ecosystem_has_exactly_one_descriptor() -> None:
    os_ecosystems = set(Ecosystem) - LANGUAGE - {Ecosystem.UNKNOWN}
    assert len({d.ecosystem for d in DISTROS}) == len(DISTROS), "two descriptors for one ecosystem"
    assert {d.ecosystem for d in DISTROS} == os_ecosystems
    ids = [i for d in DISTROS for i in d.os_ids]
    assert len(ids) == len(set(ids)), "an os-release ID claimed by two distros"
    assert len({i.lower() for i in ids}) == len(ids)


def test_restamper_matcher_and_version_registry_read_the_descriptors() -> None:
    stamped = set(restamp.DISTROS) | set(restamp._BOTH)
    assert stamped == set(BY_OS_ID)
    assert {i.lower(): d.ecosystem for i, d in BY_OS_ID.items()} == os_matcher._FAMILY
    for d in DISTROS:
        assert scheme_for(d.ecosystem).name == d.version_scheme, d.ecosystem
        for os_id in d.os_ids:
            if os_id in restamp.DISTROS:
                assert restamp.DISTROS[os_id] == (d.package_types[0], d.ecosystem, d.purl_namespace)
    # What the drift had lost: the matcher knew no Fedora/Amazon/Oracle/UOS/EulerOS/HCE/Kylin IDs, the
    # restamper no openSUSE Leap Micro.
    for os_id in ("fedora", "amzn", "ol", "uos", "euleros", "hce", "kylin"):
        assert os_id in os_matcher._FAMILY
    assert restamp.DISTROS["opensuse-leap-micro"][1] is Ecosystem.OPENSUSE


def test_kylin_restamps_both_package_formats() -> None:
    os = OSInfo("kylin", "v10")
    pkgs = [
        Package(name="bash", version="5.1-1", type=PackageType.DEB, ecosystem=Ecosystem.DEBIAN),
        Package(name="bash", version="5.1-1.ky10", type=PackageType.RPM, ecosystem=Ecosystem.UNKNOWN),
        Package(name="zlib", version="1.2.11-r0", type=PackageType.APK, ecosystem=Ecosystem.ALPINE),
    ]
    out = restamp.restamp_os_packages(pkgs, os)
    assert [p.ecosystem for p in out[:2]] == [Ecosystem.KYLIN, Ecosystem.KYLIN]
    assert out[2].ecosystem is not Ecosystem.KYLIN  # a foreign format is not the distro's to vouch for


@pytest.mark.parametrize(
    ("ecosystem", "given", "normalised"),
    [
        (Ecosystem.DEBIAN, "bookworm", "12"),
        (Ecosystem.DEBIAN, "12.5", "12"),
        (Ecosystem.DEBIAN, "sid", "unstable"),
        (Ecosystem.UBUNTU, "Ubuntu:22.04:LTS", "22.04"),
        (Ecosystem.UBUNTU, "Ubuntu:Pro:18.04:LTS", "pro:18.04"),
        (Ecosystem.ALPINE, "v3.18.4", "3.18"),
        (Ecosystem.WOLFI, "20230201", "20230201"),
        (Ecosystem.REDHAT, "el9", "9"),
        (Ecosystem.AMAZON, "2023", "2023"),
        (Ecosystem.OPENEULER, "22.03 (LTS-SP1)", "22.03-lts-sp1"),
        (Ecosystem.SUSE, "Linux Enterprise Server 15 SP3", "sle:15.3"),
        (Ecosystem.SUSE, "15.3", "sle:15.3"),
        (Ecosystem.OPENSUSE, "Leap Micro 5.5", "leap-micro:5.5"),
        (Ecosystem.OPENSUSE, "Tumbleweed", "tumbleweed"),
        (Ecosystem.HCE, "2.0", "2.0"),
        (Ecosystem.PYPI, " Anything ", "anything"),
    ],
)
def test_release_normalisation_follows_the_descriptor(
    ecosystem: Ecosystem, given: str, normalised: str
) -> None:
    assert normalize_release(ecosystem, given) == normalised


def test_debian_codenames_are_one_table() -> None:
    assert CODENAMES["bookworm"] == "12" and BY_ECOSYSTEM[Ecosystem.DEBIAN].release("bookworm") == "12"
    assert codename_of("12.5") == "bookworm" and codename_of("15") == "duke" and codename_of("99") == ""
