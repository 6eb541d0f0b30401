"""Every distro openhss knows, one line each (the descriptor is the distro's module)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from openhss.domain.distros import (
    almalinux,
    alpine,
    amazon,
    centos,
    chainguard,
    debian,
    euleros,
    fedora,
    hce,
    kylin,
    openeuler,
    opensuse,
    oracle,
    redhat,
    rocky,
    suse,
    ubuntu,
    uos,
    wolfi,
)
from openhss.domain.distros.base import Distro
from openhss.domain.enums import Ecosystem

DISTROS: Final[tuple[Distro, ...]] = (
    debian.DEBIAN,
    ubuntu.UBUNTU,
    uos.UOS,
    alpine.ALPINE,
    wolfi.WOLFI,
    chainguard.CHAINGUARD,
    redhat.REDHAT,
    centos.CENTOS,
    rocky.ROCKY,
    almalinux.ALMALINUX,
    fedora.FEDORA,
    amazon.AMAZON,
    oracle.ORACLE,
    suse.SUSE,
    opensuse.OPENSUSE,
    openeuler.OPENEULER,
    euleros.EULEROS,
    hce.HCE,
    kylin.KYLIN,
)
BY_ECOSYSTEM: Final = MappingProxyType({d.ecosystem: d for d in DISTROS})
#: os-release ID (exact, as the release analyzer reports it) → distro.
BY_OS_ID: Final = MappingProxyType({i: d for d in DISTROS for i in d.os_ids})
#: The same, case-insensitive (IDs other tools spell differently, `openeuler`).
BY_OS_ID_FOLDED: Final = MappingProxyType({i.lower(): d for d in DISTROS for i in d.os_ids})


def distro_of(ecosystem: Ecosystem) -> Distro | None:
    return BY_ECOSYSTEM.get(ecosystem)
