"""Oracle Linux."""

from __future__ import annotations

from openhss.domain.distros.base import Distro, major
from openhss.domain.enums import Ecosystem, PackageType

ORACLE = Distro(
    ecosystem=Ecosystem.ORACLE,
    os_ids=("ol",),
    package_types=(PackageType.RPM,),
    purl_namespace="oracle",
    version_scheme="rpm",
    release=major,
)
