"""Huawei Cloud EulerOS."""

from __future__ import annotations

from openhss.domain.distros.base import Distro, keep
from openhss.domain.enums import Ecosystem, PackageType

HCE = Distro(
    ecosystem=Ecosystem.HCE,
    os_ids=("hce",),
    package_types=(PackageType.RPM,),
    purl_namespace="hce",
    version_scheme="rpm",
    release=keep,
)
