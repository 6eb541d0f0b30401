"""AlmaLinux."""

from __future__ import annotations

from openhss.domain.distros.base import Distro, major
from openhss.domain.enums import Ecosystem, PackageType

ALMALINUX = Distro(
    ecosystem=Ecosystem.ALMALINUX,
    os_ids=("almalinux",),
    package_types=(PackageType.RPM,),
    purl_namespace="almalinux",
    version_scheme="rpm",
    release=major,
)
