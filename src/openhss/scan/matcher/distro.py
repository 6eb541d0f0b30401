"""OS packages: looked up by source package (what distro advisories name) and binary name, per release."""

from __future__ import annotations

from typing import ClassVar

from openhss.domain.advisory import normalize_name, normalize_release
from openhss.domain.enums import Ecosystem
from openhss.domain.models import OSInfo, Package
from openhss.scan.matcher.base import LookupKey, Matcher

_FAMILY = {
    "debian": Ecosystem.DEBIAN,
    "ubuntu": Ecosystem.UBUNTU,
    "alpine": Ecosystem.ALPINE,
    "wolfi": Ecosystem.WOLFI,
    "chainguard": Ecosystem.CHAINGUARD,
    "rhel": Ecosystem.REDHAT,
    "centos": Ecosystem.CENTOS,
    "rocky": Ecosystem.ROCKY,
    "almalinux": Ecosystem.ALMALINUX,
    "openeuler": Ecosystem.OPENEULER,
    "sles": Ecosystem.SUSE,
    "opensuse-leap": Ecosystem.OPENSUSE,
}


def os_release(ecosystem: Ecosystem, os: OSInfo) -> str:
    """The store's release key for an image: Debian testing/sid have no VERSION_ID, only a codename."""
    raw = os.version or os.codename
    if ecosystem is Ecosystem.OPENEULER and os.name and "(" in os.name:
        raw = f"{os.version}-{os.name.split('(', 1)[1]}"
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
