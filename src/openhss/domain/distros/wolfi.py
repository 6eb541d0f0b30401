"""Wolfi (rolling; apk)."""

from __future__ import annotations

from openhss.domain.distros.base import Distro, major_minor
from openhss.domain.enums import Ecosystem, PackageType

WOLFI = Distro(
    ecosystem=Ecosystem.WOLFI,
    os_ids=("wolfi",),
    package_types=(PackageType.APK,),
    purl_namespace="wolfi",
    version_scheme="apk",
    release=major_minor,
)
