"""Ground truth: our inventory against the package managers' own answers on real databases.

* a debootstrap minbase bookworm rootfs packed as a layer: dpkg packages == `dpkg-query --admindir -W`,
  and the files report == what `find` says about modes, with sha256 of the bytes on disk;
* rpm databases written by Debian's `rpm` from packages built with `rpmbuild`: the SQLite db as rpm
  writes it, and the same headers loaded into a BerkeleyDB hash with `db5.3_load` (the path rpm's own
  `bdb_ro` backend reads): our parse == `rpm -qa --dbpath`.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import pytest
from packageurl import PackageURL

from openhss.domain.enums import Ecosystem
from openhss.domain.models import OSInfo
from openhss.scan.analyzers.files import EXECUTABLE, SETGID, SETUID, WORLD_WRITABLE
from tests.support.rootfs import debootstrap_rootfs

from .conftest import QF, bdb_from_sqlite
from .helpers import ALL_ANALYZERS, scan, tar_of, tar_of_tree

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def bookworm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    rootfs = debootstrap_rootfs("bookworm")
    layer = tar_of_tree(rootfs, tmp_path_factory.mktemp("layer") / "rootfs.tar")
    return rootfs, layer


def _dpkg_query(rootfs: Path) -> set[tuple[str, str, str, str, str]]:
    fmt = "${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\n"
    out = subprocess.run(
        ["dpkg-query", "--admindir", str(rootfs / "var/lib/dpkg"), "-W", "-f", fmt],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {tuple(line.split("\t")) for line in out.splitlines()}  # type: ignore[misc]


def test_dpkg_equals_dpkg_query(bookworm: tuple[Path, Path]) -> None:
    rootfs, layer = bookworm
    inv = scan([layer])
    truth = _dpkg_query(rootfs)
    ours = {(p.name, p.version, p.arch, p.source_name, p.source_version) for p in inv.packages}
    assert len(truth) > 50
    assert ours == truth
    assert inv.os is not None
    assert (inv.os.family, inv.os.version, inv.os.codename) == ("debian", "12", "bookworm")
    assert {p.ecosystem for p in inv.packages} == {Ecosystem.DEBIAN}
    libc = next(p for p in inv.packages if p.name == "libc6")
    purl = PackageURL.from_string(libc.purl)
    assert (purl.type, purl.namespace, purl.name, purl.version) == ("deb", "debian", "libc6", libc.version)
    assert purl.qualifiers == {"arch": "amd64", "distro": "debian-12"}
    assert "LGPL-2.1-only" in libc.licenses or "LGPL-2.1-or-later" in libc.licenses
    # Nearly every Debian package ships a copyright file naming its license.
    with_license = [p for p in inv.packages if p.licenses]
    assert len(with_license) >= 0.97 * len(inv.packages)
    by_name = {p.name: p for p in inv.packages}
    # Prose-only copyright file ("GNU Lesser General Public\nLicense, version 2.1 (or, at your option...").
    assert by_name["libcrypt1"].licenses == ("LGPL-2.1-or-later",)
    # usr/share/doc/libgcc-s1 is a symlink to gcc-12-base: same copyright file.
    assert by_name["libgcc-s1"].licenses == by_name["gcc-12-base"].licenses != ()


def test_files_report_equals_find(bookworm: tuple[Path, Path]) -> None:
    rootfs, layer = bookworm
    inv = scan([layer], ALL_ANALYZERS)
    want: dict[str, str] = {}
    for dirpath, _dirs, names in os.walk(rootfs):
        for n in names:
            full = Path(dirpath) / n
            st = full.lstat()
            rel = str(full.relative_to(rootfs))
            if not stat.S_ISREG(st.st_mode):
                continue
            m = st.st_mode
            kind = (
                SETUID
                if m & 0o4000
                else SETGID
                if m & 0o2000
                else WORLD_WRITABLE
                if m & 0o002
                else EXECUTABLE
                if m & 0o111
                else ""
            )
            if kind:
                want[rel] = kind
    got = {f.path: f.file_type for f in inv.files}
    assert got == want
    assert {SETUID, EXECUTABLE} <= set(got.values())
    for rec in inv.files:
        if rec.file_type in (SETUID, SETGID) or rec.path in ("usr/bin/dpkg", "usr/bin/bash"):
            data = (rootfs / rec.path).read_bytes()
            assert rec.sha256 == hashlib.sha256(data).hexdigest(), rec.path
            assert rec.size == len(data)
            assert rec.mode == (rootfs / rec.path).lstat().st_mode & 0o7777


def test_later_layer_removes_package(bookworm: tuple[Path, Path]) -> None:
    """`apt-get purge` in a later layer rewrites `status`: the package is gone, the rest keep layer 1."""
    rootfs, layer = bookworm
    status = (rootfs / "var/lib/dpkg/status").read_text()
    stanzas = status.strip("\n").split("\n\n")
    victim = next(s for s in stanzas if s.startswith("Package: e2fsprogs\n"))
    upper = tar_of(
        [("var/lib/dpkg/status", ("\n\n".join(s for s in stanzas if s is not victim) + "\n").encode())]
    )
    inv = scan([layer, upper])
    names = {p.name for p in inv.packages}
    assert "e2fsprogs" not in names
    assert len(names) == len(stanzas) - 1
    assert {p.layer_digest for p in inv.packages} == {f"sha256:{1:064x}"}


# --- rpm --------------------------------------------------------------------------------------------


def _rpm_qa(dbpath: Path, *extra: str) -> set[tuple[str, ...]]:
    out = subprocess.run(
        ["rpm", *extra, "--dbpath", str(dbpath), "-qa", "--qf", QF],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = {tuple(line.split("\t")) for line in out.splitlines()}
    return {(*r[:5], "" if r[5] == "(none)" else r[5]) for r in rows}


def _ours(db_file: Path, image_path: str) -> set[tuple[str, ...]]:
    from openhss.scan.analyzers.os.rpm import read_rpmdb

    with db_file.open("rb") as f:
        found, problems = read_rpmdb(image_path, f, db_file.stat().st_size)
    assert problems == []
    return {(h.name, h.evr, h.arch, h.sourcerpm, h.license, h.modularity_label) for h, _ in found}


def test_rpm_sqlite_equals_rpm_qa(sqlite_db: Path) -> None:
    truth = _rpm_qa(sqlite_db)
    assert len(truth) == 3
    assert _ours(sqlite_db / "rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite") == truth
    # Through the whole pipeline, with the OS from os-release: Rocky ecosystem, source package split.
    osr = (
        b'ID="rocky"\nVERSION="9.3 (Blue Onyx)"\nVERSION_ID="9.3"\n'
        b'PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n'
    )
    inv = scan(
        [tar_of([("usr/lib/sysimage/rpm/rpmdb.sqlite", sqlite_db / "rpmdb.sqlite"), ("etc/os-release", osr)])]
    )
    assert inv.os == OSInfo("rocky", "9.3", "Rocky Linux 9.3 (Blue Onyx)", "Blue Onyx")
    libs = next(p for p in inv.packages if p.name == "openhss-demo-libs")
    assert (libs.version, libs.source_name, libs.source_version) == (
        "2:1.2.3-4.el9",
        "openhss-demo",
        "2:1.2.3-4.el9",
    )
    assert libs.ecosystem is Ecosystem.ROCKY
    assert libs.purl == "pkg:rpm/rocky/openhss-demo-libs@1.2.3-4.el9?arch=x86_64&distro=rocky-9.3&epoch=2"
    assert libs.licenses == ("Apache-2.0",)
    demo = next(p for p in inv.packages if p.name == "openhss-demo")
    assert demo.licenses == ("GPL-2.0-or-later AND MIT",)


@pytest.mark.parametrize("page_size", [4096, 65536])
def test_rpm_bdb_equals_rpm_qa(sqlite_db: Path, tmp_path: Path, page_size: int) -> None:
    """4 KiB pages put these headers in overflow chains; 64 KiB pages keep them on the hash page."""
    bdb = bdb_from_sqlite(sqlite_db / "rpmdb.sqlite", tmp_path / "bdb", page_size)
    truth = _rpm_qa(bdb.parent, "--define", "_db_backend bdb_ro")
    assert len(truth) == 3
    assert _ours(bdb, "var/lib/rpm/Packages") == truth
    assert truth == _rpm_qa(sqlite_db)


def test_licenses_survive_status_rewrite(bookworm: tuple[Path, Path]) -> None:
    """`apt-get install` in a later layer rewrites `status`; base packages keep their licenses."""
    rootfs, layer = bookworm
    upper = tar_of([("var/lib/dpkg/status", (rootfs / "var/lib/dpkg/status").read_bytes())])
    base = scan([layer])
    inv = scan([layer, upper])
    assert {p.name: p.licenses for p in inv.packages} == {p.name: p.licenses for p in base.packages}
