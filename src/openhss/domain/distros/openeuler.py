"""openEuler."""

from __future__ import annotations

import re

from openhss.domain.distros.base import Distro
from openhss.domain.enums import Ecosystem, PackageType


def release(low: str) -> str:
    """`22.03 (LTS-SP1)` → `22.03-lts-sp1`, the spelling of openEuler's advisories."""
    return re.sub(r"[\s()]+", "-", low).strip("-")


OPENEULER = Distro(
    ecosystem=Ecosystem.OPENEULER,
    os_ids=("openEuler",),
    package_types=(PackageType.RPM,),
    purl_namespace="openeuler",
    version_scheme="rpm",
    release=release,
)
