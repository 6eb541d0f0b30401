"""Rocky Linux."""

from __future__ import annotations

from openhss.domain.distros.base import Distro, major
from openhss.domain.enums import Ecosystem, PackageType

ROCKY = Distro(
    ecosystem=Ecosystem.ROCKY,
    os_ids=("rocky",),
    package_types=(PackageType.RPM,),
    purl_namespace="rocky",
    version_scheme="rpm",
    release=major,
)
