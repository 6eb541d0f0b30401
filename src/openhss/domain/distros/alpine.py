"""Alpine Linux."""

from __future__ import annotations

from openhss.domain.distros.base import Distro, major_minor
from openhss.domain.enums import Ecosystem, PackageType

ALPINE = Distro(
    ecosystem=Ecosystem.ALPINE,
    os_ids=("alpine",),
    package_types=(PackageType.APK,),
    purl_namespace="alpine",
    version_scheme="apk",
    release=major_minor,
)
