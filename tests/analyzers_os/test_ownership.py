"""OS-owned language packages, phantom lockfiles, jar identity and cargo root crates.

Debian's `python3-urllib3` 1.26.12-1+deb12u4 carries the fix for CVE-2023-43804 as a backport; PyPI's
range (< 1.26.17) says the same upstream version is affected. The image here holds that real .deb
(unpacked and registered as dpkg does) and the real PyPI wheel of the same version in
`/usr/local`, so the test shows both verdicts at once: the pip copy is matched, the dpkg copy is not.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from pathlib import Path

from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import Package
from openhss.scan.analyzers.base import AnalysisResult
from openhss.scan.analyzers.lang.python import PythonAnalyzer
from openhss.scan.analyzers.os.apk import ApkAnalyzer
from openhss.scan.analyzers.os.dpkg import DpkgAnalyzer
from openhss.scan.analyzers.os.release import OSReleaseAnalyzer
from openhss.scan.analyzers.os.rpm import read_rpmdb
from openhss.scan.applier import fold
from openhss.scan.matcher import VulnerabilityMatcher
from openhss.scan.matcher.explain import AFFECTED, BACKPORTED, FIXED, as_text, explain
from openhss.scan.walk import LayerAnalysis
from openhss.services.vulndb import VulnDbService
from tests.analyzers_lang.helpers import LANG_ANALYZERS, scan_files
from tests.analyzers_os.helpers import scan, tar_of, tar_of_tree
from tests.support.debs import download_debs, install_debs
from tests.support.wheels import download_wheel, install_wheel
from tests.vulndb.helpers import osv, write_zip

ANALYZERS = [OSReleaseAnalyzer, DpkgAnalyzer, ApkAnalyzer, PythonAnalyzer]
SITE = "usr/local/lib/python3.11/site-packages"


def _image(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n')
    install_debs(download_debs(["python3-urllib3", "python3-idna"]), root)
    install_wheel(download_wheel("urllib3==1.26.12"), root / SITE)
    return tar_of_tree(root, tmp_path / "layer.tar")


def test_dpkg_owned_python_packages_are_marked_and_matched_only_through_debian(tmp_path: Path) -> None:
    inv = scan([_image(tmp_path)], ANALYZERS)
    pypi = {(p.name, p.path): p.owner for p in inv.packages if p.ecosystem is Ecosystem.PYPI}
    assert pypi == {
        ("urllib3", "usr/lib/python3/dist-packages/urllib3-1.26.12.egg-info/PKG-INFO"): "deb:python3-urllib3",
        ("idna", "usr/lib/python3/dist-packages/idna-3.3.egg-info/PKG-INFO"): "deb:python3-idna",
        ("urllib3", f"{SITE}/urllib3-1.26.12.dist-info/METADATA"): "",
    }
    svc = VulnDbService(tmp_path / "db")
    svc.import_paths([write_zip(tmp_path / "PyPI.zip", [
        osv("PYSEC-2023-192", "PyPI", "urllib3", events=[{"introduced": "0"}, {"fixed": "1.26.17"}],
            aliases=["CVE-2023-43804"]),
        osv("PYSEC-2024-60", "PyPI", "idna", events=[{"introduced": "0"}, {"fixed": "3.7"}],
            aliases=["CVE-2024-3651"]),
    ])])  # fmt: skip
    found = VulnerabilityMatcher(svc.open_index()).match_inventory(inv).findings
    assert {(f.vul_id, f.package_name, f.path) for f in found} == {
        ("CVE-2023-43804", "urllib3", f"{SITE}/urllib3-1.26.12.dist-info/METADATA"),
    }


def test_a_removed_file_list_retracts_ownership(tmp_path: Path) -> None:
    """`apt-get remove` deletes the .list; a pip copy left at the same place is the image's own."""
    base = _image(tmp_path)
    whiteout = tar_of([("var/lib/dpkg/info/.wh.python3-idna.list", b"")])
    inv = scan([base, whiteout], ANALYZERS)
    owners = {
        p.name: p.owner for p in inv.packages if p.ecosystem is Ecosystem.PYPI and "dist-packages" in p.path
    }
    assert owners == {"urllib3": "deb:python3-urllib3", "idna": ""}


def test_apk_r_lines_mark_ownership() -> None:
    db = (
        b"P:py3-idna\nV:3.4-r4\nA:noarch\no:py3-idna\nF:usr/lib/python3.11/site-packages/idna-3.4.dist-info\n"
        b"R:METADATA\nR:RECORD\nF:usr/lib/python3.11/site-packages/idna\nR:core.py\n\n"
    )
    meta = b"Metadata-Version: 2.1\nName: idna\nVersion: 3.4\n"
    layer = tar_of(
        [("lib/apk/db/installed", db), ("usr/lib/python3.11/site-packages/idna-3.4.dist-info/METADATA", meta)]
    )
    inv = scan([layer], ANALYZERS)
    assert [(p.name, p.owner) for p in inv.packages if p.ecosystem is Ecosystem.PYPI] == [
        ("idna", "apk:py3-idna")
    ]


def test_lockfiles_inside_installed_packages_are_not_evidence() -> None:
    lock = b'{"lockfileVersion": 3, "packages": {"": {}, "node_modules/lodash": {"version": "4.17.4"}}}'
    gemlock = b"GEM\n  remote: https://rubygems.org/\n  specs:\n    rake (13.0.6)\n\n"
    gem_dir = "var/lib/gems/3.1.0/gems/sass-3.7.4"
    packages, _ = scan_files([
        (f"{gem_dir}/package-lock.json", lock, 0o644),
        (f"{gem_dir}/Gemfile.lock", gemlock, 0o644),
        ("usr/lib/python3/dist-packages/foo/Gemfile.lock", gemlock, 0o644),
        ("srv/app/package-lock.json", lock, 0o644),
        ("srv/app/Gemfile.lock", gemlock, 0o644),
    ], LANG_ANALYZERS)  # fmt: skip
    assert {(p.name, p.path) for p in packages} == {
        ("lodash", "srv/app/package-lock.json"),
        ("rake", "srv/app/Gemfile.lock"),
    }


def _jar(entries: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in entries.items():
            zf.writestr(name, text)
    return buf.getvalue()


def test_a_jar_without_maven_metadata_is_unidentified_never_invented() -> None:
    manifest = "Manifest-Version: 1.0\nImplementation-Title: Commons Collections\n"
    manifest += "Implementation-Vendor: The Apache Software Foundation\nImplementation-Version: 3.2.2\n"
    data = _jar({"META-INF/MANIFEST.MF": manifest})
    packages, _ = scan_files([("opt/app/lib/commons-collections.jar", data, 0o644)], LANG_ANALYZERS)
    [pkg] = packages
    sha1 = hashlib.sha1(data, usedforsecurity=False).hexdigest()
    assert (pkg.name, pkg.version, pkg.ecosystem, pkg.type) == (
        "commons-collections.jar", "3.2.2", Ecosystem.UNKNOWN, PackageType.JAR)  # fmt: skip
    assert pkg.purl == f"pkg:generic/commons-collections.jar@3.2.2?checksum=sha1:{sha1}"


def test_explain_shows_the_backport_and_the_pip_copy(tmp_path: Path) -> None:
    """The Debian tracker's real verdict for CVE-2023-43804 in bookworm (fixed in 1.26.12-1+deb12u1)."""
    inv = scan([_image(tmp_path)], ANALYZERS)
    tracker = tmp_path / "tracker.json"
    bookworm = {"status": "resolved", "fixed_version": "1.26.12-1+deb12u1", "urgency": "medium"}
    tracker.write_text(
        json.dumps({"python-urllib3": {"CVE-2023-43804": {"releases": {"bookworm": bookworm}}}})
    )
    svc = VulnDbService(tmp_path / "db")
    svc.import_paths([tracker, write_zip(tmp_path / "PyPI.zip", [
        osv("PYSEC-2023-192", "PyPI", "urllib3", events=[{"introduced": "0"}, {"fixed": "1.26.17"}],
            aliases=["CVE-2023-43804"]),
    ])])  # fmt: skip
    matcher = VulnerabilityMatcher(svc.open_index())
    got = {(e.package.path, e.verdict) for e in explain(matcher, inv, "PYSEC-2023-192")}
    assert got == {
        ("usr/lib/python3/dist-packages/urllib3-1.26.12.egg-info/PKG-INFO", BACKPORTED),
        (f"{SITE}/urllib3-1.26.12.dist-info/METADATA", AFFECTED),
        ("var/lib/dpkg/status", FIXED),
    }
    [owned] = [e for e in explain(matcher, inv, "CVE-2023-43804") if e.package.owner]
    assert [(r.advisory_id, r.feed, r.fixed_version, r.affected) for r in owned.records] == [
        ("CVE-2023-43804", "debian-tracker", "1.26.12-1+deb12u1", False)
    ]
    assert [(r.advisory_id, r.affected) for r in owned.ignored] == [("PYSEC-2023-192", True)]
    assert "BACKPORTED" in as_text([owned], "CVE-2023-43804")


def test_rpm_file_lists_mark_ownership(shared_dir: Path) -> None:
    """A real rpmdb (CBL-Mariner 2.0, from go-rpmdb's test data): its headers' file lists name what rpm
    installed; a binary at such a path is rpm-owned, one elsewhere is not."""
    db = shared_dir / "data/fixtures/rpm/go-rpmdb/pkg/testdata/cbl-mariner-2.0/rpmdb.sqlite"
    owned: list[tuple[str, str, str]] = []
    with db.open("rb") as f:
        found, problems = read_rpmdb("var/lib/rpm/rpmdb.sqlite", f, db.stat().st_size, owned)
    assert len(found) == 129 and not problems
    pairs = {(o, p) for _, o, p in owned}
    assert ("rpm:bash", "usr/bin/bash") in pairs and ("rpm:coreutils", "usr/bin/ls") in pairs
    assert all(p.startswith(("usr/", "bin/", "sbin/", "lib")) for _, p in pairs)
    pkg = Package("stdlib", "v1.19.8", Ecosystem.GO, PackageType.GOBINARY, path="usr/bin/bash")
    fresh = dataclasses.replace(pkg, path="usr/local/bin/app")
    analysis = AnalysisResult(packages=[pkg, fresh], owned=owned)
    inv = fold([LayerAnalysis("sha256:" + "1" * 64, analysis)])
    assert {(p.path, p.owner) for p in inv.packages} == {
        ("usr/bin/bash", "rpm:bash"),
        ("usr/local/bin/app", ""),
    }
