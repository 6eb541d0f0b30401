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
_SENDERS: list[Sender] = []


def set_sender(sender: Sender | None) -> None:
    """Install the process-wide sender (None removes it)."""
    _SENDERS[:] = [sender] if sender is not None else []


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
    for message in pending:
        try:
            if not send_now(message):
                log.debug("no task sender installed; %s waits for the sweeper", message.name)
        except Exception:  # the commit already happened: a failed send is recovered by the sweeper
            log.exception("could not send %s %s; the sweeper will re-send it", message.name, message.args)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)
