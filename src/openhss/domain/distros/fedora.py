"""Fedora."""

from __future__ import annotations

from openhss.domain.distros.base import Distro, major
from openhss.domain.enums import Ecosystem, PackageType

FEDORA = Distro(
    ecosystem=Ecosystem.FEDORA,
    os_ids=("fedora",),
    package_types=(PackageType.RPM,),
    purl_namespace="fedora",
    version_scheme="rpm",
    release=major,
)
