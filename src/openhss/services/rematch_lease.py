"""Leases on re-match runs: a run is taken, renewed and finished like a scan job, so a lost run is re-sent.

Before this, `openhss.rematch` was a bare message: a worker SIGKILLed mid-run (or a message lost between
commit and send) left the run `running` or `waiting` for ever, and the advisory change it carried never
reached the rest of the fleet's results. Now the row decides, never the broker:

- `take`: `waiting` → `running` with a lease (`lease_owner`, `lease_expires`); a `running` run can be
  taken again only once its lease expired (its worker died) or by the same owner (a retried task).
  A duplicate delivery of a live or finished run changes nothing.
- `renew`: the runner renews per batch; False means another runner took it over, so this one stops.
- `finish`: only the lease owner ends the run, so exactly one runner reports it finished.
- `sweep_runs` (called by the periodic sweep with the scan jobs' sweep): a `running` run whose lease
  expired goes back to `waiting` and is re-sent in the same sweep; a `waiting` run not sent for
  `resend_after_seconds` is re-sent. Re-running is safe: `scans.rematch` is idempotent per batch
  (finished batches already hold their rows, and their hits stay recorded).
"""

from __future__ import annotations

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from openhss.config import ScanSettings
from openhss.db.scheduling import RematchHit, RematchRun
from openhss.services import dispatch
from openhss.services.results import now_ms

#: The Celery task that runs one re-match run (`worker/tasks.py`); `services.rematch` names it too.
REMATCH_TASK = "openhss.rematch"


def _changed(result: object) -> bool:
    return isinstance(result, CursorResult) and result.rowcount == 1


def take(session: Session, run_pk: int, owner: str, *, lease_ms: int, now: int | None = None) -> bool:
    """Become the run's runner; False when it is finished, gone or running under a live lease."""
    at = now if now is not None else now_ms()
    got = session.execute(
        update(RematchRun)
        .where(
            RematchRun.id == run_pk,
            or_(
                RematchRun.status == "waiting",
                and_(
                    RematchRun.status == "running",
                    or_(RematchRun.lease_expires < at, RematchRun.lease_owner == owner),
                ),
            ),
        )
        .values(
            status="running",
            lease_owner=owner,
            lease_expires=at + lease_ms,
            attempts=RematchRun.attempts + 1,
        )
    )
    return _changed(got)


def renew(session: Session, run_pk: int, owner: str, *, lease_ms: int, now: int | None = None) -> bool:
    """Extend the owner's lease; False when the run is no longer this owner's (taken over, finished)."""
    at = now if now is not None else now_ms()
    got = session.execute(
        update(RematchRun)
        .where(RematchRun.id == run_pk, RematchRun.status == "running", RematchRun.lease_owner == owner)
        .values(lease_expires=at + lease_ms)
    )
    return _changed(got)


def finish(session: Session, run_pk: int, owner: str, *, now: int | None = None) -> bool:
    """End the run as the owner. The newly-affected count is the run's recorded hits, so a run finished
    by a second attempt still counts the images its dead first attempt found."""
    at = now if now is not None else now_ms()
    hits = select(func.count()).select_from(RematchHit).where(RematchHit.run_pk == run_pk).scalar_subquery()
    got = session.execute(
        update(RematchRun)
        .where(RematchRun.id == run_pk, RematchRun.status == "running", RematchRun.lease_owner == owner)
        .values(
            status="finished", finished_at=at, lease_owner="", lease_expires=0, images_newly_affected=hits
        )
    )
    return _changed(got)


def sweep_runs(session: Session, cfg: ScanSettings, *, now: int | None = None) -> int:
    """Re-queue runs whose runner died (lease expired) and waiting runs whose message went silent.

    Both are re-sent in this same sweep (messages go at commit), so a run a killed worker abandoned is
    running again one sweep interval after its lease ran out, not one `resend_after_seconds` later."""
    at = now if now is not None else now_ms()
    session.execute(
        update(RematchRun)
        .where(RematchRun.status == "running", RematchRun.lease_expires < at)
        .values(status="waiting", lease_owner="", lease_expires=0, dispatched_at=0)
    )
    due = list(
        session.scalars(
            select(RematchRun.id)
            .where(
                RematchRun.status == "waiting",
                RematchRun.dispatched_at < at - cfg.resend_after_seconds * 1000,
            )
            .order_by(RematchRun.id)
        )
    )
    if due:
        session.execute(update(RematchRun).where(RematchRun.id.in_(due)).values(dispatched_at=at))
    for pk in due:
        dispatch.after_commit(session, REMATCH_TASK, (pk,))
    return len(due)
