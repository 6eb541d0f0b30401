"""The HSS `files` report: executables, setuid/setgid and world-writable files, with sha256.

The decision is made from the tar header alone (mode, kind). Executables and setuid/setgid files are
hashed; the walker hands over a seekable buffer and we read it in fixed chunks, so memory stays flat
whatever the file size. World-writable files that are not executable need no bytes: they are recorded
straight from the header in `wants` and never read. Hard links carry no bytes either; they take the
hash of their target when the target is in the same layer.

Each record has one `file_type`, the most security-relevant that applies, in the order
setuid > setgid > world-writable > executable, so per-type counts add up to the number of files.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import BinaryIO, ClassVar

from openhss.domain.enums import EntryKind, ScanScope
from openhss.domain.models import FileRecord
from openhss.scan.analyzers.base import AnalysisResult, Analyzer, FileEntry, Interest

SETUID = "setuid"
SETGID = "setgid"
WORLD_WRITABLE = "world-writable"
EXECUTABLE = "executable"
_CHUNK = 1024 * 1024
#: Records one layer may list. Real images have tens of thousands of executables; 300,000 empty ones
#: (a few MB of layer) took a scan to 859 MB. Past this the rest are counted and reported, not listed.
MAX_RECORDS = 100_000


def classify(mode: int) -> str:
    """The report category of a regular file's mode, or "" when it is not reportable."""
    if mode & 0o4000:
        return SETUID
    if mode & 0o2000:
        return SETGID
    if mode & 0o002:
        return WORLD_WRITABLE
    if mode & 0o111:
        return EXECUTABLE
    return ""


def _needs_hash(mode: int) -> bool:
    return bool(mode & 0o6111)


class FilesAnalyzer(Analyzer):
    name: ClassVar[str] = "files"
    #: `classify` reports (and `wants` records) only these mode bits: setuid, setgid, world-writable,
    #: executable. A plain 0644 file is never looked at.
    interest: ClassVar[Interest] = Interest(mode_bits=0o4000 | 0o2000 | 0o002 | 0o111)
    version: ClassVar[int] = 2
    scope: ClassVar[ScanScope] = ScanScope.VULNERABILITY | ScanScope.BASELINE
    max_size: ClassVar[int] = 2 * 1024 * 1024 * 1024

    def __init__(self) -> None:
        self._records: list[FileRecord] = []
        self._links: list[tuple[FileEntry, str]] = []
        # One string per distinct digest: images repeat files (300,000 identical empty executables
        # are a known attack on memory), and a hex digest costs 113 bytes a copy.
        self._digests: dict[str, str] = {}
        self._unlisted = 0
        self._first_unlisted = ""

    def wants(self, entry: FileEntry) -> bool:
        if entry.kind is EntryKind.HARDLINK:
            kind = classify(entry.mode)
            if kind and len(self._links) < MAX_RECORDS:
                self._links.append((entry, kind))
            elif kind:
                self._unlisted += 1
                self._first_unlisted = self._first_unlisted or entry.path
            return False
        if entry.kind is not EntryKind.FILE:
            return False
        kind = classify(entry.mode)
        if not kind:
            return False
        if len(self._records) >= MAX_RECORDS:
            self._unlisted += 1
            self._first_unlisted = self._first_unlisted or entry.path
            return False
        if _needs_hash(entry.mode):
            return True
        self._records.append(self._record(entry, kind, ""))
        return False

    @staticmethod
    def _record(entry: FileEntry, kind: str, digest: str) -> FileRecord:
        return FileRecord(
            path=entry.path,
            size=entry.size,
            mode=entry.mode & 0o7777,
            uid=entry.uid,
            gid=entry.gid,
            file_type=kind,
            sha256=digest,
        )

    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        h = hashlib.sha256()
        while chunk := content.read(_CHUNK):
            h.update(chunk)
        hexdigest = h.hexdigest()
        digest = self._digests.setdefault(hexdigest, hexdigest)
        self._records.append(self._record(entry, classify(entry.mode), digest))
        return AnalysisResult()

    def finish(self) -> AnalysisResult:
        by_path = {r.path: r for r in self._records}
        for entry, kind in self._links:
            target = by_path.get(entry.linkname)
            rec = self._record(entry, kind, target.sha256 if target else "")
            self._records.append(dataclasses.replace(rec, size=target.size) if target else rec)
        skipped = []
        if self._unlisted:
            why = f"files: {self._unlisted} more reportable files in this layer than the {MAX_RECORDS} listed"
            skipped.append((self._first_unlisted, why))
        return AnalysisResult(files=self._records, skipped=skipped)
