"""openSUSE Leap, Leap Micro and Tumbleweed."""

from __future__ import annotations

import re

from openhss.domain.distros.base import Distro
from openhss.domain.enums import Ecosystem, PackageType


def release(low: str) -> str:
    """`Leap 15.5` → `15.5` (a beta's `15.2.1` → `15.2`), `Leap Micro 5.5` → `leap-micro:5.5`,
    `Tumbleweed` (rolling) → `tumbleweed`."""
    if "tumbleweed" in low:
        return "tumbleweed"
    m = re.search(r"\d+\.\d+", low)
    if not m:
        return low
    return f"leap-micro:{m.group(0)}" if "micro" in low else m.group(0)


OPENSUSE = Distro(
    ecosystem=Ecosystem.OPENSUSE,
    os_ids=("opensuse-leap", "opensuse-leap-micro", "opensuse-tumbleweed"),
    package_types=(PackageType.RPM,),
    purl_namespace="opensuse",
    version_scheme="rpm",
    release=release,
)
