"""Re-stamp OS packages once the distribution is known (the applier's `OsRestamper`).

A dpkg database looks the same on Debian, Ubuntu and UOS, and apk's on Alpine, Wolfi and Chainguard;
which advisories apply (the OSV ecosystem) and the purl namespace follow from the OS, which may even
be detected in a different layer than the package database. So the package analyzers stamp a default
and this pass, run after the fold, sets the right ecosystem and purl `distro` qualifier.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from functools import lru_cache

from packageurl import PackageURL, normalize_namespace, quote

from openhss.domain.distros.registry import BY_OS_ID
from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import OSInfo, Package

#: os-release ID → (package type the distro uses, OSV ecosystem, purl namespace), from the descriptors.
DISTROS: dict[str, tuple[PackageType, Ecosystem, str]] = {
    os_id: (d.package_types[0], d.ecosystem, d.purl_namespace)
    for os_id, d in BY_OS_ID.items()
    if len(d.package_types) == 1
}
#: Distros shipping several package formats under one ID (Kylin: deb desktop, rpm server).
_BOTH = {os_id: (d.ecosystem, d.purl_namespace) for os_id, d in BY_OS_ID.items() if len(d.package_types) > 1}


def distro_qualifier(os: OSInfo) -> str:
    return f"{os.family}-{os.version}" if os.version else os.family


#: One purl segment already in packageurl's canonical encoding: unreserved characters, `:` (which it
#: leaves bare) and upper-case escapes of printable ASCII it would escape again. Decoding and
#: re-encoding such a segment gives it back unchanged, which is what lets `_restamped` edit the string.
_SEG = r"(?:[A-Za-z0-9._~:-]|%(?:2[1-9A-C]|3[B-F]|40|5[BCDE]|60|7[BCD]))+"
_CANONICAL = re.compile(
    rf"pkg:(?P<type>deb|rpm|apk|alpm)/{_SEG}/(?P<name>{_SEG})@(?P<version>{_SEG})"
    rf"(?:\?(?P<quals>[a-z][a-z0-9._-]*={_SEG}(?:&[a-z][a-z0-9._-]*={_SEG})*))?"
)


@lru_cache(maxsize=256)
def _namespace(ptype: str, namespace: str) -> str | None:
    return normalize_namespace(namespace, ptype)


def _restamped(purl: str, namespace: str, distro: str) -> str | None:
    """`purl` with its namespace and `distro` qualifier replaced, by editing the string; None unless the
    purl is in the canonical form packageurl writes (what every analyzer and the layer cache hold).

    Parsing and re-serialising a purl with packageurl costs ~0.1 ms; a cached rescan restamps every OS
    package of the image (hundreds) and each is a different string, so memoising cannot help within one
    run. For a canonical purl the parse-normalise-serialise round trip changes nothing but the two
    edited parts, so the edit is exact (tests/scan/test_restamp_purl.py compares both on real images)."""
    m = _CANONICAL.fullmatch(purl)
    if m is None:
        return None
    ptype, name = m["type"], m["name"]
    if ptype in ("apk", "alpm") and name != name.lower():
        return None  # packageurl lower-cases these names
    ns = _namespace(ptype, namespace)
    if not ns or "/" in ns:
        return None
    pairs = dict(kv.partition("=")[::2] for kv in m["quals"].split("&")) if m["quals"] else {}
    if list(pairs) != sorted(pairs):
        return None
    pairs["distro"] = quote(distro)
    quals = "&".join(f"{k}={v}" for k, v in sorted(pairs.items()))
    return f"pkg:{ptype}/{ns}/{name}@{m['version']}?{quals}"


def _purl(pkg: Package, namespace: str, distro: str) -> str:
    if pkg.purl:
        edited = _restamped(pkg.purl, namespace, distro)
        if edited is not None:
            return edited
    return _purl_of(pkg.purl, pkg.type.value, pkg.name, pkg.version, pkg.arch, namespace, distro)


# Every scan restamps every OS package, and a fleet repeats the same packages image after image: parsing
# and re-serialising purls was most of a fully cached rescan. The result depends only on these strings.
@lru_cache(maxsize=1 << 16)
def _purl_of(purl: str, ptype: str, name: str, version: str, arch: str, namespace: str, distro: str) -> str:
    if purl:
        try:
            old = PackageURL.from_string(purl)
        except ValueError:
            old = None
        if old is not None:
            quals = dict(old.qualifiers) if isinstance(old.qualifiers, dict) else {}
            quals["distro"] = distro
            return PackageURL(
                type=old.type, namespace=namespace, name=old.name, version=old.version, qualifiers=quals
            ).to_string()
    from openhss.scan.analyzers.os.dpkg import split_epoch  # the dpkg analyzer: not loaded on edited purls

    quals = {"arch": arch} if arch else {}
    epoch, plain = split_epoch(version)
    if epoch:
        quals["epoch"] = epoch
    quals["distro"] = distro
    return PackageURL(type=ptype, namespace=namespace, name=name, version=plain, qualifiers=quals).to_string()


def restamp_os_packages(packages: Sequence[Package], os: OSInfo) -> list[Package]:
    """Set ecosystem and purl of OS packages from the detected OS; other packages pass unchanged."""
    distro = distro_qualifier(os)
    known = DISTROS.get(os.family)
    out: list[Package] = []
    for pkg in packages:
        if not pkg.type.is_os:
            out.append(pkg)
            continue
        if known is not None and known[0] is pkg.type:
            eco, ns = known[1], known[2]
        elif os.family in _BOTH and pkg.type in BY_OS_ID[os.family].package_types:
            eco, ns = _BOTH[os.family]
        else:
            # Packages of a foreign format (an rpmdb inside a Debian image): not this distro's to vouch for.
            out.append(pkg)
            continue
        out.append(dataclasses.replace(pkg, ecosystem=eco, purl=_purl(pkg, ns, distro)))
    return out
