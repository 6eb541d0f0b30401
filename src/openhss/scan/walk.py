"""The one-pass driver: every analyzer sees every header of a layer; wanted bytes are read once.

This is where the analyzer contract of `analyzers/base.py` is enforced. The cost of a layer is the
decompression plus one cheap `wants()` per *interested* analyzer per member (`Dispatch`: the few
analyzers that look at every member, plus the others only for the paths they declared); bytes are
only copied for members someone asked for, into one spooled buffer (memory for small files, a
scratch-dir file for large ones) that every interested analyzer reads in turn. Nothing is ever
written outside the scratch dir, and the buffer is gone when the next member starts.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import hashlib
import io
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO, Final

from openhss.scan import budget as budgets
from openhss.scan.analyzers.base import AnalysisResult, Analyzer, FileEntry, Interest
from openhss.scan.budget import AnalyzerBudget, FileBudget, ScratchQuota
from openhss.scan.errors import BudgetExceeded, CorruptImage, ScratchSpaceExhausted
from openhss.scan.layers import CHUNK, ImageBudget, LayerReader, LayerStats, Limits

log = logging.getLogger(__name__)

#: Wanted members up to this size stay in memory; larger ones spill to the scratch dir.
SPOOL_IN_MEMORY = 4 * 1024 * 1024


@dataclass(slots=True)
class LayerAnalysis:
    """Everything one layer contributes; enough for an applier to fold layers without re-reading them."""

    diff_id: str
    result: AnalysisResult
    #: Paths this layer deletes from the layers below (`dir/.wh.name` → `dir/name`).
    whiteouts: list[str] = field(default_factory=list)
    #: Directories whose lower-layer contents this layer hides (`dir/.wh..wh..opq`).
    opaque_dirs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stats: LayerStats = field(default_factory=LayerStats)
    #: analyzer name → version: the other half of the layer-cache key.
    analyzers: dict[str, int] = field(default_factory=dict)


def _stamp(result: AnalysisResult, diff_id: str) -> None:
    if not diff_id:
        return
    result.packages = [
        p if p.layer_digest else dataclasses.replace(p, layer_digest=diff_id) for p in result.packages
    ]
    result.files = [
        f if f.layer_digest else dataclasses.replace(f, layer_digest=diff_id) for f in result.files
    ]
    result.findings = [
        f if f.layer_digest else dataclasses.replace(f, layer_digest=diff_id) for f in result.findings
    ]


#: What an analyzer may raise on a bad file: the file becomes a reported skip and the layer goes on.
#: Anything else is a bug in the analyzer (and aborts the scan); the fuzz harnesses hold them to this.
ANALYZER_ERRORS: Final[tuple[type[Exception], ...]] = (
    CorruptImage,
    OSError,
    ValueError,
    UnicodeError,
    LookupError,
    ArithmeticError,
)

#: Hostile-input failures any analyzer may hit without a bug of its own: JSON/TOML/XML nested far
#: deeper than the recursion limit (`RecursionError`), an allocation the input asked for
#: (`MemoryError`), or the file's budget running out. These too end the file, never the scan.
HOSTILE_ERRORS: Final[tuple[type[Exception], ...]] = (
    *ANALYZER_ERRORS,
    BudgetExceeded,
    RecursionError,
    MemoryError,
)


@dataclass(slots=True)
class WalkBudget:
    """The bounds the walker applies around every analyzer call of one scan."""

    analyzer: AnalyzerBudget = field(default_factory=AnalyzerBudget)
    quota: ScratchQuota | None = None
    scratch_dir: Path | None = None
    #: Raises (`ScanStopped`, a wall-clock `ScanTimedOut`) when the whole scan must end; called between
    #: members and from inside analyzers' budget checks, so a stop lands within a file, not a layer.
    interrupt: Callable[[], None] | None = None

    def for_file(self, analyzer: Analyzer, path: str) -> FileBudget:
        now = time.monotonic()
        return FileBudget(
            analyzer=analyzer.name,
            path=path,
            deadline=now + self.analyzer.seconds,
            max_members=self.analyzer.max_members,
            scratch_dir=self.scratch_dir,
            quota=self.quota,
            interrupt=self.interrupt,
            started=now,
        )

    @contextmanager
    def file(self, analyzer: Analyzer, path: str) -> Iterator[FileBudget]:
        with budgets.running(self.for_file(analyzer, path)) as fb:
            yield fb


@functools.lru_cache(maxsize=64)
def _union(classes: tuple[type[Analyzer], ...]) -> Interest:
    """One `Interest` admitting whatever any of `classes` admits (the scan's analyzers, once per scan:
    every layer's fresh instances are of the same classes)."""
    picky = [c.interest for c in classes if not c.interest.everything]
    bits = 0
    for i in picky:
        bits |= i.mode_bits
    return Interest(
        paths=frozenset().union(*(i.paths for i in picky)),
        suffixes=tuple(dict.fromkeys(s for i in picky for s in i.suffixes)),
        prefixes=tuple(dict.fromkeys(p for i in picky for p in i.prefixes)),
        mode_bits=bits,
    )


class Dispatch:
    """Which analyzers to ask `wants` about a member: the walker's index over their `interest`.

    A layer of 500,000 small files asked thirteen analyzers about each of them; all but the few that
    look at everything (secrets, malware, the file-mode checks) want a fixed handful of paths. One
    test of the member against the union of the declarations (a set lookup, one `endswith`, one
    `startswith` and a mode mask, all in C) decides whether any of those can want it; only then is
    each one's own declaration and `wants` consulted. Analyzers are asked in their given order, so
    results come out exactly as when every analyzer was asked.
    """

    __slots__ = ("_all", "_always", "_union")

    def __init__(self, analyzers: Sequence[Analyzer]) -> None:
        self._always = [a for a in analyzers if a.interest.everything]
        self._all = [(a, a.interest) for a in analyzers]
        self._union = _union(tuple(type(a) for a in analyzers))

    def wanting(self, entry: FileEntry) -> list[Analyzer]:
        """The analyzers whose `wants(entry)` is true, asking only those whose interest admits it."""
        path, union = entry.path, self._union
        if (
            path in union.paths
            or path.endswith(union.suffixes)
            or path.startswith(union.prefixes)
            or entry.mode & union.mode_bits
        ):
            mode = entry.mode
            return [a for a, i in self._all if i.admits(path, mode) and a.wants(entry)]
        return [a for a in self._always if a.wants(entry)]


def _skip(result: AnalysisResult, analyzer: Analyzer, path: str, exc: BaseException) -> None:
    # One unreadable or hostile file must not sink the layer; it is reported, never dropped silently.
    reason = str(exc) if not isinstance(exc, RecursionError) else "nested too deeply"
    log.warning("analyzer %s failed on %s: %s: %s", analyzer.name, path, type(exc).__name__, reason)
    result.skipped.append((path, f"{analyzer.name}: {type(exc).__name__}: {reason}"))


def _run(
    analyzer: Analyzer,
    entry: FileEntry,
    content: BinaryIO,
    result: AnalysisResult,
    limits: WalkBudget | None = None,
) -> None:
    content.seek(0)
    walk_budget = limits or WalkBudget()
    # Installed by hand rather than through `WalkBudget.file`: this runs once per analyzer per file,
    # and two generator context managers were a tenth of the walk of a layer of small files.
    token = budgets.install(walk_budget.for_file(analyzer, entry.path))
    try:
        result.merge(analyzer.analyze(entry, content))
    except HOSTILE_ERRORS as exc:
        _skip(result, analyzer, entry.path, exc)
    finally:
        budgets.restore(token)


def _finish(analyzer: Analyzer, result: AnalysisResult, limits: WalkBudget) -> None:
    """`finish` parses what an analyzer collected (a dpkg status, an rpmdb): it is budgeted the same."""
    try:
        with limits.file(analyzer, f"<{analyzer.name} layer summary>"):
            result.merge(analyzer.finish())
    except HOSTILE_ERRORS as exc:
        _skip(result, analyzer, f"<{analyzer.name} layer summary>", exc)


def _sniff(
    entry: FileEntry, member: BinaryIO, wanting: list[Analyzer], sniffers: Sequence[Analyzer]
) -> tuple[list[Analyzer], bytes]:
    """Give content-sniffing analyzers their look at the member's first bytes (read once, shared)."""
    asking = [a for a in sniffers if a not in wanting]
    if not asking:
        return wanting, b""
    head = member.read(min(entry.size, max(a.sniff_size for a in asking)))
    return wanting + [a for a in asking if a.wants_content(entry, head)], head


def _observe(digesters: Sequence[Analyzer], entry: FileEntry, sha: str, result: AnalysisResult) -> None:
    for analyzer in digesters:
        seen = analyzer.observe_digest(entry, sha)
        if seen is not None:
            result.merge(seen)


def _digest_rest(digest: hashlib._Hash, member: BinaryIO) -> str:
    """Finish the SHA-256 of a member whose first bytes `digest` has already seen."""
    while block := member.read(CHUNK):
        digest.update(block)
    return digest.hexdigest()


def _copy_rest(member: BinaryIO, buf: IO[bytes], digest: hashlib._Hash | None) -> str:
    """Copy the rest of a member into the spool, hashing on the way when someone wants the digest."""
    if digest is None:
        shutil.copyfileobj(member, buf, CHUNK)
        return ""
    while block := member.read(CHUNK):
        digest.update(block)
        buf.write(block)
    return digest.hexdigest()


def analyze_layer(
    stream: BinaryIO,
    media_type: str,
    analyzers: Sequence[Analyzer],
    limits: Limits | None = None,
    *,
    diff_id: str = "",
    budget: ImageBudget | None = None,
    scratch_dir: Path | None = None,
    verify_diff_id: bool = False,
    blob_digest: str = "",
    walk_budget: WalkBudget | None = None,
) -> LayerAnalysis:
    """Walk one layer once, feeding `analyzers` (fresh instances: they live for this layer only).

    With `verify_diff_id` the layer must hash to `diff_id` (`DiffIdMismatch` otherwise, raised after
    the walk and before anything is returned, so a refused layer is never cached).
    """
    reader = LayerReader(
        stream,
        media_type,
        limits,
        budget,
        hash_diff_id=not diff_id,
        expected_diff_id=diff_id if verify_diff_id else "",
        blob_digest=blob_digest,
    )
    wb = walk_budget or WalkBudget(scratch_dir=scratch_dir)
    if wb.scratch_dir is None:
        wb.scratch_dir = scratch_dir
    result = AnalysisResult()
    sniffers = [a for a in analyzers if a.sniff_size > 0]
    hashers = [a for a in analyzers if a.wants_digest()]
    dispatch = Dispatch(analyzers)
    for entry, member in reader:
        if wb.interrupt is not None:
            wb.interrupt()
        if member is None:
            # Links, dirs and devices still reach `wants` (a setuid check may want the header),
            # but there are no bytes: analyzers that want them get an empty buffer.
            wanting = dispatch.wanting(entry)
            for analyzer in wanting:
                with tempfile.SpooledTemporaryFile(max_size=1) as empty:
                    _run(analyzer, entry, empty, result, wb)  # type: ignore[arg-type]
            continue
        wanting = dispatch.wanting(entry)
        head = b""
        if sniffers and entry.is_file and entry.size > 0:
            wanting, head = _sniff(entry, member, wanting, sniffers)
        digesters = [a for a in hashers if a not in wanting] if entry.is_file and entry.size else []
        if not wanting and not digesters:
            continue
        if not wanting:
            sha = _digest_rest(hashlib.sha256(head), member)
            _observe(digesters, entry, sha, result)
            continue
        fits = []
        for analyzer in wanting:
            if entry.size > analyzer.max_size:
                result.skipped.append(
                    (
                        entry.path,
                        f"{analyzer.name}: {entry.size} bytes exceeds its limit of {analyzer.max_size}",
                    )
                )
            else:
                fits.append(analyzer)
        digesters += [a for a in wanting if a in hashers and a not in fits]
        if not fits:
            if digesters:
                sha = _digest_rest(hashlib.sha256(head), member)
                _observe(digesters, entry, sha, result)
            continue
        if entry.size <= SPOOL_IN_MEMORY:  # nearly every member: no spool, no context manager
            small, sha = _in_memory(member, entry, head, bool(digesters))
            for analyzer in fits:
                _run(analyzer, entry, small, result, wb)
            _observe(digesters, entry, sha, result)
            continue
        try:
            with _spool(member, entry, wb, head, hashlib.sha256(head) if digesters else None) as (buf, sha):
                for analyzer in fits:
                    _run(analyzer, entry, buf, result, wb)
                _observe(digesters, entry, sha, result)
        except BudgetExceeded as exc:
            # The spool would overflow the scan's scratch quota: this file is skipped, not the scan
            # (nothing of it was read yet, so a digest is still taken by streaming).
            names = ", ".join(a.name for a in fits)
            result.skipped.append((entry.path, f"{names}: {exc}"))
            if digesters:
                _observe(digesters, entry, _digest_rest(hashlib.sha256(head), member), result)
    for analyzer in analyzers:
        _finish(analyzer, result, wb)
    result.skipped.extend(reader.skipped)
    layer_id = diff_id or reader.diff_id
    _stamp(result, layer_id)
    return LayerAnalysis(
        diff_id=layer_id,
        result=result,
        whiteouts=reader.whiteouts,
        opaque_dirs=reader.opaque_dirs,
        warnings=reader.warnings,
        stats=reader.stats,
        analyzers={a.name: a.version for a in analyzers},
    )


def _in_memory(member: BinaryIO, entry: FileEntry, head: bytes, digest: bool) -> tuple[BinaryIO, str]:
    """A small member's bytes as a BytesIO (and their SHA-256 when asked): the header gives the exact
    size, so it is one read, and the BytesIO shares those very bytes instead of copying them."""
    rest = member.read(entry.size - len(head))
    data = head + rest if head else rest
    return io.BytesIO(data), hashlib.sha256(data).hexdigest() if digest else ""


@contextmanager
def _spool(
    member: BinaryIO, entry: FileEntry, wb: WalkBudget, head: bytes, digest: hashlib._Hash | None
) -> Iterator[tuple[BinaryIO, str]]:
    """The member's bytes in one seekable buffer: memory when small, else the scratch dir (charged to
    the scan's quota before a byte is written: the header's size is exactly what will be copied).
    `head` is what content sniffing already read; with `digest`, the SHA-256 is taken on the way."""
    on_disk = entry.size > SPOOL_IN_MEMORY
    if not on_disk:
        yield _in_memory(member, entry, head, digest is not None)
        return
    reserve = wb.quota.reserve(entry.size, "spooling it") if wb.quota is not None and on_disk else None
    with reserve if reserve is not None else _no_reservation():
        scratch_dir = wb.scratch_dir
        with tempfile.SpooledTemporaryFile(
            max_size=SPOOL_IN_MEMORY, dir=str(scratch_dir) if scratch_dir else None
        ) as buf:
            try:
                buf.write(head)
                sha = _copy_rest(member, buf, digest)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                where = scratch_dir or tempfile.gettempdir()
                raise ScratchSpaceExhausted(
                    f"no space left in the scratch dir {where} for {entry.path} ({entry.size} bytes)"
                ) from None
            yield buf, sha  # type: ignore[misc]


@contextmanager
def _no_reservation() -> Iterator[None]:
    yield
