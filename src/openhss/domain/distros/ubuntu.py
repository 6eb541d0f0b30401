"""Ubuntu."""

from __future__ import annotations

import re

from openhss.domain.distros.base import Distro
from openhss.domain.enums import Ecosystem, PackageType


def release(low: str) -> str:
    """`22.04` (`Ubuntu:22.04:LTS` → `22.04`); Ubuntu Pro/ESM streams keep a `pro:` prefix so their
    `+esm` fixes are not offered to plain images."""
    parts = [p for p in low.split(":") if p]
    prefix = "pro:" if "pro" in parts else ""
    m = re.search(r"\d+\.\d+", low)
    return prefix + (m.group(0) if m else low)


UBUNTU = Distro(
    ecosystem=Ecosystem.UBUNTU,
    os_ids=("ubuntu",),
    package_types=(PackageType.DEB,),
    purl_namespace="ubuntu",
    version_scheme="dpkg",
    release=release,
)
