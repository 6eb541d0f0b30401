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

Most analyzers want a handful of paths out of an image's hundreds of thousands. Each declares in
`interest` a cheap necessary condition of its `wants` (exact paths, path suffixes, path prefixes, mode
bits); the walker folds every analyzer's declaration into one index per scan and calls `wants` only for
members that meet the condition. An analyzer whose `wants` has side effects (a record kept for every
executable, a header check of every member) or whose choice cannot be put that way keeps the default,
`EVERYTHING`, and is asked about every member as before.
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
    # (database file, owner, path): files an OS package manager installed that a language analyzer
    # may report a package from (`var/lib/dpkg/info/python3-idna.list`, `deb:python3-idna`,
    # `usr/lib/python3/dist-packages/idna-3.3.egg-info/PKG-INFO`). The applier marks such packages
    # OS-owned; the database file lets a later layer that rewrites or deletes it retract the claim.
    owned: list[tuple[str, str, str]] = field(default_factory=list)

    def merge(self, other: AnalysisResult) -> None:
        if other.os is not None:
            self.os = other.os
        self.packages.extend(other.packages)
        self.files.extend(other.files)
        self.findings.extend(other.findings)
        self.skipped.extend(other.skipped)
        self.observed.extend(other.observed)
        self.owned.extend(other.owned)


@dataclass(frozen=True, slots=True)
class Interest:
    """A necessary condition of an analyzer's `wants`: a member that meets none of these is declined.

    The contract the walker relies on: for a member whose path is not in `paths`, does not end with
    one of `suffixes`, does not start with one of `prefixes`, and whose mode has none of `mode_bits`,
    `wants` returns False *and does nothing else* (no side effect is skipped by not calling it).
    `tests/scan/test_dispatch.py` holds every analyzer to it over real images' members.
    """

    paths: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    mode_bits: int = 0
    #: Ask `wants` about every member (the default: always correct, never fast).
    everything: bool = False

    def admits(self, path: str, mode: int) -> bool:
        """True when a member with this path and mode may be wanted (the walker then asks `wants`)."""
        return (
            self.everything
            or path in self.paths
            or path.endswith(self.suffixes)
            or path.startswith(self.prefixes)
            or bool(mode & self.mode_bits)
        )


EVERYTHING = Interest(everything=True)


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

    #: Which members `wants` may accept (see `Interest`); the default asks about every member.
    interest: ClassVar[Interest] = EVERYTHING

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
