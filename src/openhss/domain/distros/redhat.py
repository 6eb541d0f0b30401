"""Red Hat Enterprise Linux."""

from __future__ import annotations

from openhss.domain.distros.base import Distro, major
from openhss.domain.enums import Ecosystem, PackageType

REDHAT = Distro(
    ecosystem=Ecosystem.REDHAT,
    os_ids=("rhel",),
    package_types=(PackageType.RPM,),
    purl_namespace="redhat",
    version_scheme="rpm",
    release=major,
)
