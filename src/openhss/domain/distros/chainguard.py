"""Chainguard OS (apk)."""

from __future__ import annotations

from openhss.domain.distros.base import Distro, major_minor
from openhss.domain.enums import Ecosystem, PackageType

CHAINGUARD = Distro(
    ecosystem=Ecosystem.CHAINGUARD,
    os_ids=("chainguard",),
    package_types=(PackageType.APK,),
    purl_namespace="chainguard",
    version_scheme="apk",
    release=major_minor,
)
