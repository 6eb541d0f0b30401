"""Application packages across layers: upgrades, deletions and rewritten archives fold correctly.

A `pip install -U` in a later layer deletes the old dist-info directory (a whiteout) and writes a new
one; a package removed that way must be gone from the image inventory, and a package a layer merely
keeps must keep the layer that introduced it.
"""

from __future__ import annotations

import io
import tarfile
import zipfile

from openhss.domain.models import Package
from openhss.scan.applier import fold
from openhss.scan.walk import analyze_layer

from .helpers import LANG_ANALYZERS

SITE = "usr/lib/python3/site-packages"


def _metadata(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nLicense: MIT\n\nbody\n".encode()


def _jar(artifact: str, version: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        props = f"groupId=com.example\nartifactId={artifact}\nversion={version}\n"
        zf.writestr(f"META-INF/maven/com.example/{artifact}/pom.properties", props)
    return buf.getvalue()


def _layer(files: dict[str, bytes], whiteouts: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for path, data in [*files.items(), *((w, b"") for w in whiteouts)]:
            ti = tarfile.TarInfo(path)
            ti.size = len(data)
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _inventory(*layers: bytes) -> list[Package]:
    done = [
        analyze_layer(io.BytesIO(raw), "", [a() for a in LANG_ANALYZERS], diff_id=f"sha256:{i:064x}")
        for i, raw in enumerate(layers, 1)
    ]
    return fold(done).packages


def test_upgrade_in_a_later_layer_replaces_the_package() -> None:
    base = _layer(
        {
            f"{SITE}/requests-2.19.1.dist-info/METADATA": _metadata("requests", "2.19.1"),
            f"{SITE}/urllib3-1.24.1.dist-info/METADATA": _metadata("urllib3", "1.24.1"),
            "opt/app/lib/core-1.0.jar": _jar("core", "1.0"),
        }
    )
    upgrade = _layer(
        {
            f"{SITE}/requests-2.31.0.dist-info/METADATA": _metadata("requests", "2.31.0"),
            "opt/app/lib/core-1.0.jar": _jar("core", "1.1"),
        },
        whiteouts=(f"{SITE}/.wh.requests-2.19.1.dist-info",),
    )
    packages = _inventory(base, upgrade)
    got = {(p.name, p.version, p.layer_digest[-1]) for p in packages}
    assert got == {
        ("requests", "2.31.0", "2"),
        ("urllib3", "1.24.1", "1"),
        ("com.example:core", "1.1", "2"),
    }


def test_deleted_node_modules_are_gone() -> None:
    pkg = b'{"name": "lodash", "version": "4.17.4", "license": "MIT"}'
    base = _layer({"app/node_modules/lodash/package.json": pkg})
    cleanup = _layer({}, whiteouts=("app/.wh.node_modules",))
    assert _inventory(base) and _inventory(base, cleanup) == []


def test_lockfile_only_project_reports_its_lockfile() -> None:
    lock = b'{"lockfileVersion": 3, "packages": {"": {"name": "x"}, "node_modules/ms": {"version": "2.1.3"}}}'
    packages = _inventory(_layer({"srv/app/package-lock.json": lock}))
    assert [(p.name, p.version, p.path) for p in packages] == [("ms", "2.1.3", "srv/app/package-lock.json")]
