"""EulerOS."""

from __future__ import annotations

from openhss.domain.distros.base import Distro, keep
from openhss.domain.enums import Ecosystem, PackageType

EULEROS = Distro(
    ecosystem=Ecosystem.EULEROS,
    os_ids=("euleros",),
    package_types=(PackageType.RPM,),
    purl_namespace="euleros",
    version_scheme="rpm",
    release=keep,
)
