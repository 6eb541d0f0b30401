"""Hosts reported by agents: registration, heartbeats, and the local images and containers on them.

An agent sends its whole inventory (images and running containers) whenever it changed; the server
works out what is new, removed or retagged, so a lost or repeated report can never leave the tables
out of step with the host. One image is one `images` row per tag (HSS lists local images by
`image_name` + `image_version`; services/image_tags.py lets the tag rows share one scan), and one such
row present on many hosts has many `image_hosts` rows; `host_num` and `container_num` are recounted
for every image a report touched, under a row lock, so concurrent reports from different hosts keep
them exact.

New image rows are created each in a short transaction of its own before the report is applied: two
hosts reporting the same new image at once then race only on one unique key (the loser re-reads the
winner's row), never on each other's locks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import zstandard
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from openhss.config import Settings
from openhss.db.engine import transaction
from openhss.db.models import Container, Host, Image, ImageHost
from openhss.db.tenancy import scoped, unscoped
from openhss.domain.errors import Conflict, InvalidRequest, NotFound
from openhss.domain.inventory import HostInfo, HostInventory, LocalImage
from openhss.domain.upload import ScanUpload
from openhss.scan.applier import Inventory as ScanInventory
from openhss.scan.cache import decode as decode_layer
from openhss.services import agent_jobs, image_tags, layer_cache, scan_tasks
from openhss.services.identity import Scope
from openhss.services.vulndb import MatcherCache


@dataclass(slots=True)
class Changes:
    """What a report changed on the host, for the agent's log and the tests."""

    new_images: list[str] = field(default_factory=list)
    removed_images: list[str] = field(default_factory=list)
    retagged_images: list[str] = field(default_factory=list)
    started_containers: list[str] = field(default_factory=list)
    stopped_containers: list[str] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


def register(session: Session, scope: Scope, info: HostInfo, now: datetime | None = None) -> Host:
    """Create or refresh the host an agent runs on; re-registering keeps its images and containers.

    Agent ids are unique per project: one already registered in an enterprise project outside the
    caller's scope is a 409, never taken over. A new host needs one enterprise project (400 under
    `all_granted_eps` with several).
    """
    host = session.scalar(scoped(select(Host).where(Host.agent_id == info.agent_id), scope))
    if host is None:
        taken = session.scalar(
            unscoped(
                select(Host.id).where(Host.project_id == scope.project_id, Host.agent_id == info.agent_id),
                "agent ids are unique per project: refuse one another enterprise project holds",
            )
        )
        if taken is not None:
            raise Conflict(f"agent {info.agent_id} is registered in another enterprise project")
        host = Host(
            project_id=scope.project_id, enterprise_project_id=scope.creation_ep(), agent_id=info.agent_id
        )
        session.add(host)
    for name in (
        "host_id",
        "host_name",
        "private_ip",
        "public_ip",
        "os_type",
        "version",
        "docker_type",
        "docker_name",
        "cluster_id",
        "cluster_name",
    ):
        setattr(host, name, getattr(info, name))
    host.agent_status = "online"
    host.last_heartbeat = now or _now()
    session.flush()
    return host


def _host(session: Session, scope: Scope, agent_id: str, *, lock: bool = False) -> Host:
    stmt = scoped(select(Host).where(Host.agent_id == agent_id), scope)
    if lock:
        stmt = stmt.with_for_update()
    host = session.scalar(stmt)
    if host is None:
        raise NotFound(f"agent {agent_id} is not registered; register it first")
    return host


def heartbeat(session: Session, scope: Scope, agent_id: str, now: datetime | None = None) -> Host:
    host = _host(session, scope, agent_id)
    host.last_heartbeat = now or _now()
    host.agent_status = "online"
    return host


def mark_offline(session: Session, offline_seconds: int, now: datetime | None = None) -> int:
    """Hosts silent for longer than `offline_seconds` become offline; their images stay listed."""
    cutoff = (now or _now()) - timedelta(seconds=offline_seconds)
    result = session.execute(
        update(Host)
        .where(Host.agent_status == "online", Host.last_heartbeat < cutoff)
        .values(agent_status="offline")
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _key(row: Image) -> tuple[str, str, str]:
    return row.image_id, row.image_name, row.image_version


def _rows_of(inv_images: Sequence[LocalImage]) -> dict[tuple[str, str, str], LocalImage]:
    """Every (image_id, image_name, image_version) row the reported images are listed as."""
    out: dict[tuple[str, str, str], LocalImage] = {}
    for img in inv_images:
        for name, version in img.name_versions():
            out.setdefault((img.image_id, name, version), img)
    return out


def ensure_images(
    sessions: sessionmaker[Session],
    settings: Settings,
    scope: Scope,
    agent_id: str,
    images: Sequence[LocalImage],
) -> list[str]:
    """Create the rows (one per image and tag) this project has never seen, each batch in its own
    transaction; a new tag of an image already scanned starts with that scan's results.

    Returns the image ids that got a new row here.
    """
    wanted = _rows_of(images)
    with transaction(sessions) as session:
        host = _host(session, scope, agent_id)
        ep, cluster_id, cluster_name = host.enterprise_project_id, host.cluster_id, host.cluster_name
        # Project-wide on purpose: an image another enterprise project already holds gets no row
        # here, under any tag (a host cannot list itself into another tenant's image); the report
        # then leaves it alone (apply_inventory).
        known: set[tuple[str, str, str]] = set()
        foreign: set[str] = set()
        ids = sorted({i.image_id for i in images})
        for i in range(0, len(ids), 1000):
            for image_id, name, version, row_ep in session.execute(
                unscoped(
                    select(
                        Image.image_id, Image.image_name, Image.image_version, Image.enterprise_project_id
                    ).where(
                        Image.project_id == scope.project_id,
                        Image.image_type == "local",
                        Image.registry_name == "",
                        Image.image_id.in_(ids[i : i + 1000]),
                    ),
                    "existence check against the per-project unique key; no row is returned",
                )
            ):
                known.add((image_id, name, version))
                if row_ep != ep:
                    foreign.add(image_id)
    pending = {k: img for k, img in wanted.items() if k not in known and k[0] not in foreign}

    def make(key: tuple[str, str, str], img: LocalImage) -> Image:
        image_id, name, version = key
        return Image(
            project_id=scope.project_id,
            enterprise_project_id=ep,
            image_type="local",
            image_id=image_id,
            image_digest=img.digest(),
            image_name=name,
            image_version=version,
            local_image_type="other_image",
            agent_id=agent_id,
            cluster_id=cluster_id,
            cluster_name=cluster_name,
            image_size=img.size,
            latest_update_time=img.created_ms,
            scan_status="unscan",
        )

    def announce(session: Session, row: Image) -> None:
        # A tag of content already scanned needs no scan: it takes the sibling's results instead.
        if not image_tags.adopt_scan(session, row.id):
            scan_tasks.on_new_image(session, row.id, settings)

    if not pending:
        return []
    try:  # the common case: nobody else is creating these, one transaction for all
        with transaction(sessions) as session:
            rows = [make(k, i) for k, i in pending.items()]
            session.add_all(rows)
            session.flush()
            for row in rows:
                announce(session, row)
        return sorted({k[0] for k in pending})
    except IntegrityError:
        pass  # another host's report created some of them at the same time: one at a time, then
    created: set[str] = set()
    for key, img in pending.items():
        try:
            with transaction(sessions) as session:
                row = make(key, img)
                session.add(row)
                session.flush()
                announce(session, row)
        except IntegrityError:
            continue  # another host's report created it first; that row is the one
        created.add(key[0])
    return sorted(created)


def apply_inventory(
    session: Session, scope: Scope, agent_id: str, inv: HostInventory, now: datetime | None = None
) -> Changes:
    """Make the host's image links and containers equal to `inv` and recount the images touched.

    The image rows must exist (`ensure_images` first); a reported row that does not is skipped. An
    image with several tags is linked through each of its tag rows; its containers count on its first
    tag's row (the runtime reports which image a container runs, not under which of its tags).
    """
    changes = Changes()
    host = _host(session, scope, agent_id, lock=True)
    host.last_heartbeat = now or _now()
    host.agent_status = "online"
    reported = _rows_of(inv.images)
    ids = sorted({i.image_id for i in inv.images})
    rows: dict[tuple[str, str, str], Image] = {}
    for i in range(0, len(ids), 1000):
        for img in session.scalars(
            scoped(
                select(Image).where(
                    Image.image_type == "local",
                    Image.registry_name == "",
                    Image.image_id.in_(ids[i : i + 1000]),
                ),
                scope,
            )
        ):
            if _key(img) in reported:
                rows[_key(img)] = img
    linked = {
        pk: (image_id, name, version)
        for pk, image_id, name, version in session.execute(
            select(ImageHost.image_pk, Image.image_id, Image.image_name, Image.image_version)
            .join(Image, Image.id == ImageHost.image_pk)
            .where(ImageHost.host_pk == host.id)
        ).all()
    }
    old_containers = {
        c.container_id: c for c in session.scalars(select(Container).where(Container.host_pk == host.id))
    }
    now_linked = {r.id for r in rows.values()}
    by_image_id: dict[str, int] = {}
    for key in sorted(rows):  # the first tag's row of each image carries its containers
        by_image_id.setdefault(key[0], rows[key].id)
    reported_containers = {c.container_id: c for c in inv.containers}
    counts_change = (
        now_linked != set(linked)
        or set(reported_containers) != set(old_containers)
        or any(
            by_image_id.get(c.image_id) != old_containers[cid].image_pk
            for cid, c in reported_containers.items()
            if cid in old_containers
        )
    )
    affected: list[int] = []
    if counts_change:
        affected = sorted(
            set(linked) | now_linked | {c.image_pk for c in old_containers.values() if c.image_pk}
        )
        # Lock every image this report may recount, in one order, before touching links (no deadlocks).
        list(
            session.scalars(
                select(Image.id).where(Image.id.in_(affected)).order_by(Image.id).with_for_update()
            )
        )

    for pk in now_linked - set(linked):
        session.add(ImageHost(image_pk=pk, host_pk=host.id))
    gone = set(linked) - now_linked
    if gone:
        session.execute(delete(ImageHost).where(ImageHost.host_pk == host.id, ImageHost.image_pk.in_(gone)))
    before: dict[str, set[tuple[str, str]]] = {}
    for image_id, name, version in linked.values():
        before.setdefault(image_id, set()).add((name, version))
    after: dict[str, set[tuple[str, str]]] = {}
    for image_id, name, version in rows:
        after.setdefault(image_id, set()).add((name, version))
    changes.new_images.extend(sorted(set(after) - set(before)))
    changes.removed_images.extend(sorted(set(before) - set(after)))
    changes.retagged_images.extend(sorted(i for i in set(before) & set(after) if before[i] != after[i]))

    for key, row in rows.items():
        digest = reported[key].digest()
        if digest and not row.image_digest:
            row.image_digest = digest

    seen: set[str] = set()
    for c in inv.containers:
        seen.add(c.container_id)
        image_pk = by_image_id.get(c.image_id)
        old = old_containers.get(c.container_id)
        if old is None:
            session.add(
                Container(
                    project_id=scope.project_id,
                    host_pk=host.id,
                    image_pk=image_pk,
                    container_id=c.container_id,
                    container_name=c.container_name,
                    pod_id=c.pod_id,
                    pod_name=c.pod_name,
                    namespace=c.namespace,
                    status=c.status,
                    entry_point=c.entry_point,
                )
            )
            changes.started_containers.append(c.container_id)
            continue
        old.image_pk, old.container_name, old.status = image_pk, c.container_name, c.status
        old.pod_id, old.pod_name, old.namespace, old.entry_point = (
            c.pod_id,
            c.pod_name,
            c.namespace,
            c.entry_point,
        )
    stopped = [cid for cid in old_containers if cid not in seen]
    if stopped:
        session.execute(
            delete(Container).where(Container.host_pk == host.id, Container.container_id.in_(stopped))
        )
        changes.stopped_containers.extend(sorted(stopped))
    session.flush()
    _recount(session, affected)
    return changes


def _recount(session: Session, image_pks: Sequence[int]) -> None:
    """Refresh host_num/container_num; a local image no host has any more is no longer a local image."""
    if not image_pks:
        return
    hosts = dict(
        session.execute(
            select(ImageHost.image_pk, func.count())
            .where(ImageHost.image_pk.in_(image_pks))
            .group_by(ImageHost.image_pk)
        ).all()
    )
    containers = dict(
        session.execute(
            select(Container.image_pk, func.count())
            .where(Container.image_pk.in_(image_pks))
            .group_by(Container.image_pk)
        ).all()
    )
    orphans = []
    for img in session.scalars(select(Image).where(Image.id.in_(image_pks))):
        img.host_num = int(hosts.get(img.id, 0))
        img.container_num = int(containers.get(img.id, 0))
        if img.host_num == 0 and img.image_type == "local":
            orphans.append(img.id)
    if orphans:
        session.execute(delete(Image).where(Image.id.in_(orphans)))


def report(
    sessions: sessionmaker[Session],
    settings: Settings,
    scope: Scope,
    agent_id: str,
    inv: HostInventory,
    now: datetime | None = None,
) -> Changes:
    """The whole inventory report: create unseen images (queued for a scan when `settings` say so), then
    apply the snapshot in one transaction."""
    ensure_images(sessions, settings, scope, agent_id, inv.images)
    with transaction(sessions) as session:
        return apply_inventory(session, scope, agent_id, inv, now)


# --- scans run by the agent --------------------------------------------------------------------------


def _inventory_of(upload: ScanUpload) -> ScanInventory:
    return ScanInventory(
        os=upload.os, packages=list(upload.packages), files=list(upload.files), findings=list(upload.findings)
    )


def claim_jobs(
    session: Session, settings: Settings, scope: Scope, agent_id: str, limit: int
) -> list[agent_jobs.AgentJob]:
    """Waiting scan jobs of images only this host has (no other way to read them), now leased to it."""
    host = heartbeat(session, scope, agent_id)
    return agent_jobs.claim_jobs_for_host(session, host.id, limit, settings.scans)


def renew_job(session: Session, settings: Settings, scope: Scope, agent_id: str, job_pk: int) -> bool:
    host = _host(session, scope, agent_id)
    return agent_jobs.heartbeat_job(session, job_pk, agent_jobs.agent_owner(host.id), settings.scans)


def complete_job(
    session: Session, scope: Scope, agent_id: str, job_pk: int, upload: ScanUpload, matchers: MatcherCache
) -> bool:
    """Record an agent's scan: the server matches vulnerabilities (with the process's matcher cache).
    False when the lease was lost."""
    host = _host(session, scope, agent_id)
    return agent_jobs.complete_job(
        session, job_pk, _inventory_of(upload), matchers, owner=agent_jobs.agent_owner(host.id)
    )


def fail_job(session: Session, scope: Scope, agent_id: str, job_pk: int, status: str, reason: str) -> bool:
    host = _host(session, scope, agent_id)
    return agent_jobs.fail_job(session, job_pk, status, reason[:1024], owner=agent_jobs.agent_owner(host.id))


# --- the layer cache, shared with agents -------------------------------------------------------------

#: Largest decoded layer analysis accepted from an agent (the encoded blob is bounded by the request limit).
MAX_LAYER_ANALYSIS_BYTES = 256 * 1024 * 1024


def agent_cache_key(project_id: str, enterprise_project_id: str, key: str) -> str:
    """Where one (project, enterprise project)'s agents store layer analyses: their own key space.

    The key an agent names is a claim (a diff_id it says it read), and so is the analysis it uploads.
    Both are therefore confined to the writer's tenant: the stored key is a domain-separated hash of
    (project, EP, claimed key), which no other tenant's request and no worker lookup can produce, so a
    planted analysis can only ever be read back by the tenant that planted it. Workers key their
    entries by the diff_id they computed from bytes the server read itself (`scan/cache.cache_key`),
    a space agents can neither write into nor read from.
    """
    material = "\x00".join(("openhss-agent-layer-v2", project_id, enterprise_project_id, key))
    return hashlib.sha256(material.encode()).hexdigest()


def _agent_key(scope: Scope, key: str) -> str:
    return agent_cache_key(scope.project_id, scope.creation_ep(), key)


def get_layer(session: Session, scope: Scope, key: str) -> bytes | None:
    """The encoded analysis an agent of the caller's tenant stored for `key`.

    Never a worker's entry: serving those to an agent that merely names a diff_id would hand any
    tenant the packages and secrets of every layer the server ever scanned for anyone.
    """
    return layer_cache.read_blob(session, _agent_key(scope, key))


def put_layer(session: Session, scope: Scope, key: str, blob: bytes) -> bool:
    """Store an agent's encoded analysis after checking it decodes (bounded); False if already known."""
    try:
        params = zstandard.get_frame_parameters(blob)
        if not 0 < params.content_size <= MAX_LAYER_ANALYSIS_BYTES:
            raise ValueError("the layer analysis must declare its size, at most 256 MiB")
        analysis = decode_layer(blob)
    except (ValueError, KeyError, TypeError, zstandard.ZstdError) as exc:
        raise InvalidRequest(f"not a layer analysis of this server's codec: {exc}") from None
    return layer_cache.store_blob(session, _agent_key(scope, key), analysis.diff_id, blob)
