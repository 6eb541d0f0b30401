"""OS packages: source-package lookup per release, backports, unfixed/wont-fix, not-affected, epochs."""

from __future__ import annotations

from pathlib import Path

import pytest

from openhss.domain.enums import Ecosystem, PackageType, VulType
from openhss.domain.models import OSInfo, Package
from openhss.scan.applier import Inventory
from openhss.scan.matcher import VulnerabilityMatcher
from openhss.services.vulndb import VulnDbService
from tests.vulndb.helpers import osv, write_zip
from tests.vulndb.test_distro_sources import write_tracker

BOOKWORM = OSInfo(family="debian", version="12", codename="bookworm")


@pytest.fixture
def debian_index(tmp_path: Path) -> VulnDbService:
    svc = VulnDbService(tmp_path / "db")
    upstream = write_zip(tmp_path / "Debian.zip", [
        # OSV's Debian view of CVE-2023-0002 says "affected"; the tracker says the release never shipped it
        osv("DEBIAN-CVE-2023-0002", "Debian:12", "openssl", events=[{"introduced": "0"}]),
        osv("DSA-9-1", "Debian:12", "zlib", events=[{"introduced": "0"}, {"fixed": "1:1.2.13.dfsg-2"}],
            aliases=["CVE-2023-0100"]),
    ])  # fmt: skip
    svc.import_paths([write_tracker(tmp_path / "tracker.json"), upstream])
    return svc


def _libssl(version: str, source_version: str = "") -> Package:
    return Package("libssl3", version, Ecosystem.DEBIAN, PackageType.DEB, source_name="openssl",
                   source_version=source_version or version, path="/var/lib/dpkg/status",
                   layer_digest="sha256:l1")  # fmt: skip


def test_backport_unfixed_wontfix_and_not_affected(debian_index: VulnDbService) -> None:
    m = VulnerabilityMatcher(debian_index.open_index())
    # 3.0.11-1~deb12u2 is older than upstream's 3.0.12 fix but carries the backported fix: not reported
    result = m.match(BOOKWORM, [_libssl("3.0.11-1~deb12u2")])
    by_id = {f.vul_id: f for f in result.findings}
    assert "CVE-2023-0001" not in by_id
    assert by_id["CVE-2023-0003"].status == "unfixed" and by_id["CVE-2023-0003"].fixed_version == ""
    assert by_id["CVE-2023-0004"].status == "wont-fix" and by_id["CVE-2023-0004"].fixed_version == ""
    assert "CVE-2023-0002" not in by_id
    (sup,) = result.suppressed
    assert sup.vul_id == "CVE-2023-0002" and sup.reason.startswith("not-affected")
    f = by_id["CVE-2023-0003"]
    assert f.type is VulType.LINUX and f.package_name == "libssl3" and f.layer_digest == "sha256:l1"

    older = m.match(BOOKWORM, [_libssl("3.0.9-1")])
    fixed = {f.vul_id: f for f in older.findings}["CVE-2023-0001"]
    assert fixed.fixed_version == "3.0.11-1~deb12u1" and fixed.status == "fixed"


def test_release_by_codename_and_other_release(debian_index: VulnDbService) -> None:
    m = VulnerabilityMatcher(debian_index.open_index())
    sid_style = OSInfo(family="debian", version="", codename="bookworm")
    assert {f.vul_id for f in m.match(sid_style, [_libssl("3.0.9-1")]).findings} >= {"CVE-2023-0001"}
    bullseye = OSInfo(family="debian", version="11.8", codename="bullseye")
    (only,) = m.match(bullseye, [_libssl("1.1.1w-0+deb11u1")]).findings
    assert only.vul_id == "CVE-2023-0001" and only.status == "unfixed"
    assert m.match(None, [_libssl("3.0.9-1")]).findings == []  # no OS identity → no distro matching


def test_epoch_aware_and_binary_name_lookup(debian_index: VulnDbService) -> None:
    m = VulnerabilityMatcher(debian_index.open_index())
    zlib = Package("zlib", "1.2.13.dfsg-1", Ecosystem.DEBIAN, PackageType.DEB)
    (f,) = m.match(BOOKWORM, [zlib]).findings
    assert f.vul_id == "CVE-2023-0100" and f.aliases == ("DSA-9-1",) and f.fixed_version == "1:1.2.13.dfsg-2"
    # without the epoch 1.2.13.dfsg-9 would look newer than the fix; with epoch 1 it is the fix that is newer
    assert (
        m.match(BOOKWORM, [Package("zlib", "1:1.2.13.dfsg-2", Ecosystem.DEBIAN, PackageType.DEB)]).findings
        == []
    )
    inv = Inventory(
        os=BOOKWORM, packages=[Package("zlib", "1.2.13.dfsg-9", Ecosystem.DEBIAN, PackageType.DEB)]
    )
    assert [x.vul_id for x in m.match_inventory(inv).findings] == ["CVE-2023-0100"]


def test_alpine_secdb(shared_dir: Path, tmp_path: Path) -> None:
    svc = VulnDbService(tmp_path / "db")
    svc.import_paths([shared_dir / "data/alpine/secdb/v3.10/main.json"])
    m = VulnerabilityMatcher(svc.open_index())
    alpine = OSInfo(family="alpine", version="3.10.9")
    # musl 1.1.22-r3 fixed CVE-2019-14697 in v3.10 (secdb): r1 is affected, r3 is not
    old = Package("musl", "1.1.22-r1", Ecosystem.ALPINE, PackageType.APK, source_name="musl")
    new = Package("musl", "1.1.22-r3", Ecosystem.ALPINE, PackageType.APK, source_name="musl")
    found = m.match(alpine, [old]).findings
    assert [f.fixed_version for f in found if f.vul_id == "CVE-2019-14697"] == ["1.1.22-r3"]
    assert not [f for f in m.match(alpine, [new]).findings if f.vul_id == "CVE-2019-14697"]
