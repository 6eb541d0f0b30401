"""The analyzer contract.

The layer walker reads each layer once. For every tar member it builds a `FileEntry` from the header
alone and asks each enabled analyzer `wants(entry)`; that call must be cheap (string tests on the path,
size and mode) because it runs for every file of every layer. Only when some analyzer wants a member are
its bytes read, at most `max_size` of them, into a seekable buffer shared by all analyzers that want it,
and `analyze` is called. Analyzers therefore never see the filesystem and never read unrelated bytes.

Some content cannot be chosen by name: a payload can be called anything. An analyzer that sets
`sniff_size` gets a second, still cheap chance for regular files `wants` declined: the walker reads the
member's first `sniff_size` bytes once (shared by every sniffing analyzer) and asks `wants_content`.
An analyzer whose `wants_digest()` is true is handed the SHA-256 of every regular file it did not
analyze (`observe_digest`), so a hash list applies to every file without copying any bytes.

An analyzer instance lives for one layer: `analyze` may accumulate state and `finish` returns what is
left (e.g. a package manager whose database spans several files). Results carry the path they came from;
the walker stamps the layer's diff_id afterwards, so analyzers need not know it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import BinaryIO, ClassVar

from openhss.domain.enums import EntryKind, ScanScope
from openhss.domain.models import FileRecord, Finding, OSInfo, Package


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A tar member as the analyzers see it.

    `path` is normalised and relative to the image root: no leading `/`, no `.`/`..` segments
    (e.g. `var/lib/dpkg/status`). `linkname` is normalised the same way for hard links and kept
    verbatim for symlinks.
    """

    path: str
    size: int
    mode: int
    kind: EntryKind
    uid: int = 0
    gid: int = 0
    linkname: str = ""
    mtime: int = 0

    @property
    def is_file(self) -> bool:
        return self.kind is EntryKind.FILE

    @property
    def is_executable(self) -> bool:
        return self.kind is EntryKind.FILE and bool(self.mode & 0o111)


@dataclass(slots=True)
class AnalysisResult:
    """What analyzers report for one layer; `merge` lets the walker combine all analyzers' outputs."""

    os: OSInfo | None = None
    packages: list[Package] = field(default_factory=list)
    files: list[FileRecord] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    # Files an analyzer wanted but could not read whole (too large, corrupt): reported, never silent.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # Paths whose *current state* an analyzer examined (e.g. `etc/shadow` for the baseline checks).
    # State findings (baseline) at such a path from lower layers are superseded by this layer's view,
    # even when this layer reports nothing there: a fixed file must clear the old finding.
    observed: list[str] = field(default_factory=list)

    def merge(self, other: AnalysisResult) -> None:
        if other.os is not None:
            self.os = other.os
        self.packages.extend(other.packages)
        self.files.extend(other.files)
        self.findings.extend(other.findings)
        self.skipped.extend(other.skipped)
        self.observed.extend(other.observed)


class Analyzer(ABC):
    """Base class of every analyzer. Subclasses set the class attributes and implement two methods."""

    #: Stable identifier; part of the layer-cache key together with `version`.
    name: ClassVar[str]
    #: Bump whenever the output for the same input changes, so cached layer results are recomputed.
    version: ClassVar[int] = 1
    #: The `scan_scope` bits that enable this analyzer.
    scope: ClassVar[ScanScope] = ScanScope.VULNERABILITY
    #: Largest member whose bytes are handed over; larger wanted members are reported in `skipped`.
    max_size: ClassVar[int] = 64 * 1024 * 1024

    #: Leading bytes of a regular file this analyzer needs for `wants_content` (0: header-only).
    sniff_size: ClassVar[int] = 0

    @abstractmethod
    def wants(self, entry: FileEntry) -> bool:
        """Cheap header-only test; called for every member of every layer."""

    def wants_content(self, entry: FileEntry, head: bytes) -> bool:
        """Second-chance test on the first `sniff_size` bytes of a regular file `wants` declined."""
        return False

    def wants_digest(self) -> bool:
        """True when `observe_digest` should see the SHA-256 of every regular file not analyzed."""
        return False

    def observe_digest(self, entry: FileEntry, sha256: str) -> AnalysisResult | None:
        """The hex SHA-256 of a regular file this analyzer did not analyze (see `wants_digest`).

        None when there is nothing to report: this runs for most files of an image, and an empty
        result object per file was a measurable share of the walk."""
        return None

    @abstractmethod
    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        """Read `content` (seekable, positioned at 0, exactly `entry.size` bytes) and report findings."""

    def finish(self) -> AnalysisResult:
        """Called once after the last member of the layer; for analyzers that aggregate across files."""
        return AnalysisResult()
