"""Real feed excerpts (vunnel's provider fixtures in ../shared) through import and matching."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from openhss.config import Settings
from openhss.domain.enums import Ecosystem, PackageType, Severity
from openhss.domain.models import OSInfo, Package
from openhss.scan.applier import Inventory
from openhss.services.vulndb import VulnDbError, VulnDbService, open_matcher
from tests.vulndb.helpers import osv, write_zip


def _extract(shared_dir: Path, prefix: str, dest: Path) -> Path:
    dest.mkdir(parents=True)
    with zipfile.ZipFile(shared_dir / "data/distro-samples/vunnel-provider-fixtures.zip") as zf:
        for name in zf.namelist():
            if name.startswith(prefix) and name.endswith(".json"):
                target = dest / Path(name).name
                target.write_bytes(zf.read(name))
    return dest


def test_debian_tracker_sample(shared_dir: Path, tmp_path: Path) -> None:
    tracker = tmp_path / "debian.json"
    with zipfile.ZipFile(shared_dir / "data/distro-samples/vunnel-provider-fixtures.zip") as zf:
        tracker.write_bytes(zf.read("debian/test-fixtures/input/debian.json"))
    svc = VulnDbService(tmp_path / "db")
    svc.import_paths([tracker])
    pkg = Package("libjs-prototype", "1.7.1-3", Ecosystem.DEBIAN, PackageType.DEB, source_name="prototypejs")
    stretch = OSInfo(family="debian", version="9", codename="stretch")
    result = svc.matcher().match(stretch, [pkg])
    # CVE-2008-7220 was fixed in 1.6.0.2-1 (older than installed), CVE-2007-2383 never affected stretch
    assert result.findings == [] and result.suppressed == []
    old = Package("libjs-prototype", "1.6.0-1", Ecosystem.DEBIAN, PackageType.DEB, source_name="prototypejs")
    found = svc.matcher().match(stretch, [old])
    assert [f.vul_id for f in found.findings] == ["CVE-2008-7220"]
    assert found.findings[0].severity is Severity.HIGH and found.findings[0].fixed_version == "1.6.0.2-1"


def test_ubuntu_osv_sample(shared_dir: Path, tmp_path: Path) -> None:
    d = _extract(shared_dir, "ubuntu/test-fixtures/osv/cve/", tmp_path / "ubuntu")
    svc = VulnDbService(tmp_path / "db")
    assert (svc.import_paths([d]).counts["osv:ubuntu"] or 0) > 0
    # pick, from the data itself, a plain (non-Pro) release entry with a fix
    for f in sorted(d.iterdir()):
        doc = json.loads(f.read_text())
        entries = [
            a for a in doc["affected"]
            if not doc.get("withdrawn") and "Pro" not in a["package"]["ecosystem"]
            and any("fixed" in e for r in a.get("ranges", []) for e in r["events"])
        ]  # fmt: skip
        if entries:
            break
    else:
        pytest.fail("no fixed Ubuntu entry in the sample")
    aff = entries[0]
    fixed = next(e["fixed"] for r in aff["ranges"] for e in r["events"] if "fixed" in e)
    release = aff["package"]["ecosystem"].split(":")[1]
    os_info = OSInfo(family="ubuntu", version=release)
    name = aff["package"]["name"]
    old = Package(name, "0.0-0", Ecosystem.UBUNTU, PackageType.DEB, source_name=name)
    found = [x for x in svc.matcher().match(os_info, [old]).findings if doc["id"] in (x.vul_id, *x.aliases)]
    assert found and found[0].vul_id == doc["id"].removeprefix("UBUNTU-") and found[0].fixed_version == fixed
    new = Package(name, fixed, Ecosystem.UBUNTU, PackageType.DEB, source_name=name)
    assert not [x for x in svc.matcher().match(os_info, [new]).findings if doc["id"] in x.aliases]


def test_almalinux_and_matcher_entry_points(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with pytest.raises(VulnDbError, match="no advisory database"):
        open_matcher(Settings(data_dir=data))
    alma = write_zip(tmp_path / "AlmaLinux.zip", [
        osv("ALSA-2025:1", "AlmaLinux:9", "libxml2",
            events=[{"introduced": "0"}, {"fixed": "2.9.13-6.el9_4"}],
            severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]),
    ])  # fmt: skip
    VulnDbService.from_settings(Settings(data_dir=data)).import_paths([alma])
    matcher = open_matcher(Settings(data_dir=data))
    el9 = OSInfo(family="almalinux", version="9.4")
    inv = Inventory(os=el9, packages=[
        Package("libxml2", "2.9.13-5.el9_2", Ecosystem.ALMALINUX, PackageType.RPM, source_name="libxml2"),
        Package("libxml2", "2.9.13-6.el9_4", Ecosystem.ALMALINUX, PackageType.RPM, source_name="libxml2"),
    ])  # fmt: skip
    (f,) = matcher(inv)
    assert (f.vul_id, f.package_version, f.fixed_version, f.severity) == (
        "ALSA-2025:1", "2.9.13-5.el9_2", "2.9.13-6.el9_4", Severity.CRITICAL)  # fmt: skip
    # an explicit store file (openhss scan --db FILE)
    db_file = data / "vulndb" / "advisories.sqlite"
    assert len(open_matcher(Settings(data_dir=tmp_path / "elsewhere"), db_file)(inv)) == 1
    # AlmaLinux 8 images do not see AlmaLinux 9 advisories
    assert matcher(Inventory(os=OSInfo(family="almalinux", version="8.9"), packages=inv.packages)) == []
