"""Amazon Linux."""

from __future__ import annotations

from openhss.domain.distros.base import Distro, major
from openhss.domain.enums import Ecosystem, PackageType

AMAZON = Distro(
    ecosystem=Ecosystem.AMAZON,
    os_ids=("amzn",),
    package_types=(PackageType.RPM,),
    purl_namespace="amazon",
    version_scheme="rpm",
    release=major,
)
