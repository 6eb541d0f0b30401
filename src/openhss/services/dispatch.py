"""Sending background tasks from services, but only once the transaction that made their rows commits.

A service that creates a scan job or an export row calls `after_commit(session, name, args)`. Sending
is deferred to the session's commit: a worker must never receive the id of a row it cannot yet see, and
a rolled-back request must send nothing. The rows in the database stay the source of truth; a message
that is lost (a crash between commit and send) is recovered by the executor's sweeper, which re-sends
for rows still waiting.

Services do not import Celery: the process installs a sender at start-up (`serve`, `worker`, tests),
which keeps the layering (services below worker) and lets the embedded and distributed deployments
share this one path. With no sender installed the messages are dropped and the rows wait for the
sweeper.

A transaction that queues many messages (a 10,000-image scan-all) hands them to the batch sender when
one is installed: sending them one at a time through Celery's producer pool, each waiting for its own
RabbitMQ publisher confirm, took ~3.8 ms a message under load, i.e. most of a minute inside the API
request. The batch sender publishes them over one producer and awaits the confirms once. If it fails
midway the messages not sent are not retried here: their rows are marked dispatched and still waiting, so
the sweeper re-sends them after `resend_after_seconds`, as for any lost message.

Even batched, 10,000 messages cost seconds of Celery's per-message work (measured by `bench/fleet.py`
queueing: 8.4 s on RabbitMQ against 2.6 s of database work). A commit of `BACKGROUND_AT` messages or
more therefore hands its batch to one background sender thread and returns: the rows are committed and
marked dispatched, so a process that dies before the thread has sent them loses nothing the sweeper does
not re-send. The thread is joined at interpreter exit, so an orderly shutdown still sends everything;
`drain` waits for it (tests, and callers that count messages on the broker).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_PENDING_KEY = "openhss_dispatch"
#: Commits with at least this many messages send them from the background thread (a scan-all, a bulk
#: batch-scan); smaller ones (a manual scan, an export) are sent before the request returns.
BACKGROUND_AT = 1000


@dataclass(frozen=True, slots=True)
class Message:
    """One task to send: a Celery task name, its positional JSON arguments and routing hints."""

    name: str
    args: tuple[object, ...]
    queue: str | None = None
    countdown: float | None = None
    priority: int | None = None


Sender = Callable[[Message], None]
#: Sends the messages of one commit together; raises on the first failure (the rest go to the sweeper).
BatchSender = Callable[[Sequence[Message]], None]


@dataclass(frozen=True, slots=True)
class _Installed:
    sender: Sender
    batch: BatchSender | None
    #: The database of the deployment that installed it ("" = any: a test's capturing sender).
    database: str


#: Most recently installed first. A commit's messages go to the first sender installed for the
#: database the session is bound to (or for any database): a process holding two deployments (the
#: test processes hold many) sends each one's messages to its own broker. With one process-wide slot,
#: the last deployment started took every other deployment's messages — a console service's registry
#: sync was sent to another test service's broker and never ran.
_INSTALLED: list[_Installed] = []


def set_sender(sender: Sender | None, batch: BatchSender | None = None, *, database: str = "") -> None:
    """Install a sender (and optionally its batch form) for the deployment on `database` ("" = for any
    database, taking precedence over the ones installed before it). `None` removes the senders
    installed for `database` ("" removes the any-database ones only; a deployment's own stays).

    Without `batch` the messages of a commit go one at a time (the behaviour the benchmark compares
    against); `batch` without `sender` is meaningless and rejected.
    """
    if batch is not None and sender is None:
        raise ValueError("a batch sender needs the single-message sender it batches")
    if database:  # spelled as a bound session's engine spells it (`database_of`)
        database = make_url(database).render_as_string(hide_password=False)
    _INSTALLED[:] = [i for i in _INSTALLED if i.database != database]
    if sender is not None:
        _INSTALLED.insert(0, _Installed(sender, batch, database))


def _installed_for(database: str | None) -> _Installed | None:
    """The sender for `database` (None: no session to tell, the most recently installed one)."""
    for i in _INSTALLED:
        if database is None or not i.database or i.database == database:
            return i
    return None


def database_of(session: Session) -> str:
    """The key a deployment installs its sender under: its database URL, password included (two
    deployments differ in it only if they are different databases)."""
    return session.get_bind().engine.url.render_as_string(hide_password=False)


def after_commit(
    session: Session,
    name: str,
    args: Sequence[object] = (),
    *,
    queue: str | None = None,
    countdown: float | None = None,
    priority: int | None = None,
) -> None:
    pending: list[Message] = session.info.setdefault(_PENDING_KEY, [])
    pending.append(Message(name, tuple(args), queue, countdown, priority))


class _Background:
    """One sender thread, created on first use; the futures of the batches it has not finished yet."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._futures: set[Future[None]] = set()
        self._pid = os.getpid()

    def submit(self, batch: BatchSender, messages: list[Message]) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child (prefork worker) has no copy of the thread
                self._executor, self._futures, self._pid = None, set(), os.getpid()
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openhss-dispatch")
            future = self._executor.submit(_send_batch, batch, messages)
            self._futures.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def drain(self, timeout: float | None) -> bool:
        with self._lock:
            futures = set(self._futures)
        _done, not_done = wait(futures, timeout=timeout)
        return not not_done


_BACKGROUND = _Background()


def drain(timeout: float | None = 300.0) -> bool:
    """Wait until the background sender has sent (or failed) every batch handed to it so far.

    True when it has; False when `timeout` passed first. Messages of a failed batch are not retried
    here (the sweeper re-sends them), so True does not mean every message reached the broker.
    """
    return _BACKGROUND.drain(timeout)


def _send_batch(batch: BatchSender, messages: list[Message]) -> None:
    try:
        batch(messages)
    except Exception:  # the commit already happened: the unsent rows are re-sent by the sweeper
        log.exception("could not send a batch of %d messages; the sweeper will re-send", len(messages))


def send_now(message: Message, session: Session | None = None) -> bool:
    """Send outside any transaction (the sweeper, periodic tasks); False when no sender is installed.
    `session`: a session of the deployment sending, so its own sender is used."""
    found = _installed_for(database_of(session) if session is not None else None)
    if found is None:
        return False
    found.sender(message)
    return True


@event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    pending: list[Message] = session.info.pop(_PENDING_KEY, [])
    if not pending:
        return
    found = _installed_for(database_of(session))
    if found is None:
        log.debug("no task sender installed; %d messages wait for the sweeper", len(pending))
        return
    if len(pending) > 1 and found.batch is not None:
        if len(pending) >= BACKGROUND_AT:
            _BACKGROUND.submit(found.batch, pending)
        else:
            _send_batch(found.batch, pending)
        return
    for message in pending:
        try:
            found.sender(message)
        except Exception:  # the commit already happened: a failed send is recovered by the sweeper
            log.exception("could not send %s %s; the sweeper will re-send it", message.name, message.args)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)
