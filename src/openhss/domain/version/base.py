"""The version-scheme contract every ecosystem implements.

The matcher compares millions of versions per second, so a scheme turns a version string into a
sort key once (`key`) and the hot loop compares keys; `compare` is the convenience built on it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Final

# Real versions are short (the longest in the OSV corpus is well under 200 characters); version
# strings come from hostile images, and keys are cached, so anything longer is refused outright.
MAX_VERSION_LENGTH: Final = 512


class InvalidVersion(ValueError):
    """A version string the scheme cannot order. Matchers skip such ranges with a warning."""


def bounded(version: str) -> str:
    """`version` unchanged, or InvalidVersion when it is longer than any real version."""
    if len(version) > MAX_VERSION_LENGTH:
        raise InvalidVersion(f"version longer than {MAX_VERSION_LENGTH} characters")
    return version


class VersionScheme(ABC):
    """One ecosystem's ordering. Implementations are stateless and thread-safe."""

    name: ClassVar[str]

    @abstractmethod
    def key(self, version: str) -> Any:
        """A value whose natural ordering (`<`, `==`) is the scheme's ordering; raises InvalidVersion."""

    def compare(self, a: str, b: str) -> int:
        ka, kb = self.key(a), self.key(b)
        return int(ka > kb) - int(ka < kb)

    def valid(self, version: str) -> bool:
        try:
            self.key(version)
        except InvalidVersion:
            return False
        return True
