"""The walker's dispatch index never hides a member from an analyzer that wants it.

Property, over the members of a real Debian root filesystem plus a layer of language-ecosystem files:
for every member and every analyzer, `wants` is true only when the analyzer's declared `interest`
admits the member (index ⊇ wants), so `Dispatch.wanting` returns exactly the analyzers whose `wants`
is true, in their order. A second set of analyzer instances that saw only the dispatched `wants` calls
must end the layer in the same state as one asked about everything: a `wants` with side effects on
members its interest rejects would show up as a different `finish`.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

from openhss.scan.analyzers.base import Analyzer, FileEntry
from openhss.scan.analyzers.registry import all_analyzers
from openhss.scan.layers import LayerReader
from openhss.scan.walk import Dispatch
from tests.support.rootfs import debootstrap_rootfs

#: Members each picky analyzer must be offered (and a few look-alikes it must decline).
EXTRAS: dict[str, bytes] = {
    "app/node_modules/left-pad/package.json": b'{"name": "left-pad", "version": "1.3.0"}',
    "app/package-lock.json": b'{"lockfileVersion": 3, "packages": {}}',
    "app/node_modules/x/package-lock.json": b"{}",
    "app/yarn.lock": b"",
    "srv/Cargo.lock": b'[[package]]\nname = "serde"\nversion = "1.0.0"\n',
    "srv/not-Cargo.lock": b"",
    "usr/lib/python3/dist-packages/idna-3.3.dist-info/METADATA": b"Name: idna\nVersion: 3.3\n",
    "usr/lib/python3/dist-packages/x.egg-info/PKG-INFO": b"Name: x\nVersion: 1\n",
    "app/requirements.txt": b"flask==2.0.0\n",
    "opt/lib/app.jar": b"PK\x05\x06" + bytes(18),
    "opt/lib/APP.WAR": b"PK\x05\x06" + bytes(18),
    "var/lib/gems/3.1.0/specifications/rack-2.2.3.gemspec": b"Gem::Specification.new do |s|\nend\n",
    "app/Gemfile.lock": b"GEM\n  specs:\n    rack (2.2.3)\n",
    "app/vendor/composer/installed.json": b'{"packages": []}',
    "app/composer.lock": b'{"packages": []}',
    "app/bin/app.deps.json": b"{}",
    "app/packages.lock.json": b"{}",
    "lib/apk/db/installed": b"P:musl\nV:1.2.3-r0\n\n",
    "var/lib/rpm/rpmdb.sqlite": b"SQLite format 3\x00",
    "etc/redhat-release": b"Red Hat Enterprise Linux release 9.2 (Plow)\n",
}


#: Header-only cases of the mode and cache checks: (path, mode, tar type, link target).
ODD_MODES: list[tuple[str, int, bytes, str]] = [
    ("app/bin/escalate", 0o4755, tarfile.REGTYPE, ""),
    ("app/bin/group-tool", 0o2711, tarfile.REGTYPE, ""),
    ("app/data/shared.txt", 0o666, tarfile.REGTYPE, ""),
    ("usr/local/share/notes.txt", 0o646, tarfile.REGTYPE, ""),
    ("app/bin/escalate-again", 0o4755, tarfile.LNKTYPE, "app/bin/escalate"),
    ("app/bin/plain-link", 0o644, tarfile.LNKTYPE, "app/data/shared.txt"),
    ("var/cache/apt/archives/curl_8.0_amd64.deb", 0o644, tarfile.REGTYPE, ""),
    ("root/.cache/pip", 0o755, tarfile.DIRTYPE, ""),
    ("tmp/drop", 0o1777, tarfile.DIRTYPE, ""),
    ("app/world", 0o777, tarfile.DIRTYPE, ""),
]


def _layer(root: Path) -> bytes:
    """The root filesystem as one tar layer, with `EXTRAS`, a big executable and maven-repo links."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(root, arcname=".")
        for name, data in EXTRAS.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        for name, mode, kind, target in ODD_MODES:
            info = tarfile.TarInfo(name)
            info.mode, info.type, info.linkname = mode, kind, target
            data = b"#!/bin/sh\n" if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        big = tarfile.TarInfo("usr/local/bin/service")
        big.size, big.mode = 70 * 1024, 0o755
        tar.addfile(big, io.BytesIO(b"\x7fELF" + bytes(big.size - 4)))
        repo = "usr/share/maven-repo/org/slf4j/slf4j-api"
        for link in (f"{repo}/1.7.36/slf4j-api-1.7.36.jar", f"{repo}/debian/slf4j-api-debian.jar"):
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, "../../../../java/slf4j-api.jar"
            tar.addfile(info)
    return buf.getvalue()


def _entries(layer: bytes) -> Iterator[FileEntry]:
    for entry, member in LayerReader(io.BytesIO(layer), ""):
        if member is not None:
            member.read()
        yield entry


def _fresh() -> list[Analyzer]:
    return [cls() for cls in all_analyzers()]


def test_dispatch_asks_exactly_the_analyzers_that_want_a_member() -> None:
    layer = _layer(debootstrap_rootfs())
    everyone, dispatched = _fresh(), _fresh()
    dispatch = Dispatch(dispatched)
    members = 0
    admitted = dict.fromkeys((a.name for a in everyone), 0)
    wanted: dict[str, int] = dict.fromkeys(admitted, 0)
    for entry in _entries(layer):
        members += 1
        asked = [a for a in everyone if a.wants(entry)]
        for a in everyone:
            if a.interest.admits(entry.path, entry.mode):
                admitted[a.name] += 1
        for a in asked:
            wanted[a.name] += 1
            assert a.interest.admits(entry.path, entry.mode), f"{a.name} wants {entry.path}, not admitted"
        assert [a.name for a in dispatch.wanting(entry)] == [a.name for a in asked], entry.path
    assert members > 5000
    # Every picky analyzer was offered something of this layer, and wanted it.
    for name in ("os-release", "dpkg", "apk", "rpm", "lang-python", "lang-node", "lang-java", "lang-rust"):
        assert wanted[name] > 0, name
    for name in ("lang-gobinary", "lang-ruby", "lang-php", "lang-dotnet", "files", "baseline-files"):
        assert wanted[name] > 0, name
    # ... and the index spared it the bulk of the members (what makes the walk cheaper).
    rare = ("os-release", "apk", "rpm", "lang-python", "lang-node", "lang-ruby", "lang-php", "lang-dotnet")
    for name in rare:
        assert admitted[name] < members // 100, (name, admitted[name], members)
    for a, b in zip(everyone, dispatched, strict=True):
        assert a.finish() == b.finish(), a.name
