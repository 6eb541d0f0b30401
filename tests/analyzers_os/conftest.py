"""rpm databases written by Debian's real `rpm` from packages built with `rpmbuild` (~1 s in all)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

SPEC = """\
Name: openhss-demo
Epoch: 2
Version: 1.2.3
Release: 4.el9
Summary: demo
License: GPLv2+ and MIT
ModularityLabel: nodejs:10:8020020200707141642:6a468ee4
%description
demo
%package libs
Summary: demo libs
License: ASL 2.0
%description libs
libs
%install
mkdir -p %{buildroot}/usr/share/openhss-demo %{buildroot}/usr/lib/openhss-demo
echo demo > %{buildroot}/usr/share/openhss-demo/README
echo lib > %{buildroot}/usr/lib/openhss-demo/lib.txt
%files
/usr/share/openhss-demo/README
%files libs
/usr/lib/openhss-demo/lib.txt
"""

SPEC_TINY = """\
Name: tiny
Version: 0.1
Release: 1
Summary: tiny
License: MIT
BuildArch: noarch
%description
t
%files
"""

QF = (
    "%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\t%{LICENSE}"
    "\\t%{MODULARITYLABEL}\\n"
)


def _need(*tools: str) -> None:
    for t in tools:
        if shutil.which(t) is None:
            pytest.skip(f"{t} is not installed (scripts/test-debs.txt lists it)")


@pytest.fixture(scope="session")
def rpms(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    _need("rpmbuild", "rpm")
    top = tmp_path_factory.mktemp("rpmbuild")
    (top / "SPECS").mkdir()
    for name, spec in (("demo", SPEC), ("tiny", SPEC_TINY)):
        (top / "SPECS" / f"{name}.spec").write_text(spec)
        subprocess.run(
            [
                "rpmbuild",
                "--define",
                f"_topdir {top}",
                "--define",
                "_build_id_links none",
                "-bb",
                f"SPECS/{name}.spec",
            ],
            cwd=top,
            capture_output=True,
            check=True,
        )
    return sorted((top / "RPMS").rglob("*.rpm"))


@pytest.fixture(scope="session")
def sqlite_db(rpms: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("rpmdb-sqlite")
    subprocess.run(["rpm", "--dbpath", str(db), "--initdb"], check=True, capture_output=True)
    subprocess.run(
        [
            "rpm",
            "--dbpath",
            str(db),
            "-ivh",
            "--nodeps",
            "--justdb",
            "--noscripts",
            "--ignorearch",
            "--ignoreos",
        ]
        + [str(r) for r in rpms],
        check=True,
        capture_output=True,
    )
    return db


def bdb_from_sqlite(sqlite_file: Path, out_dir: Path, page_size: int) -> Path:
    """The research recipe: header blobs keyed by native-endian hnum, plus key 0 → next instance."""
    _need("db5.3_load")
    conn = sqlite3.connect(sqlite_file)
    rows = conn.execute("SELECT hnum, blob FROM Packages ORDER BY hnum").fetchall()
    conn.close()

    def esc(b: bytes) -> str:
        return " " + "".join(f"\\{x:02x}" for x in b)

    lines = ["VERSION=3", "format=print", "type=hash", f"db_pagesize={page_size}", "HEADER=END"]
    nxt = max(h for h, _ in rows) + 1
    lines += [esc((0).to_bytes(4, "little")), esc(nxt.to_bytes(4, "little"))]
    for hnum, blob in rows:
        lines += [esc(int(hnum).to_bytes(4, "little")), esc(bytes(blob))]
    lines.append("DATA=END")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "Packages"
    subprocess.run(
        ["db5.3_load", "-t", "hash", str(target)], input="\n".join(lines) + "\n", text=True, check=True
    )
    return target
