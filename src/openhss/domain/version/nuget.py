"""NuGet versions: up to four numeric parts, SemVer 2.0 prerelease labels compared
case-insensitively, build metadata ignored (NuGet.Versioning's order, as OSV reads it)."""

from __future__ import annotations

from functools import lru_cache

from openhss.domain.version.base import VersionScheme
from openhss.domain.version.semver import LikeKey, semver_like_key


@lru_cache(maxsize=131072)
def nuget_key(version: str) -> LikeKey:
    return semver_like_key(version, max_components=4, fold_case=True)


class NugetScheme(VersionScheme):
    """NuGet packages (.NET)."""

    name = "nuget"

    def key(self, version: str) -> LikeKey:
        return nuget_key(version)
