"""UnionTech OS (deb)."""

from __future__ import annotations

from openhss.domain.distros.base import Distro, keep
from openhss.domain.enums import Ecosystem, PackageType

UOS = Distro(
    ecosystem=Ecosystem.UOS,
    os_ids=("uos",),
    package_types=(PackageType.DEB,),
    purl_namespace="uos",
    version_scheme="dpkg",
    release=keep,
)
