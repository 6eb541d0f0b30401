"""SUSE Linux Enterprise (Server, Desktop, Micro)."""

from __future__ import annotations

import re

from openhss.domain.distros.base import Distro
from openhss.domain.enums import Ecosystem, PackageType


def release(low: str) -> str:
    """OSV names SUSE products with service packs (`Linux Enterprise Server 15 SP3`); os-release has
    `15.3`. Every SLE 15 SP3 product and module ships the same package builds, so they share one key
    (`sle:15.3`); the Micro lines are separate products (`sle-micro:5.3`, `sl-micro:6.0`)."""
    m = re.search(r"(\d+)(?:\.(\d+))?(?:\s*sp(\d+))?", low)
    if not m:
        return low
    major, minor, sp = m.groups()
    if "micro" in low:
        product = "sle-micro" if "enterprise" in low else "sl-micro"
        return f"{product}:{major}.{minor or 0}"
    point = sp or minor
    return f"sle:{major}.{point}" if point and point != "0" else f"sle:{major}"


SUSE = Distro(
    ecosystem=Ecosystem.SUSE,
    os_ids=("sles", "sled", "sle-micro", "sle-micro-rancher", "sl-micro"),
    package_types=(PackageType.RPM,),
    purl_namespace="suse",
    version_scheme="rpm",
    release=release,
)
