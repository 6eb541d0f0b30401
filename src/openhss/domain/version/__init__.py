"""Version ordering per ecosystem. `scheme_for("Debian:12")` → the dpkg scheme."""

from __future__ import annotations

from openhss.domain.enums import Ecosystem
from openhss.domain.version.base import InvalidVersion, VersionScheme
from openhss.domain.version.registry import BY_NAME, ECOSYSTEM_SCHEMES

__all__ = ["InvalidVersion", "VersionScheme", "scheme_for", "scheme_named"]

_BY_LOWER = {eco.value.lower(): scheme for eco, scheme in ECOSYSTEM_SCHEMES.items()}


def scheme_for(ecosystem: Ecosystem | str) -> VersionScheme:
    """The scheme for an Ecosystem or an OSV ecosystem string.

    OSV qualifies distribution ecosystems with a release (`Debian:12`, `Alpine:v3.18`,
    `Ubuntu:22.04:LTS`); the part before the first `:` names the ecosystem. Raises KeyError for an
    ecosystem without a scheme (including the empty/unknown one).
    """
    name = ecosystem.value if isinstance(ecosystem, Ecosystem) else ecosystem.split(":", 1)[0].strip()
    scheme = _BY_LOWER.get(name.lower())
    if scheme is None:
        raise KeyError(f"no version scheme for ecosystem {ecosystem!r}")
    return scheme


def scheme_named(name: str) -> VersionScheme:
    """A scheme by its own name (`dpkg`, `rpm`, `semver` …); KeyError if there is none."""
    return BY_NAME[name]
