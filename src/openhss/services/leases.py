"""Lease owners: the one identity scan jobs (`scan_queue`) and re-match runs (`rematch_lease`) are
leased to, so both kinds of lease name their holder the same way (host, process, delivery)."""

from __future__ import annotations

import os
import socket
import uuid


def new_owner(delivery: str = "") -> str:
    """A lease owner for one delivery of one job: host, process and the message id (random if none).

    A retried task keeps its message id, so after a database outage it resumes its own job instead of
    waiting for the lease to expire."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{delivery or uuid.uuid4().hex}"[:160]
