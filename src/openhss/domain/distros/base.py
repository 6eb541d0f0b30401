"""The distro descriptor: everything openhss knows about one distribution, declared in one place.

Modelled on Claircore's per-distro folders: each distro is one module here holding one `Distro`, and
`registry.DISTROS` lists them. The OS analyzers' re-stamping (`scan/analyzers/os/restamp.py`), the OS
matcher (`scan/matcher/distro.py`), release normalisation (`domain/advisory.normalize_release`), the
version registry (`domain/version/registry.py`) read the descriptors, and Debian's codenames are one
table in `debian.py`, so the os-release tables can no longer drift apart.
`tests/domain/test_distros.py` fails when an OS `Ecosystem` has no descriptor.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from openhss.domain.enums import Ecosystem, PackageType


@dataclass(frozen=True, slots=True)
class Distro:
    ecosystem: Ecosystem
    #: os-release `ID`s (as the release analyzer reports them, after its ID fixes).
    os_ids: tuple[str, ...]
    #: Package database formats this distro ships (Kylin: deb on desktop, rpm on server).
    package_types: tuple[PackageType, ...]
    #: purl namespace of its packages (`pkg:deb/debian/...`).
    purl_namespace: str
    #: `domain/version` scheme name ordering its package versions.
    version_scheme: str
    #: One spelling per release, whichever source or os-release field it came from (input lower-cased).
    release: Callable[[str], str]


def keep(low: str) -> str:
    """The release text as given (lower-cased)."""
    return low


def major(low: str) -> str:
    """RHEL family: the major release (`el9`, `9.3` → `9`)."""
    m = re.search(r"\d+", low)
    return m.group(0) if m else low


def major_minor(low: str) -> str:
    """Alpine family: `v3.18.4` → `3.18`."""
    m = re.search(r"\d+\.\d+", low)
    return m.group(0) if m else low.lstrip("v")
