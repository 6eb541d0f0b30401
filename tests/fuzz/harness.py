"""What every fuzz harness checks, in one place: allowed errors, no writes or execs outside a scratch
dir, a wall-clock bound (a hang is a failure, not a slow test) and a bound on Python allocations.

Hypothesis profiles: `ci` (the default: a fixed, derandomized set of examples per harness so
`make test` stays fast and never flakes) and `fuzz` (`make fuzz`, `HYPOTHESIS_PROFILE=fuzz`: random,
`FUZZ_EXAMPLES` per harness, failures kept in `.hypothesis/` and replayed first on the next run).
A crash found by `make fuzz` is fixed and pinned as a minimal input in `test_regressions.py`.
Profiles are applied per test through `fuzz_settings`, never loaded globally: other hypothesis tests
in the suite keep their own budgets.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import tempfile
import threading
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.conftest import SHARED

F = TypeVar("F", bound=Callable[..., Any])

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
if PROFILE not in ("ci", "fuzz"):
    PROFILE = "ci"
_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
# Own names: hypothesis has a built-in "ci" profile it may load by itself; ours must not replace it.
settings.register_profile(
    "openhss-ci", max_examples=40, deadline=5000, derandomize=True, suppress_health_check=_HEALTH
)
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5000"))
settings.register_profile(
    "openhss-fuzz", max_examples=FUZZ_EXAMPLES, deadline=10000, suppress_health_check=_HEALTH
)

#: Any single example taking longer than this is a hang (the timer fires inside the parser).
HANG_SECONDS = 20.0 if PROFILE == "fuzz" else 10.0
#: Python allocations a parser may make beyond a fixed floor, per input byte (bounded inputs, so a
#: violation means something amplified the input: a bomb, or a loop that accumulates).
MEMORY_FLOOR = 48 * 1024 * 1024
MEMORY_PER_INPUT_BYTE = 64

FIXTURES = SHARED / "data" / "fixtures"


def fuzz_settings(max_examples: int | None = None) -> Callable[[F], F]:
    """The active profile, optionally with this harness's own `ci` example count."""
    base = settings.get_profile(f"openhss-{PROFILE}")
    if max_examples is not None and PROFILE == "ci":
        return settings(base, max_examples=max_examples)
    return settings(base)


class Hang(BaseException):
    """Raised by the wall-clock timer; a BaseException so a parser's `except Exception` cannot eat it."""


@dataclass
class Guard:
    scratch: Path
    violations: list[str] = field(default_factory=list)
    peak: int = 0
    #: Threads that were already running when the example started (a worker or server thread an earlier
    #: test left behind): the audit hook is process-wide, but only the code under test is judged. The
    #: scan's own pool threads are created inside the example, so they are watched.
    foreign: frozenset[int] = frozenset()


_ACTIVE: list[Guard] = []
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
#: audit event → (index of the path written, index of its dir_fd or None) in the event's arguments.
_PATH_EVENTS: dict[str, tuple[int, int | None]] = {
    "os.mkdir": (0, 2),
    "os.rename": (1, 3),
    "os.replace": (1, 3),
    "os.remove": (0, 1),
    "os.rmdir": (0, 1),
    "os.symlink": (1, 2),
    "os.link": (1, 3),
    "os.chmod": (0, 2),
    "os.chown": (0, 3),
    "os.truncate": (0, None),
    "shutil.rmtree": (0, 1),
    "shutil.move": (1, None),
    "shutil.copyfile": (1, None),
}
_EXEC_EVENTS = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork"}


def _inside(path: object, root: Path, dir_fd: object = None) -> bool:
    if isinstance(path, int) or path is None:
        return True  # an fd: whoever opened it was checked then
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    base = os.readlink(f"/proc/self/fd/{dir_fd}") if isinstance(dir_fd, int) and dir_fd >= 0 else os.getcwd()
    full = os.path.realpath(os.path.join(base, str(path)))
    return full == str(root) or full.startswith(str(root) + os.sep)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _ACTIVE:
        return
    guard = _ACTIVE[-1]
    if threading.get_ident() in guard.foreign:
        return
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        if writing and not _inside(path, guard.scratch):
            guard.violations.append(f"open for writing outside the scratch dir: {path!r} ({mode or flags})")
    elif event in _PATH_EVENTS:
        at, fd_at = _PATH_EVENTS[event]
        path = args[at] if len(args) > at else None
        dir_fd = args[fd_at] if fd_at is not None and len(args) > fd_at else None
        if not _inside(path, guard.scratch, dir_fd):
            guard.violations.append(f"{event} outside the scratch dir: {path!r}")
    elif event in _EXEC_EVENTS:
        guard.violations.append(f"{event}: parsing must never execute anything ({args[:2]!r})")


sys.addaudithook(_audit)


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang("parser still running when its time ran out")


@contextlib.contextmanager
def guarded(input_size: int | None, hang_seconds: float = HANG_SECONDS) -> Iterator[Guard]:
    """Run a parser on one input: a fresh scratch dir (also `tempfile`'s), audited, timed, traced.

    `input_size=None` skips the allocation bound (whole scans, whose rule sets dwarf the input).
    """
    with tempfile.TemporaryDirectory(prefix="openhss-fuzz-") as tmp:
        me = threading.get_ident()
        idents = (t.ident for t in threading.enumerate())
        others = frozenset(i for i in idents if i is not None and i != me)
        guard = Guard(Path(os.path.realpath(tmp)), foreign=others)
        old_tempdir = tempfile.tempdir
        tempfile.tempdir = str(guard.scratch)
        old_handler = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, hang_seconds)
        measure = input_size is not None
        tracing = measure and not tracemalloc.is_tracing()
        if tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        _ACTIVE.append(guard)
        try:
            yield guard
        finally:
            _ACTIVE.pop()
            _, peak = tracemalloc.get_traced_memory()
            guard.peak = peak - base if measure else 0
            if tracing:
                tracemalloc.stop()
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old_handler)
            tempfile.tempdir = old_tempdir
    assert not guard.violations, guard.violations
    if input_size is None:
        return
    limit = MEMORY_FLOOR + MEMORY_PER_INPUT_BYTE * input_size
    assert guard.peak <= limit, f"parser allocated {guard.peak} bytes for a {input_size}-byte input"


def expect_only(allowed: tuple[type[BaseException], ...], fn: Callable[[], object]) -> object:
    """Call `fn`; an exception outside `allowed` is the bug a harness looks for, so it propagates."""
    try:
        return fn()
    except allowed as exc:
        return exc


# --- inputs -------------------------------------------------------------------------------------

#: Byte strings that tend to break parsers: number edge cases, structure characters, encodings.
TOKENS: tuple[bytes, ...] = (
    b"\x00",
    b"\xff",
    b"\xff\xfe",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"-1",
    b"0",
    b"4294967296",
    b"9999999999999999999999",
    b"1e999",
    b"NaN",
    b"inf",
    b"-0",
    b"0x7fffffff",
    b"{",
    b"}",
    b"[",
    b"]",
    b'"',
    b"\\",
    b"\n",
    b"\r\n",
    b":",
    b"=",
    b"..",
    b"../",
    b"/",
    b"//",
    b"null",
    b"true",
    b"\t",
    b"%s%n",
    b"${x}",
    b"&a [*a]",
    b"<<: *a",
    b"!!python/object",
    b"A" * 300,
)

_OPS = ("flip", "delete", "insert", "duplicate", "token", "truncate", "set-byte")


def _mutate(seed: bytes, ops: Sequence[tuple[str, int, int, bytes]], hot: int | None = None) -> bytes:
    data = bytearray(seed)
    for op, a, b, blob in ops:
        n = len(data)
        i = a % (min(n, hot or n) + 1)
        j = min(n, i + b % 64)
        if op == "flip" and n:
            data[i % n] ^= 1 << (b % 8)
        elif op == "set-byte" and n:
            data[i % n] = b % 256
        elif op == "delete":
            del data[i:j]
        elif op == "insert":
            data[i:i] = blob
        elif op == "duplicate":
            data[i:i] = data[i:j]
        elif op == "token":
            data[i:i] = TOKENS[b % len(TOKENS)]
        elif op == "truncate":
            del data[i:]
    return bytes(data)


def mutated(seeds: Sequence[bytes], max_ops: int = 6, hot: int | None = None) -> st.SearchStrategy[bytes]:
    """A seed after a few random edits; a share of pure random bytes and of untouched seeds.

    `hot` confines edits to the first bytes (headers) of large, mostly padded seeds.
    """
    op = st.tuples(
        st.sampled_from(_OPS),
        st.integers(0, 2**32),
        st.integers(0, 2**16),
        st.binary(max_size=32),
    )
    edited = st.builds(_mutate, st.sampled_from(list(seeds)), st.lists(op, max_size=max_ops), st.just(hot))
    return st.one_of(edited, st.sampled_from(list(seeds)), st.binary(max_size=512))


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=24),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def _nodes(doc: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _nodes(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _nodes(v, (*path, i))


def _replace(doc: Any, which: int, value: Any) -> bytes:
    """`doc` with its `which`-th node (pre-order) replaced by `value`: type confusion at any depth."""
    paths = list(_nodes(doc))
    target = paths[which % len(paths)]
    if not target:
        return json.dumps(value).encode()
    doc = json.loads(json.dumps(doc))
    parent = doc
    for key in target[:-1]:
        parent = parent[key]
    parent[target[-1]] = value
    return json.dumps(doc).encode()


def json_mutated(seeds: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    """Structure-aware for JSON seeds (any node replaced by any JSON value), plus byte mutations."""
    docs = []
    for s in seeds:
        with contextlib.suppress(ValueError):
            docs.append(json.loads(s))
    if not docs:
        return mutated(seeds)
    structured = st.builds(_replace, st.sampled_from(docs), st.integers(0, 10_000), JSON_VALUES)
    return st.one_of(structured, mutated(seeds))


def fixture_seeds(*patterns: str, limit: int = 12, max_bytes: int = 256 * 1024) -> list[bytes]:
    """Real upstream test inputs from the shared fixtures (none when the shared dir is absent)."""
    if not FIXTURES.is_dir():
        return []
    found: list[bytes] = []
    for pattern in patterns:
        for path in sorted(FIXTURES.glob(pattern)):
            if path.is_file() and not path.is_symlink() and 0 < path.stat().st_size <= max_bytes:
                found.append(path.read_bytes())
            if len(found) >= limit:
                return found
    return found


def stream(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)
