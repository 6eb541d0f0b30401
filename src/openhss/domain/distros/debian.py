"""Debian: releases are numbers and codenames; advisories use either."""

from __future__ import annotations

from types import MappingProxyType

from openhss.domain.distros.base import Distro
from openhss.domain.enums import Ecosystem, PackageType

#: Codename → release number (what OSV and the Debian tracker key on); `debian_version` has only numbers.
CODENAMES = MappingProxyType(
    {
        "buzz": "1.1",
        "hamm": "2",
        "potato": "2.2",
        "woody": "3",
        "sarge": "3.1",
        "etch": "4",
        "lenny": "5",
        "squeeze": "6",
        "wheezy": "7",
        "jessie": "8",
        "stretch": "9",
        "buster": "10",
        "bullseye": "11",
        "bookworm": "12",
        "trixie": "13",
        "forky": "14",
        "duke": "15",
        "sid": "unstable",
        "unstable": "unstable",
    }
)


def release(low: str) -> str:
    """Codename or number → major number (`bookworm`, `12.5` → `12`)."""
    if low in CODENAMES:
        return CODENAMES[low]
    return low.split(".", 1)[0] if low[:1].isdigit() else low


_BY_NUMBER = MappingProxyType({num: name for name, num in CODENAMES.items() if num.isdigit()})


def codename_of(number: str) -> str:
    """Release number (`12`, `12.5`) → codename (`bookworm`); "" when unknown."""
    return _BY_NUMBER.get(number.split(".", 1)[0], "")


DEBIAN = Distro(
    ecosystem=Ecosystem.DEBIAN,
    os_ids=("debian",),
    package_types=(PackageType.DEB,),
    purl_namespace="debian",
    version_scheme="dpkg",
    release=release,
)
