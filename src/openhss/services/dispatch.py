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
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_PENDING_KEY = "openhss_dispatch"


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
_SENDERS: list[Sender] = []
_BATCH_SENDERS: list[BatchSender] = []


def set_sender(sender: Sender | None, batch: BatchSender | None = None) -> None:
    """Install the process-wide sender (None removes it), and optionally its batch form.

    Without `batch` the messages of a commit go one at a time (the behaviour the benchmark compares
    against); `batch` without `sender` is meaningless and rejected.
    """
    if batch is not None and sender is None:
        raise ValueError("a batch sender needs the single-message sender it batches")
    _SENDERS[:] = [sender] if sender is not None else []
    _BATCH_SENDERS[:] = [batch] if batch is not None else []


def current_sender() -> Sender | None:
    return _SENDERS[0] if _SENDERS else None


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


def send_now(message: Message) -> bool:
    """Send outside any transaction (the sweeper, periodic tasks); False when no sender is installed."""
    sender = current_sender()
    if sender is None:
        return False
    sender(message)
    return True


@event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    pending: list[Message] = session.info.pop(_PENDING_KEY, [])
    if len(pending) > 1 and _BATCH_SENDERS:
        try:
            _BATCH_SENDERS[0](pending)
        except Exception:  # the commit already happened: the unsent rows are re-sent by the sweeper
            log.exception("could not send a batch of %d messages; the sweeper will re-send", len(pending))
        return
    for message in pending:
        try:
            if not send_now(message):
                log.debug("no task sender installed; %s waits for the sweeper", message.name)
        except Exception:  # the commit already happened: a failed send is recovered by the sweeper
            log.exception("could not send %s %s; the sweeper will re-send it", message.name, message.args)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)
