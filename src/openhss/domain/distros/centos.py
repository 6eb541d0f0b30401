"""CentOS."""

from __future__ import annotations

from openhss.domain.distros.base import Distro, major
from openhss.domain.enums import Ecosystem, PackageType

CENTOS = Distro(
    ecosystem=Ecosystem.CENTOS,
    os_ids=("centos",),
    package_types=(PackageType.RPM,),
    purl_namespace="centos",
    version_scheme="rpm",
    release=major,
)
