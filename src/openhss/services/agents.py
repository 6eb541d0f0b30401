"""Hosts reported by agents: registration, heartbeats, and the local images and containers on them.

An agent sends its whole inventory (images and running containers) whenever it changed; the server
works out what is new, removed or retagged, so a lost or repeated report can never leave the tables
out of step with the host. One image present on many hosts is one `images` row with many
`image_hosts` rows; `host_num` and `container_num` are recounted for every image a report touched,
under a row lock, so concurrent reports from different hosts keep them exact.

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
from openhss.db.scheduling import LayerCacheEntry
from openhss.db.tenancy import scoped, unscoped
from openhss.domain.errors import Conflict, InvalidRequest, NotFound
from openhss.domain.upload import ScanUpload
from openhss.scan.applier import Inventory as ScanInventory
from openhss.scan.cache import CODEC_VERSION
from openhss.scan.cache import decode as decode_layer
from openhss.services import agent_jobs, scan_tasks
from openhss.services.identity import Scope
from openhss.services.vulndb import MatcherCache

NONE_TAG = "<none>"


@dataclass(frozen=True, slots=True)
class HostInfo:
    agent_id: str
    host_id: str
    host_name: str
    private_ip: str = ""
    public_ip: str = ""
    os_type: str = "Linux"
    version: str = ""
    docker_type: str = ""
    docker_name: str = ""
    cluster_id: str = ""
    cluster_name: str = ""


@dataclass(frozen=True, slots=True)
class LocalImage:
    """An image in a host's local store; `image_id` is the config digest (`sha256:...`)."""

    image_id: str
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    size: int = 0
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class LocalContainer:
    container_id: str
    image_id: str
    container_name: str = ""
    pod_id: str = ""
    pod_name: str = ""
    namespace: str = ""
    entry_point: str = ""
    status: str = "running"


@dataclass(frozen=True, slots=True)
class Inventory:
    images: Sequence[LocalImage] = ()
    containers: Sequence[LocalContainer] = ()


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


def _split_tag(repo_tag: str) -> tuple[str, str]:
    """`registry/repo:tag` → (`registry/repo`, `tag`); the tag is after the last colon past the last /."""
    slash = repo_tag.rfind("/")
    colon = repo_tag.rfind(":")
    if colon > slash:
        return repo_tag[:colon], repo_tag[colon + 1 :]
    return repo_tag, "latest"


def _name_of(img: LocalImage) -> tuple[str, str]:
    tags = [t for t in img.repo_tags if t and not t.startswith(NONE_TAG)]
    if tags:
        return _split_tag(sorted(tags)[0])
    for d in img.repo_digests:
        if "@" in d:
            return d.split("@", 1)[0], NONE_TAG
    return NONE_TAG, NONE_TAG


def _digest_of(img: LocalImage) -> str:
    for d in sorted(img.repo_digests):
        if "@" in d:
            return d.split("@", 1)[1]
    return ""


def ensure_images(
    sessions: sessionmaker[Session],
    settings: Settings,
    scope: Scope,
    agent_id: str,
    images: Sequence[LocalImage],
) -> list[str]:
    """Create the rows of images this project has never seen (each in its own transaction).

    Returns the image ids that were created here.
    """
    with transaction(sessions) as session:
        host = _host(session, scope, agent_id)
        ep, cluster_id, cluster_name = host.enterprise_project_id, host.cluster_id, host.cluster_name
        # Project-wide on purpose: an image another enterprise project already holds is not created
        # again (the unique key is per project); the report then leaves it alone (apply_inventory).
        known = set(
            session.scalars(
                unscoped(
                    select(Image.image_id).where(
                        Image.project_id == scope.project_id,
                        Image.image_type == "local",
                        Image.registry_name == "",
                        Image.image_id.in_([i.image_id for i in images]),
                    ),
                    "existence check against the per-project unique key; no row is returned",
                )
            )
        )
    pending: dict[str, LocalImage] = {}
    for img in images:
        if img.image_id not in known:
            pending.setdefault(img.image_id, img)

    def make(img: LocalImage) -> Image:
        name, version = _name_of(img)
        return Image(
            project_id=scope.project_id,
            enterprise_project_id=ep,
            image_type="local",
            image_id=img.image_id,
            image_digest=_digest_of(img),
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

    if not pending:
        return []
    try:  # the common case: nobody else is creating these, one transaction for all
        with transaction(sessions) as session:
            rows = [make(i) for i in pending.values()]
            session.add_all(rows)
            session.flush()
            for row in rows:
                scan_tasks.on_new_image(session, row.id, settings)
        return list(pending)
    except IntegrityError:
        pass  # another host's report created some of them at the same time: one at a time, then
    created: list[str] = []
    for img in pending.values():
        try:
            with transaction(sessions) as session:
                row = make(img)
                session.add(row)
                session.flush()
                scan_tasks.on_new_image(session, row.id, settings)
        except IntegrityError:
            continue  # another host's report created it first; that row is the one
        created.append(img.image_id)
    return created


def apply_inventory(
    session: Session, scope: Scope, agent_id: str, inv: Inventory, now: datetime | None = None
) -> Changes:
    """Make the host's image links and containers equal to `inv` and recount the images touched.

    The image rows must exist (`ensure_images` first); an unknown image id in `inv` is skipped.
    """
    changes = Changes()
    host = _host(session, scope, agent_id, lock=True)
    host.last_heartbeat = now or _now()
    host.agent_status = "online"
    reported = {i.image_id: i for i in inv.images}
    rows = {
        img.image_id: img
        for img in session.scalars(
            scoped(
                select(Image).where(
                    Image.image_type == "local",
                    Image.registry_name == "",
                    Image.image_id.in_(list(reported)),
                ),
                scope,
            )
        )
    }
    linked = {
        pk: image_id
        for pk, image_id in session.execute(
            select(ImageHost.image_pk, Image.image_id)
            .join(Image, Image.id == ImageHost.image_pk)
            .where(ImageHost.host_pk == host.id)
        ).all()
    }
    old_containers = {
        c.container_id: c for c in session.scalars(select(Container).where(Container.host_pk == host.id))
    }
    now_linked = {rows[i].id for i in reported if i in rows}
    by_image_id = {i: r.id for i, r in rows.items()}
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
        changes.removed_images.extend(sorted(linked[pk] for pk in gone))
    changes.new_images.extend(
        sorted(rows[i].image_id for i in reported if i in rows and rows[i].id not in linked)
    )

    for image_id, img in reported.items():
        row = rows.get(image_id)
        if row is None:
            continue
        tags = {_split_tag(t) for t in img.repo_tags if t and not t.startswith(NONE_TAG)}
        if tags and (row.image_name, row.image_version) not in tags:
            row.image_name, row.image_version = sorted(tags)[0]
            changes.retagged_images.append(image_id)
        digest = _digest_of(img)
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
    inv: Inventory,
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
    blob = session.scalar(
        select(LayerCacheEntry.blob).where(
            LayerCacheEntry.key == _agent_key(scope, key), LayerCacheEntry.codec == CODEC_VERSION
        )
    )
    return bytes(blob) if blob is not None else None


def put_layer(session: Session, scope: Scope, key: str, blob: bytes) -> bool:
    """Store an agent's encoded analysis after checking it decodes (bounded); False if already known."""
    try:
        params = zstandard.get_frame_parameters(blob)
        if not 0 < params.content_size <= MAX_LAYER_ANALYSIS_BYTES:
            raise ValueError("the layer analysis must declare its size, at most 256 MiB")
        analysis = decode_layer(blob)
    except (ValueError, KeyError, TypeError, zstandard.ZstdError) as exc:
        raise InvalidRequest(f"not a layer analysis of this server's codec: {exc}") from None
    own_key = _agent_key(scope, key)
    if session.get(LayerCacheEntry, own_key) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(
                LayerCacheEntry(
                    key=own_key, diff_id=analysis.diff_id[:80], codec=CODEC_VERSION, size=len(blob), blob=blob
                )
            )
    except IntegrityError:
        return False
    return True
