"""Kylin: deb (desktop) and rpm (server) editions under one ID."""

from __future__ import annotations

from openhss.domain.distros.base import Distro, keep
from openhss.domain.enums import Ecosystem, PackageType

KYLIN = Distro(
    ecosystem=Ecosystem.KYLIN,
    os_ids=("kylin",),
    package_types=(PackageType.DEB, PackageType.RPM),
    purl_namespace="kylin",
    version_scheme="rpm",
    release=keep,
)
