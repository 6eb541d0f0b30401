"""OS detection for the distributions the peers' fixtures do not cover, and the re-stamp after fold.

Release-file contents are what those distributions ship (copied from their base images' files).
"""

from __future__ import annotations

import pytest
from packageurl import PackageURL

from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import OSInfo, Package
from openhss.scan.analyzers.os.release import detect
from openhss.scan.analyzers.os.restamp import restamp_os_packages

from .helpers import scan, tar_of

OS_RELEASE = {
    "debian12": (
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'
        'VERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n',
        ("debian", "12", "bookworm"),
    ),
    "debian-trixie-testing": (
        'PRETTY_NAME="Debian GNU/Linux trixie/sid"\nNAME="Debian GNU/Linux"\n'
        "VERSION_CODENAME=trixie\nID=debian\n",
        ("debian", "trixie/sid", "trixie"),
    ),
    "ubuntu2204": (
        'PRETTY_NAME="Ubuntu 22.04.3 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\n'
        'VERSION="22.04.3 LTS (Jammy Jellyfish)"\n'
        "VERSION_CODENAME=jammy\nID=ubuntu\nID_LIKE=debian\nUBUNTU_CODENAME=jammy\n",
        ("ubuntu", "22.04", "jammy"),
    ),
    "openEuler": (
        'NAME="openEuler"\nVERSION="22.03 (LTS-SP1)"\nID="openEuler"\nVERSION_ID="22.03"\n'
        'PRETTY_NAME="openEuler 22.03 (LTS-SP1)"\nANSI_COLOR="0;31"\n',
        ("openEuler", "22.03", "LTS-SP1"),
    ),
    "euleros": (
        'NAME="EulerOS"\nVERSION="2.0 (SP5)"\nID="euleros"\nVERSION_ID="2.0"\n'
        'PRETTY_NAME="EulerOS 2.0 (SP5)"\n',
        ("euleros", "2.0", "SP5"),
    ),
    "hce": (
        'NAME="Huawei Cloud EulerOS"\nVERSION="2.0 (x86_64)"\nID="hce"\nVERSION_ID="2.0"\n'
        'PRETTY_NAME="Huawei Cloud EulerOS 2.0 (x86_64)"\nANSI_COLOR="0;31"\n',
        ("hce", "2.0", "x86_64"),
    ),
    "kylin": (
        'NAME="Kylin Linux Advanced Server"\nVERSION="V10 (Lance)"\nID="kylin"\nVERSION_ID="V10"\n'
        'PRETTY_NAME="Kylin Linux Advanced Server V10 (Lance)"\n',
        ("kylin", "V10", "Lance"),
    ),
    "uos": (
        'PRETTY_NAME="UnionTech OS Server 20"\nNAME="UnionTech OS Server 20"\nVERSION_ID="20"\nVERSION="20"\n'
        "ID=uos\n",
        ("uos", "20", ""),
    ),
    "amzn2": (
        'NAME="Amazon Linux"\nVERSION="2"\nID="amzn"\nID_LIKE="centos rhel fedora"\nVERSION_ID="2"\n'
        'PRETTY_NAME="Amazon Linux 2"\n',
        ("amzn", "2", ""),
    ),
    "wolfi": (
        'ID=wolfi\nNAME="Wolfi"\nPRETTY_NAME="Wolfi"\nVERSION_ID="20230201"\n',
        ("wolfi", "20230201", ""),
    ),
    "chainguard": (
        'ID=chainguard\nNAME="Chainguard"\nPRETTY_NAME="Chainguard"\nVERSION_ID="20230214"\n',
        ("chainguard", "20230214", ""),
    ),
    "opensuse-leap-42": (
        'NAME="openSUSE Leap"\nVERSION="42.3"\nID=opensuse\nVERSION_ID="42.3"\n',
        ("opensuse-leap", "42.3", ""),
    ),
}

RELEASE_FILES = {
    "etc/openEuler-release": ("openEuler release 22.03 (LTS-SP1)\n", ("openEuler", "22.03", "LTS-SP1")),
    "etc/hce-release": ("Huawei Cloud EulerOS release 2.0 (West Lake)\n", ("hce", "2.0", "West Lake")),
    "etc/EulerOS-release": ("EulerOS release 2.0 (SP8)\n", ("euleros", "2.0", "SP8")),
    "etc/kylin-release": ("Kylin Linux Advanced Server release V10 (Sword)\n", ("kylin", "V10", "Sword")),
    "etc/system-release": ("Amazon Linux release 2 (Karoo)\n", ("amzn", "2", "Karoo")),
    "etc/redhat-release": ("Red Hat Enterprise Linux release 8.9 (Ootpa)\n", ("rhel", "8.9", "Ootpa")),
    "etc/alpine-release": ("3.19.1\n", ("alpine", "3.19.1", "")),
    "etc/debian_version": ("12.5\n", ("debian", "12.5", "bookworm")),
}


@pytest.mark.parametrize("name", sorted(OS_RELEASE))
def test_os_release(name: str) -> None:
    text, want = OS_RELEASE[name]
    for path in ("etc/os-release", "usr/lib/os-release"):
        inv = scan([tar_of([(path, text.encode())])])
        assert inv.os is not None
        assert (inv.os.family, inv.os.version, inv.os.codename) == want


@pytest.mark.parametrize("path", sorted(RELEASE_FILES))
def test_release_files(path: str) -> None:
    text, want = RELEASE_FILES[path]
    info = detect(path, text)
    assert info is not None and (info.family, info.version, info.codename) == want


def test_precedence_within_a_layer() -> None:
    """os-release wins over the older files; a missing codename is filled from them."""
    osr = b'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n'
    inv = scan([tar_of([("etc/debian_version", b"12.5\n"), ("etc/os-release", osr)])])
    assert inv.os == OSInfo("debian", "12", "Debian GNU/Linux 12", "bookworm")
    centos = b'NAME="CentOS Linux"\nVERSION="7 (Core)"\nID="centos"\nVERSION_ID="7"\n'
    inv = scan(
        [
            tar_of(
                [
                    ("etc/redhat-release", b"CentOS Linux release 7.9.2009 (Core)\n"),
                    ("usr/lib/os-release", centos),
                ]
            )
        ]
    )
    assert inv.os is not None and (inv.os.family, inv.os.version) == ("centos", "7")


def test_upper_layer_release_wins() -> None:
    old = b"ID=alpine\nVERSION_ID=3.18.4\n"
    new = b"ID=alpine\nVERSION_ID=3.19.1\n"
    inv = scan([tar_of([("etc/os-release", old)]), tar_of([("etc/os-release", new)])])
    assert inv.os is not None and inv.os.version == "3.19.1"


APK_DB = b"P:ca-certificates-bundle\nV:20240226-r0\nA:x86_64\no:ca-certificates\nL:MPL-2.0 AND MIT\n\n"


@pytest.mark.parametrize(
    ("osr", "eco", "ns", "distro"),
    [
        (b"ID=alpine\nVERSION_ID=3.19.1\n", Ecosystem.ALPINE, "alpine", "alpine-3.19.1"),
        (b"ID=wolfi\nVERSION_ID=20230201\n", Ecosystem.WOLFI, "wolfi", "wolfi-20230201"),
        (b"ID=chainguard\nVERSION_ID=20230214\n", Ecosystem.CHAINGUARD, "chainguard", "chainguard-20230214"),
    ],
)
def test_restamp_apk(osr: bytes, eco: Ecosystem, ns: str, distro: str) -> None:
    inv = scan([tar_of([("lib/apk/db/installed", APK_DB)]), tar_of([("etc/os-release", osr)])])
    (pkg,) = inv.packages
    assert pkg.ecosystem is eco
    assert (pkg.source_name, pkg.licenses) == ("ca-certificates", ("MPL-2.0 AND MIT",))
    purl = PackageURL.from_string(pkg.purl)
    assert (purl.type, purl.namespace, purl.version) == ("apk", ns, "20240226-r0")
    assert purl.qualifiers == {"arch": "x86_64", "distro": distro}


STATUS = b"Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.1-6ubuntu1\n\n"


@pytest.mark.parametrize(
    ("osr", "eco", "ns"),
    [
        (b"ID=ubuntu\nVERSION_ID=22.04\nVERSION_CODENAME=jammy\n", Ecosystem.UBUNTU, "ubuntu"),
        (b"ID=uos\nVERSION_ID=20\n", Ecosystem.UOS, "uos"),
        (b"ID=kylin\nVERSION_ID=V10\n", Ecosystem.KYLIN, "kylin"),
        (b"ID=debian\nVERSION_ID=12\n", Ecosystem.DEBIAN, "debian"),
    ],
)
def test_restamp_deb(osr: bytes, eco: Ecosystem, ns: str) -> None:
    inv = scan([tar_of([("var/lib/dpkg/status", STATUS), ("etc/os-release", osr)])])
    (pkg,) = inv.packages
    assert pkg.ecosystem is eco
    assert PackageURL.from_string(pkg.purl).namespace == ns


def test_restamp_rpm_family_and_foreign_formats() -> None:
    rpm = Package(
        "bash",
        "5.1.8-6.el9",
        Ecosystem.REDHAT,
        PackageType.RPM,
        "pkg:rpm/redhat/bash@5.1.8-6.el9?arch=x86_64",
    )
    deb = Package("bash", "5.1-6", Ecosystem.DEBIAN, PackageType.DEB, "pkg:deb/debian/bash@5.1-6?arch=amd64")
    app = Package("requests", "2.31.0", Ecosystem.PYPI, PackageType.PYTHON, "pkg:pypi/requests@2.31.0")
    cases = {
        "rhel": (Ecosystem.REDHAT, "redhat"),
        "rocky": (Ecosystem.ROCKY, "rocky"),
        "almalinux": (Ecosystem.ALMALINUX, "almalinux"),
        "centos": (Ecosystem.CENTOS, "centos"),
        "fedora": (Ecosystem.FEDORA, "fedora"),
        "amzn": (Ecosystem.AMAZON, "amazon"),
        "ol": (Ecosystem.ORACLE, "oracle"),
        "sles": (Ecosystem.SUSE, "suse"),
        "opensuse-leap": (Ecosystem.OPENSUSE, "opensuse"),
        "openEuler": (Ecosystem.OPENEULER, "openeuler"),
        "euleros": (Ecosystem.EULEROS, "euleros"),
        "hce": (Ecosystem.HCE, "hce"),
        "kylin": (Ecosystem.KYLIN, "kylin"),
    }
    for family, (eco, ns) in cases.items():
        out_rpm, out_deb, out_app = restamp_os_packages([rpm, deb, app], OSInfo(family, "9"))
        assert out_rpm.ecosystem is eco, family
        purl = PackageURL.from_string(out_rpm.purl)
        assert (purl.namespace, purl.qualifiers) == (ns, {"arch": "x86_64", "distro": f"{family}-9"})
        assert out_app == app
        if family != "kylin":
            assert out_deb == deb  # a dpkg db inside an rpm distro is not that distro's package


def test_distroless_inference() -> None:
    """No release file anywhere, dpkg status.d records: Debian, release from base-files."""
    rec = b"Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n\n"
    ssl = b"Package: libssl3\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\nSource: openssl\n\n"
    inv = scan(
        [tar_of([("var/lib/dpkg/status.d/base", rec)]), tar_of([("var/lib/dpkg/status.d/libssl3", ssl)])]
    )
    assert inv.os == OSInfo("debian", "12", "distroless", "bookworm")
    assert {p.name: p.source_name for p in inv.packages} == {"base-files": "base-files", "libssl3": "openssl"}
    assert all("distro=debian-12" in p.purl for p in inv.packages)
