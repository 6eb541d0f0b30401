"""RPM distributions and openEuler from their OSV exports (ALSA/RLSA/RHSA/OESA, SUSE)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from openhss.vulndb.sources.osv import OsvSource


class RpmFamilySource(OsvSource):
    name: ClassVar[str] = "rpm-family"
    ecosystems: ClassVar[tuple[str, ...]] = ("AlmaLinux", "Rocky Linux", "Red Hat", "openEuler", "SUSE")

    def accepts(self, path: Path, head: bytes) -> bool:
        return False  # offline exports are plain OSV zips: the OSV source imports them
