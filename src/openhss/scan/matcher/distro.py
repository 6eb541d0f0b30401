"""OS packages: looked up by source package (what distro advisories name) and binary name, per release."""

from __future__ import annotations

from typing import ClassVar

from openhss.domain.advisory import normalize_name, normalize_release
from openhss.domain.distros.registry import BY_OS_ID_FOLDED
from openhss.domain.enums import Ecosystem
from openhss.domain.models import OSInfo, Package
from openhss.scan.matcher.base import LookupKey, Matcher

#: os-release ID (lower-cased) → ecosystem, from the distro descriptors (`domain/distros/`).
_FAMILY = {os_id: d.ecosystem for os_id, d in BY_OS_ID_FOLDED.items()}


#: os-release ID → the product words OSV's SUSE/openSUSE ecosystem names use before the version.
_SUSE_PRODUCTS = {
    "sles": "linux enterprise server",
    "sled": "linux enterprise desktop",
    "sles_sap": "linux enterprise server for sap applications",
    "sle-micro": "linux enterprise micro",
    "sle-micro-rancher": "linux enterprise micro",
    "sl-micro": "linux micro",
    "opensuse-leap": "leap",
    "opensuse-leap-micro": "leap micro",
    "opensuse-tumbleweed": "tumbleweed",
}


def os_release(ecosystem: Ecosystem, os: OSInfo) -> str:
    """The store's release key for an image, spelled so that `normalize_release` of the OSV ecosystem
    suffix (`openEuler:22.03-LTS-SP1`, `SUSE:Linux Enterprise Server 15 SP3`, `openSUSE:Leap 15.5`)
    gives the same key. Debian testing/sid have no VERSION_ID, only a codename."""
    raw = os.version or os.codename
    if ecosystem is Ecosystem.OPENEULER:
        # VERSION_ID is `22.03`; the LTS/SP stream is only in VERSION/PRETTY_NAME: `22.03 (LTS-SP1)`
        stream = os.codename or (os.name.split("(", 1)[1] if "(" in os.name else "")
        raw = f"{os.version}-{stream}" if stream and os.version else raw
    elif ecosystem in (Ecosystem.SUSE, Ecosystem.OPENSUSE):
        raw = f"{_SUSE_PRODUCTS.get(os.family.lower(), '')} {raw}".strip()
    return normalize_release(ecosystem, raw)


class OsMatcher(Matcher):
    name: ClassVar[str] = "os"

    def handles(self, package: Package) -> bool:
        return package.type.is_os

    def keys(self, package: Package, os: OSInfo | None) -> list[LookupKey]:
        if os is None:
            return []
        eco = package.ecosystem
        if eco is Ecosystem.UNKNOWN:
            eco = _FAMILY.get(os.family.lower(), Ecosystem.UNKNOWN)
        if eco is Ecosystem.UNKNOWN:
            return []
        release = os_release(eco, os)
        out: list[LookupKey] = []
        if package.source_name:
            # distro feeds are keyed by source package and give source versions (binNMUs add +bN)
            out.append(LookupKey(eco, release, normalize_name(eco, package.source_name),
                                 package.source_version or package.version))  # fmt: skip
        if package.name != package.source_name:
            out.append(LookupKey(eco, release, normalize_name(eco, package.name), package.version))
        return out
