"""Per-file budgets for analyzers and the scan's scratch-dir quota.

Image content is hostile: one file can be built to take hours (a jar of overlapping bad-CRC entries),
to fill the disk (an executable that is a gzip bomb) or to run attacker-written SQL (rpmdb.sqlite).
Each `(analyzer, file)` pair therefore runs under a `FileBudget` (a deadline and an archive-member
count) that the walker installs in a context variable around `analyze`/`finish`; analyzers with
loops over attacker-sized input call `check()` / `count_member()` in them. Going over raises
`BudgetExceeded`, which the walker turns into a reported skip of that one file, never a failed scan.

The budget is cooperative: Python cannot pre-empt a thread, so an analyzer that never checks is
bounded only by its byte limits. Every loop over archive members or database rows checks.

The scratch quota bounds the bytes the scan's spool files hold at once in the scratch dir (shared by
the layers analysed in parallel); a file whose spool would overflow it is skipped, not the scan.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Final

from openhss.scan.errors import BudgetExceeded

MiB: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class AnalyzerBudget:
    """What one analyzer may spend on one file (its byte limit is the analyzer's own `max_size`)."""

    seconds: float = 120.0
    #: Archive members / database rows one analyzer may open in one file.
    max_members: int = 100_000


class ScratchQuota:
    """Bytes the scan's spool files may occupy at once; thread-safe (layers are analysed in parallel)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0
        self.peak = 0
        self._lock = threading.Lock()

    @contextmanager
    def reserve(self, n: int, what: str) -> Iterator[None]:
        with self._lock:
            if self.in_use + n > self.limit:
                raise BudgetExceeded(
                    f"{what} needs {n} bytes of scratch space; the scan's scratch quota of "
                    f"{self.limit} bytes has {self.limit - self.in_use} left"
                )
            self.in_use += n
            self.peak = max(self.peak, self.in_use)
        try:
            yield
        finally:
            with self._lock:
                self.in_use -= n


@dataclass(slots=True)
class FileBudget:
    """The budget of one analyzer on one file, as the analyzer sees it through `current()`."""

    analyzer: str
    path: str
    deadline: float
    max_members: int
    scratch_dir: Path | None = None
    quota: ScratchQuota | None = None
    #: The scan's own stop/wall-clock check: a stop request lands inside a slow file, not after it.
    interrupt: Callable[[], None] | None = None
    members: int = 0
    started: float = field(default_factory=time.monotonic)

    def check(self) -> None:
        if self.interrupt is not None:
            self.interrupt()
        if time.monotonic() > self.deadline:
            raise BudgetExceeded(f"over its time budget of {self.deadline - self.started:.0f} s for one file")

    def count_member(self, n: int = 1) -> None:
        self.members += n
        if self.members > self.max_members:
            raise BudgetExceeded(
                f"opened more than {self.max_members} members of one file (its member budget)"
            )
        self.check()

    def seconds_left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


_current: ContextVar[FileBudget | None] = ContextVar("openhss_file_budget", default=None)


@contextmanager
def running(budget: FileBudget) -> Iterator[FileBudget]:
    """Install `budget` for the analyzer call made inside the block (this thread/context only)."""
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


def install(budget: FileBudget) -> Token[FileBudget | None]:
    """`running` without the context manager, for the walker's per-file hot path: pair with `restore`."""
    return _current.set(budget)


def restore(token: Token[FileBudget | None]) -> None:
    _current.reset(token)


def current() -> FileBudget | None:
    return _current.get()


def check() -> None:
    """Raise `BudgetExceeded` when the running analyzer is over its time budget (no-op outside one)."""
    budget = _current.get()
    if budget is not None:
        budget.check()


def count_member(n: int = 1) -> None:
    """Count archive members / rows the running analyzer opened; raises past its member budget."""
    budget = _current.get()
    if budget is not None:
        budget.count_member(n)


def seconds_left(default: float = 120.0) -> float:
    budget = _current.get()
    return budget.seconds_left() if budget is not None else default


@contextmanager
def scratch_copy(content: BinaryIO, size: int, name: str) -> Iterator[Path]:
    """Copy `content` to a private file in the scan's scratch dir, charged to its quota.

    For libraries that need a path (sqlite): the copy never goes to the system temp dir when the
    scan has a scratch dir, and it is gone when the block ends.
    """
    budget = _current.get()
    scratch = budget.scratch_dir if budget is not None else None
    quota = budget.quota if budget is not None else None
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
    with (
        quota.reserve(size, name) if quota is not None else _nothing(),
        tempfile.TemporaryDirectory(prefix="openhss-copy-", dir=scratch) as tmp,
    ):
        path = Path(tmp) / name
        with path.open("wb") as out:
            copied = _copy_bounded(content, out, size)
        if copied > size:
            raise BudgetExceeded(f"{name} is larger than the {size} bytes its header declares")
        yield path


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _copy_bounded(src: BinaryIO, dst: BinaryIO, size: int) -> int:
    copied = 0
    while copied <= size:
        data = src.read(min(MiB, size + 1 - copied))
        if not data:
            break
        dst.write(data)
        copied += len(data)
    return copied
