"""Ubuntu from its OSV export (`UBUNTU-CVE-…` records, ecosystem `Ubuntu:22.04:LTS`, `Ubuntu:Pro:…`).

Only the feed list is Ubuntu's own: records go through the OSV reader, which groups `UBUNTU-CVE-x` with
`CVE-x` and keeps Pro/ESM streams apart from the plain release.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from openhss.vulndb.sources.osv import OsvSource


class UbuntuSource(OsvSource):
    name: ClassVar[str] = "ubuntu"
    ecosystems: ClassVar[tuple[str, ...]] = ("Ubuntu",)

    def accepts(self, path: Path, head: bytes) -> bool:
        return False  # offline Ubuntu exports are OSV files: the OSV source imports them
