"""Housekeeping that keeps auth tables small: expired tokens and replay nonces."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from openhss.db.models import AuthToken, RequestNonce


def purge_expired_auth_state(session: Session) -> int:
    now = datetime.now(UTC)
    removed = 0
    for stmt in (
        delete(AuthToken).where(AuthToken.expires_at < now),
        delete(RequestNonce).where(RequestNonce.expires_at < now),
    ):
        removed += session.execute(stmt).rowcount  # type: ignore[attr-defined]
    return removed
