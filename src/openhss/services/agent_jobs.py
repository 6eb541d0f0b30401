"""Agent-side execution of scan jobs: jobs of local images only a host's agent can read are claimed by
that agent (`claim_jobs_for_host`), kept alive by its heartbeats (`heartbeat_job`) and ended by its
report (`complete_job`: vulnerabilities are matched here, with the server's advisory database, then the
same `scan_queue.finish_job` a worker uses) or its failure (`fail_job`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from openhss.config import ScanSettings
from openhss.db.models import Image, ImageHost, ScanTask, ScanTaskImage
from openhss.domain.enums import ScanScope, ScanStatus
from openhss.domain.report import ImageReport
from openhss.domain.vulnerability import VulnerabilityFinding
from openhss.scan.applier import Inventory
from openhss.services.results import now_ms
from openhss.services.scan_queue import Started, finish_job, inventory_of, rowcount, start_job, startable
from openhss.services.vulndb import MatcherCache, VulnDbError

AGENT_OWNER = "agent:"


@dataclass(frozen=True, slots=True)
class AgentJob:
    """A job handed to an agent: scan `image_id` (`image_name:image_version`) with `scan_scope`."""

    job_pk: int
    task_id: str
    image_pk: int
    image_id: str
    image_name: str
    image_version: str
    scan_scope: int
    lease_expires: int


def agent_owner(host_pk: int) -> str:
    return f"{AGENT_OWNER}{host_pk}"


def claim_jobs_for_host(
    session: Session, host_pk: int, limit: int, settings: ScanSettings, *, now: int | None = None
) -> list[AgentJob]:
    """Start up to `limit` jobs of local images only this host's agent can read (no `source_ref`)."""
    at = now if now is not None else now_ms()
    candidates = session.execute(
        select(
            ScanTaskImage.id,
            Image.id,
            Image.image_id,
            Image.image_name,
            Image.image_version,
            ScanTask.task_id,
        )
        .join(Image, Image.id == ScanTaskImage.image_pk)
        .join(ImageHost, ImageHost.image_pk == Image.id)
        .join(ScanTask, ScanTask.id == ScanTaskImage.task_pk)
        .where(
            ImageHost.host_pk == host_pk,
            Image.source_ref == "",
            Image.image_type == "local",
            startable(at),  # type: ignore[arg-type]
        )
        .order_by(ScanTaskImage.id)
        .limit(max(0, limit) * 2)
    ).all()
    out: list[AgentJob] = []
    for job_pk, image_pk, image_id, name, version, task_id in candidates:
        if len(out) >= limit:
            break
        started = start_job(session, job_pk, agent_owner(host_pk), now=at, settings=settings, fair=False)
        if isinstance(started, Started):
            out.append(
                AgentJob(
                    job_pk,
                    task_id,
                    image_pk,
                    image_id,
                    name,
                    version,
                    started.scan_scope,
                    started.lease_expires,
                )
            )
    return out


def owner_of(session: Session, job_pk: int) -> str:
    return session.scalar(select(ScanTaskImage.lease_owner).where(ScanTaskImage.id == job_pk)) or ""


def heartbeat_job(
    session: Session, job_pk: int, owner: str, settings: ScanSettings, *, now: int | None = None
) -> bool:
    """Renew an agent's lease; False when the job is no longer its (stopped, expired and re-taken)."""
    at = now if now is not None else now_ms()
    got = session.execute(
        update(ScanTaskImage)
        .where(
            ScanTaskImage.id == job_pk,
            ScanTaskImage.lease_owner == owner,
            ScanTaskImage.status == ScanStatus.SCANNING.value,
            ScanTaskImage.stop_requested.is_(False),
        )
        .values(lease_expires=at + settings.lease_seconds * 1000)
    )
    return rowcount(got) == 1


def complete_job(
    session: Session,
    job_pk: int,
    report_or_inventory: ImageReport | Inventory,
    matchers: MatcherCache,
    *,
    owner: str | None = None,
    now: int | None = None,
) -> bool:
    """An agent's scan result: vulnerabilities are matched here against the server's advisory DB.

    `matchers` is the process's matcher cache (`Runtime.matchers`). A job whose scope includes
    vulnerabilities fails (`failed`, reason given) when no advisory DB exists.
    """
    who = owner or owner_of(session, job_pk)
    inv = (
        inventory_of(report_or_inventory)
        if isinstance(report_or_inventory, ImageReport)
        else report_or_inventory
    )
    scope = session.scalar(
        select(ScanTask.scan_scope)
        .join(ScanTaskImage, ScanTaskImage.task_pk == ScanTask.id)
        .where(ScanTaskImage.id == job_pk)
    )
    vulns: list[VulnerabilityFinding] = []
    if scope is not None and ScanScope(int(scope)) & ScanScope.VULNERABILITY:
        try:
            vulns = matchers.get()(inv)
        except VulnDbError as exc:
            return finish_job(session, job_pk, who, ScanStatus.FAILED, str(exc), now=now)
    return finish_job(session, job_pk, who, ScanStatus.SUCCESS, inventory=inv, vulnerabilities=vulns, now=now)


def fail_job(
    session: Session, job_pk: int, status: ScanStatus | str, reason: str, *, owner: str | None = None
) -> bool:
    """An agent could not scan: `status` is one of the final failure statuses (or image_scan_stop)."""
    st = ScanStatus(status)
    if not st.is_final or st is ScanStatus.SUCCESS:
        raise ValueError(f"{st.value} is not a failure status")
    return finish_job(session, job_pk, owner or owner_of(session, job_pk), st, reason)
