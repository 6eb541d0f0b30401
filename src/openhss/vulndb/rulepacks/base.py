"""The rule-pack source contract: like an advisory source, a pure parser plus a list of feeds.

A source turns one downloaded or hand-carried file into files under a staging directory, in the layout
the malware analyzer loads (`scan/analyzers/malware.load_pack`): `*.yar` rule files and `*.txt` hash
lists. Files it cannot use are reported, never fatal: one broken rule must not cost the other rules.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from openhss.vulndb.sources.base import Feed

#: A pack or list larger than this is refused (hostile input; real packs are a few MB).
MAX_PACK_BYTES = 512 * 1024 * 1024
#: One rule file larger than this is skipped.
MAX_RULE_FILE_BYTES = 16 * 1024 * 1024


class PackError(ValueError):
    """A file that cannot be read as this source's format at all."""


@dataclass(slots=True)
class Staged:
    """What one pack contributed: counts for `db status`, rejected files with the reason."""

    rules: int = 0
    hashes: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)


class RulePackSource(ABC):
    name: ClassVar[str]
    #: Where `db update` keeps this kind under a `--mirror` base URL.
    mirror_dir: ClassVar[str]

    @abstractmethod
    def feeds(self, urls: list[str]) -> list[Feed]:
        """The configured downloads of this kind."""

    @abstractmethod
    def accepts(self, path: Path, head: bytes) -> bool:
        """Whether a local file (its first bytes given) is of this kind; decided by content."""

    @abstractmethod
    def stage(self, path: Path, dest: Path, feed_name: str) -> Staged:
        """Write the usable content of `path` under the empty directory `dest`."""

    def feed_name(self, path: Path) -> str:
        return f"{self.name}:{path.name}"
