"""The restamp's string edit of a purl (`_restamped`) gives exactly what packageurl's parse → replace →
serialise gives, on the purls the OS analyzers really write (the peer-fixture golden files) and on
spellings chosen to break a naive edit; what it cannot edit exactly it declines (None)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openhss.domain.distros.registry import BY_OS_ID
from openhss.scan.analyzers.os.restamp import _purl_of, _restamped

GOLDEN = Path(__file__).resolve().parent.parent / "analyzers_os" / "golden"


def _slow(purl: str, namespace: str, distro: str) -> str:
    return _purl_of.__wrapped__(purl, "", "", "", "", namespace, distro)


def _purls_in(doc: object, found: set[str]) -> None:
    if isinstance(doc, dict):
        purl = doc.get("purl")
        if isinstance(purl, str) and purl:
            found.add(purl)
        for value in doc.values():
            _purls_in(value, found)
    elif isinstance(doc, list):
        for value in doc:
            _purls_in(value, found)


def _golden_purls() -> list[str]:
    found: set[str] = set()
    for path in sorted(GOLDEN.glob("*.json")):
        _purls_in(json.loads(path.read_text()), found)
    return sorted(found)


#: Each distro's purl namespace and a release-qualified `distro` value, as restamp_os_packages makes them.
TARGETS = sorted({(d.purl_namespace, f"{os_id}-1.2") for os_id, d in BY_OS_ID.items()} | {("debian", "x y")})


def test_golden_purls_are_edited_exactly() -> None:
    purls = _golden_purls()
    assert len(purls) > 200  # deb, rpm and apk from three peers' fixtures
    edited = 0
    for purl in purls:
        for namespace, distro in TARGETS:
            fast = _restamped(purl, namespace, distro)
            if fast is not None:
                edited += 1
                assert fast == _slow(purl, namespace, distro), (purl, namespace, distro)
    assert edited > 0.9 * len(purls) * len(TARGETS)  # the edit is the common path, not the exception


@pytest.mark.parametrize(
    "purl",
    [
        "pkg:deb/debian/bash@5.2.15-2%2Bb13?arch=amd64&epoch=1",
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-11",
        "pkg:rpm/redhat/openssl@1.1.1k-7.el8_6?arch=x86_64&epoch=1",
        "pkg:rpm/fedora/NetworkManager@1.0:2?arch=x86_64",
        "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64",
        "pkg:apk/alpine/Musl@1.2.4-r2?arch=x86_64",  # packageurl lower-cases apk names
        "pkg:deb/debian/bash@5.2%2bb1?arch=amd64",  # lower-case escape: packageurl re-encodes it
        "pkg:deb/debian/bash@5.2%41?arch=amd64",  # an escaped unreserved character
        "pkg:deb/debian/bash@5.2%20?arch=amd64",  # an escaped space, which packageurl strips
        "pkg:deb/debian/bash@5.2?epoch=1&arch=amd64",  # qualifiers out of order
        "pkg:deb/debian/bash@5.2?Arch=amd64",
        "pkg:deb/debian/bash@5.2?arch=",
        "pkg:deb/debian/bash@5.2",
        "pkg:deb/debian/bash@5.2#sub/path",
        "pkg:deb/bash@5.2?arch=amd64",
        "pkg:deb/a/b/bash@5.2?arch=amd64",
        "pkg:DEB/debian/bash@5.2?arch=amd64",
        "pkg:npm/debian/bash@5.2?arch=amd64",
        "pkg:deb/debian/bash@5.2?arch=amd64&distro=debian-12",
        "pkg:deb/debian/b%C3%A9@1?arch=amd64",
    ],
)
@pytest.mark.parametrize(("namespace", "distro"), [("debian", "debian-12"), ("ubuntu", "ubuntu-22.04")])
def test_edit_is_exact_or_declined(purl: str, namespace: str, distro: str) -> None:
    fast = _restamped(purl, namespace, distro)
    if fast is not None:
        assert fast == _slow(purl, namespace, distro)


def test_edit_declines_what_it_cannot_do_exactly() -> None:
    for purl in (
        "pkg:apk/alpine/Musl@1.2.4-r2?arch=x86_64",
        "pkg:deb/debian/bash@5.2%2bb1?arch=amd64",
        "pkg:deb/debian/bash@5.2%20?arch=amd64",
        "pkg:deb/debian/bash@5.2?epoch=1&arch=amd64",
        "pkg:deb/debian/bash@5.2#sub/path",
    ):
        assert _restamped(purl, "debian", "debian-12") is None, purl
    assert _restamped("pkg:deb/debian/bash@5.2", "ubuntu", "ubuntu-22.04") == (
        "pkg:deb/ubuntu/bash@5.2?distro=ubuntu-22.04"
    )
