"""Customer image registries: connection settings, the connectivity check, and syncing their images.

A registry's password is encrypted at rest with the service key and decrypted only here, to talk to
the registry; nothing this module returns to the API carries it, and error texts never include it.

Sync walks `_catalog` → `tags/list` → manifests and keeps one `images` row (image_type `registry`)
per repository:tag, with a `registry_images` row naming where it came from. The network walk runs
outside any transaction; its result is applied in one short transaction, so a failed walk leaves the
previous sync's rows untouched and a reader never sees a half-applied sync. A tag whose digest did
not change is not fetched again (only its manifest digest is compared), so a periodic resync of a
large registry costs one manifest request per tag.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import socket
import ssl
import time
import urllib.parse
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from openhss.config import RegistryTargets, Settings
from openhss.db.engine import transaction
from openhss.db.models import Image, Registry, RegistryImage, RegistryImageArch
from openhss.db.tenancy import scoped, unscoped
from openhss.domain.errors import Conflict, InvalidRequest, NotFound
from openhss.scan.errors import AuthenticationFailed, DownloadFailed, ScanError
from openhss.scan.image import (
    INDEX_TYPES,
    Platform,
    index_manifests,
    load_json,
    parse_manifest,
    select_platform,
)
from openhss.scan.refs import ImageRef, Transport
from openhss.scan.sources.base import Credentials, SourceOptions
from openhss.scan.sources.distribution import RegistryClient
from openhss.services import dispatch, scan_tasks
from openhss.services.crypto import SecretBox
from openhss.services.identity import Scope
from openhss.services.results import now_ms

log = logging.getLogger(__name__)

SYNC_TASK = "openhss.sync_registry"
#: Platform images kept per multi-arch tag (real indexes name a dozen at most; a hostile one, more).
MAX_ARCHS = 64
REGISTRY_TYPES = ("Harbor", "Jfrog", "SwrPrivate", "SwrShared", "SwrEnterprise", "Other")
#: `registry_type` → the `image_type` value registry-image rows show (RegistryImagesInfo).
IMAGE_TYPE_OF = {
    "SwrPrivate": "private_image",
    "SwrShared": "shared_image",
    "SwrEnterprise": "instance_image",
    "Harbor": "harbor",
    "Jfrog": "jfrog",
    "Other": "other",
}
REGISTRY_TYPE_OF = {v: k for k, v in IMAGE_TYPE_OF.items()}
#: Most images one registry sync records (RegistryInfo.images_num is 0-20000).
MAX_IMAGES = 20_000
#: Wall-clock budget of one registry walk (listing and reading every manifest).
SYNC_SECONDS = 1800.0


@dataclass(frozen=True, slots=True)
class Connection:
    """How to reach one registry; `password` is plaintext only in memory, never in a repr."""

    addr: str
    protocol: str
    username: str
    password: str = field(repr=False)
    ca_file: str | None = None

    def source_options(self, scratch_dir: Path | None = None, registry_type: str = "other") -> SourceOptions:
        return SourceOptions(
            credentials=Credentials(self.username, self.password) if self.username else None,
            insecure=self.protocol == "http",
            ca_file=self.ca_file,
            default_registry=self.addr,
            timeout=30.0,
            retries=2,
            backoff=0.2,
            scratch_dir=scratch_dir,
            registry_type=registry_type,
        )


@dataclass(frozen=True, slots=True)
class RegistryFields:
    """The writable fields of a registry (add: all required ones set; update: None = unchanged)."""

    registry_name: str | None = None
    registry_type: str | None = None
    api_version: str | None = None
    protocol: str | None = None
    registry_addr: str | None = None
    registry_username: str | None = None
    registry_password: str | None = field(default=None, repr=False)
    namespace: str | None = None
    connect_cluster_id: str | None = None
    get_scan_image_channel: str | None = None
    ca_cert: str | None = None
    latest_version_only: bool | None = None


@dataclass(frozen=True, slots=True)
class ArchImage:
    """One platform manifest of a multi-architecture tag's index."""

    digest: str
    os: str
    architecture: str
    variant: str
    size: int


@dataclass(frozen=True, slots=True)
class TagInfo:
    """One repository:tag as the registry has it now."""

    repository: str
    tag: str
    digest: str
    size: int
    created_ms: int
    multi_arch: bool
    #: The platform images of a multi-arch tag (empty for a single manifest).
    archs: tuple[ArchImage, ...] = ()


# --- connection and the connectivity check ---------------------------------------------------------


def ca_path(settings: Settings, registry_id: str, pem: str) -> str | None:
    """The registry's CA bundle as a file (the TLS stack wants a path); rewritten only when it changed."""
    if not pem:
        return None
    directory = settings.ensure_data_dir() / "registry-ca"
    directory.mkdir(mode=0o700, exist_ok=True)
    path = directory / f"{registry_id}.pem"
    if not path.exists() or path.read_text() != pem:
        path.write_text(pem)
    return str(path)


def connection(settings: Settings, box: SecretBox, reg: Registry) -> Connection:
    return Connection(
        addr=reg.registry_addr,
        protocol=reg.protocol,
        username=reg.registry_username,
        password=box.decrypt(reg.password_encrypted),
        ca_file=ca_path(settings, reg.registry_id, reg.ca_cert),
    )


def _client(conn: Connection, repository: str = "", scope: str = "") -> RegistryClient:
    ref = ImageRef(Transport.REGISTRY, registry=conn.addr, repository=repository or "library/probe")
    return RegistryClient(ref, conn.source_options(), scope=scope)


class TargetRefused(InvalidRequest):
    """The registry address resolves to a network the `registry_targets` policy does not allow."""


def _host_of(addr: str) -> str:
    netloc = urllib.parse.urlsplit("//" + addr.split("://", 1)[-1]).hostname
    return netloc or ""


def check_target(policy: RegistryTargets, addr: str) -> None:
    """Refuse an address (as every one of its DNS answers) in a network the policy keeps out of reach.

    Checked on save, before each sync and each pull, so a name re-pointed later is refused too.
    """
    host = _host_of(addr)
    if not host:
        raise TargetRefused(f"invalid parameter registry_addr: {addr!r} names no host")
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        # Nothing to connect to; the uniform connectivity failure below reports it.
        return
    allowed = [ipaddress.ip_network(n, strict=False) for n in policy.allow_networks]
    denied = [ipaddress.ip_network(n, strict=False) for n in policy.deny_networks]
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in net for net in allowed):
            continue
        reason = ""
        if ip.is_loopback and not policy.allow_loopback:
            reason = "loopback"
        elif ip.is_link_local and not policy.allow_link_local:
            reason = "link-local (cloud metadata)"
        elif ip.is_unspecified or ip.is_multicast:
            reason = "unspecified or multicast"
        elif any(ip in net for net in denied):
            reason = "denied"
        if reason:
            raise TargetRefused(
                f"invalid parameter registry_addr: {host} is a {reason} address, which the registry "
                "target policy does not allow (an administrator can allow it: registry_targets)"
            )


#: The one message for every connectivity failure that is not the registry refusing the credentials:
#: a refused port, a timeout, a TLS error and a web server that is not a registry all read the same, so
#: the check cannot be used to map which hosts and ports answer (the reason stays in the log).
UNREACHABLE = "registry connectivity check failed: {addr} could not be reached as a v2 registry"


def check_connectivity(settings: Settings, conn: Connection) -> None:
    """Refuse settings the registry does not accept: 400, never the password, never a port-scan oracle."""
    try:
        check_target(settings.registry_targets, conn.addr)
        client = _client(conn, scope="registry:catalog:*")
        try:
            client.check_access()
        finally:
            client.close()
    except AuthenticationFailed:
        raise InvalidRequest(
            f"registry connectivity check failed: {conn.addr} refused the user name or password"
        ) from None
    except (ScanError, OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, ScanError) else f"{type(exc).__name__}: {exc}"
        log.info("registry connectivity check of %s failed: %s", conn.addr, _scrub(reason, conn))
        raise InvalidRequest(UNREACHABLE.format(addr=conn.addr)) from None
    finally:
        if conn.ca_file and Path(conn.ca_file).name.startswith(PENDING_CA):
            Path(conn.ca_file).unlink(missing_ok=True)


def _scrub(text: str, conn: Connection) -> str:
    return text.replace(conn.password, "***") if conn.password else text


# --- CRUD ------------------------------------------------------------------------------------------


def get_registry(session: Session, scope: Scope, registry_id: str) -> Registry:
    reg: Registry | None = session.scalar(
        scoped(select(Registry).where(Registry.registry_id == registry_id), scope)
    )
    if reg is None:
        raise NotFound(f"registry {registry_id} does not exist")
    return reg


def pending_connection(
    settings: Settings, box: SecretBox, f: RegistryFields, current: Registry | None = None
) -> Connection:
    """The connection `f` would give (merged over `current` on update), for the check before saving."""
    addr = f.registry_addr if f.registry_addr is not None else (current.registry_addr if current else "")
    protocol = f.protocol or (current.protocol if current else "https")
    username = (
        f.registry_username
        if f.registry_username is not None
        else (current.registry_username if current else "")
    )
    if f.registry_password is not None:
        password = f.registry_password
    elif current is not None and (
        addr,
        protocol,
        f.ca_cert if f.ca_cert is not None else current.ca_cert,
    ) != (
        current.registry_addr,
        current.protocol,
        current.ca_cert,
    ):
        # The stored password was given for the old address and trust; sending it to a new host (one
        # the updater controls), over plain http, or to whoever a CA the updater supplied vouches for
        # would hand it over. The new place needs it typed again.
        raise InvalidRequest(
            "invalid parameter registry_password: required when registry_addr, protocol or ca_cert "
            "changes (the stored password is never sent to a new address)"
        )
    else:
        password = box.decrypt(current.password_encrypted) if current else ""
    pem = f.ca_cert if f.ca_cert is not None else (current.ca_cert if current else "")
    ca_file = None
    if pem:
        _validate_pem(pem)
        # A file of its own for the check (removed after it), so a refused update never replaces the
        # CA file the saved settings use.
        ca_file = ca_path(settings, PENDING_CA + hashlib.sha256(pem.encode()).hexdigest()[:16], pem)
    if (f.api_version or (current.api_version if current else "V2")) != "V2":
        raise InvalidRequest("api_version V1 (the Docker registry v1 API) is not supported; use V2")
    return Connection(addr, protocol, username, password, ca_file)


PENDING_CA = "pending-"


def _validate_pem(pem: str) -> None:
    """A CA bundle the TLS stack cannot load is the caller's mistake (400), found before any file exists."""
    try:
        ssl.create_default_context(cadata=pem)
    except (ssl.SSLError, ValueError, UnicodeError):
        raise InvalidRequest("invalid parameter ca_cert: not a PEM certificate bundle") from None


def add_registry(session: Session, box: SecretBox, scope: Scope, f: RegistryFields) -> Registry:
    """Store a registry whose connectivity was already checked, and queue its first sync."""
    ep = scope.creation_ep()
    assert f.registry_name and f.registry_type and f.registry_addr and f.registry_password is not None
    if session.scalar(
        unscoped(
            select(Registry.id).where(
                Registry.project_id == scope.project_id, Registry.registry_name == f.registry_name
            ),
            "registry names are unique per project (the table's key): an existence check",
        )
    ):
        raise Conflict(f"a registry named {f.registry_name!r} already exists")
    reg = Registry(
        registry_id=uuid.uuid4().hex,
        project_id=scope.project_id,
        enterprise_project_id=ep,
        registry_name=f.registry_name,
        registry_type=f.registry_type,
        api_version=f.api_version or "V2",
        protocol=f.protocol or "https",
        registry_addr=f.registry_addr,
        registry_username=f.registry_username or "",
        password_encrypted=box.encrypt(f.registry_password),
        namespace=f.namespace or "",
        connect_cluster_id=f.connect_cluster_id or "",
        get_scan_image_channel=f.get_scan_image_channel or "Other",
        ca_cert=f.ca_cert or "",
        latest_version_only=bool(f.latest_version_only),
        status="success",
    )
    session.add(reg)
    session.flush()
    dispatch.after_commit(session, SYNC_TASK, [reg.id])
    return reg


def update_registry(session: Session, box: SecretBox, reg: Registry, f: RegistryFields) -> None:
    for name in (
        "api_version",
        "protocol",
        "registry_addr",
        "registry_username",
        "namespace",
        "connect_cluster_id",
        "get_scan_image_channel",
        "ca_cert",
        "latest_version_only",
    ):
        value = getattr(f, name)
        if value is not None:
            setattr(reg, name, value)
    if f.registry_password is not None:
        reg.password_encrypted = box.encrypt(f.registry_password)
    reg.status, reg.fail_reason = "success", ""
    dispatch.after_commit(session, SYNC_TASK, [reg.id])


def delete_registries(session: Session, scope: Scope, registry_ids: Sequence[str]) -> int:
    """Delete registries and the images synced from them (their scan results go with them)."""
    regs = list(
        session.scalars(scoped(select(Registry).where(Registry.registry_id.in_(list(registry_ids))), scope))
    )
    missing = set(registry_ids) - {r.registry_id for r in regs}
    if missing:
        raise NotFound(f"registry {sorted(missing)[0]} does not exist")
    for reg in regs:
        pks = select(RegistryImage.image_pk).where(RegistryImage.registry_pk == reg.id)
        session.execute(delete(Image).where(Image.id.in_(pks)))
        session.delete(reg)
    return len(regs)


@dataclass(frozen=True, slots=True)
class RegistryQuery:
    registry_name: str | None = None
    registry_id: str | None = None
    registry_types: tuple[str, ...] = ()
    registry_addr: str | None = None
    status: str | None = None


def list_registries(
    session: Session, scope: Scope, q: RegistryQuery, offset: int, limit: int
) -> tuple[int, list[Registry]]:
    stmt = scoped(select(Registry), scope)
    if q.registry_name:
        stmt = stmt.where(Registry.registry_name.contains(q.registry_name, autoescape=True))
    if q.registry_id:
        stmt = stmt.where(Registry.registry_id == q.registry_id)
    if q.registry_types:
        stmt = stmt.where(Registry.registry_type.in_(q.registry_types))
    if q.registry_addr:
        stmt = stmt.where(Registry.registry_addr.contains(q.registry_addr, autoescape=True))
    if q.status:
        stmt = stmt.where(Registry.status == q.status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    return total, list(session.scalars(stmt.order_by(Registry.id).offset(offset).limit(limit)))


def statistics(session: Session, scope: Scope, registry_types: tuple[str, ...]) -> tuple[int, int]:
    """(success_num, fail_num)."""
    stmt = scoped(select(Registry.status, func.count()).group_by(Registry.status), scope)
    if registry_types:
        stmt = stmt.where(Registry.registry_type.in_(registry_types))
    counts = {status: n for status, n in session.execute(stmt).all()}
    return counts.get("success", 0), counts.get("fail", 0)


def queue_syncs(session: Session, scope: Scope, registry_ids: Sequence[str] | None) -> int:
    """Queue a sync of the named registries (None = all of the scope's); sent when the caller commits."""
    stmt = scoped(select(Registry.id), scope)
    if registry_ids is not None:
        stmt = stmt.where(Registry.registry_id.in_(list(registry_ids)))
    pks = list(session.scalars(stmt))
    if registry_ids is not None and len(pks) != len(set(registry_ids)):
        raise NotFound("one of the registries to synchronise does not exist")
    for pk in pks:
        dispatch.after_commit(session, SYNC_TASK, [pk])
    return len(pks)


# --- sync ------------------------------------------------------------------------------------------


def split_repository(repository: str) -> tuple[str, str]:
    """(organization, image name): the first path component is the namespace, as Harbor and SWR use it."""
    org, sep, rest = repository.partition("/")
    return (org, rest) if sep else ("", repository)


def image_key(registry_id: str, repository: str, tag: str) -> str:
    """A stable image_id for a registry image row, unique in its registry and at most 64 characters."""
    return hashlib.sha256(f"{registry_id}/{repository}:{tag}".encode()).hexdigest()[:32]


def _created_ms(created: str) -> int:
    if not created:
        return 0
    try:
        return int(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return 0


def _describe(client: RegistryClient, repository: str, tag: str, known: dict[str, TagInfo]) -> TagInfo:
    digest, data, kind = client.manifest(tag)
    old = known.get(digest)
    if old is not None:
        return TagInfo(repository, tag, digest, old.size, old.created_ms, old.multi_arch, old.archs)
    multi = kind in INDEX_TYPES
    archs: tuple[ArchImage, ...] = ()
    if multi:
        index = load_json(data, "index")
        archs = tuple(
            ArchImage(
                d.digest[:128],
                d.platform.os[:32] if d.platform else "",
                d.platform.architecture[:32] if d.platform else "",
                d.platform.variant[:32] if d.platform else "",
                d.size,
            )
            for d in index_manifests(index)[:MAX_ARCHS]
        )
        chosen = select_platform(index, Platform())
        _, data, kind = client.manifest(chosen.digest)
    manifest = parse_manifest(data, kind)
    size = manifest.config.size + sum(layer.size for layer in manifest.layers)
    config = load_json(client.blob(manifest.config.digest), "image config")
    created = config.get("created")
    return TagInfo(
        repository, tag, digest, size, _created_ms(created if isinstance(created, str) else ""), multi, archs
    )


def walk_registry(
    conn: Connection, known: dict[str, TagInfo], limit: int = MAX_IMAGES, max_seconds: float = SYNC_SECONDS
) -> list[TagInfo]:
    """Every repository:tag of the registry with its digest, size and creation time (network only).

    `known` maps manifest digests from the previous sync to what was learnt about them then. The walk
    is bounded in pages (see `RegistryClient.paged`) and in total time: a registry that never ends its
    lists fails the sync (`DownloadFailed`, previous images kept) instead of holding a worker forever.
    """
    deadline = time.monotonic() + max_seconds
    catalog = _client(conn, scope="registry:catalog:*")
    try:
        repositories = catalog.paged("/v2/_catalog", "repositories", limit=limit, deadline=deadline)
    finally:
        catalog.close()
    out: list[TagInfo] = []
    for repository in sorted(set(repositories)):
        client = _client(conn, repository)
        try:
            tags = client.paged(f"/v2/{repository}/tags/list", "tags", limit=limit, deadline=deadline)
            for tag in sorted(set(tags)):
                if time.monotonic() > deadline:
                    raise DownloadFailed(f"registry {conn.addr}: sync over its {max_seconds:g} s budget")
                if len(out) >= limit:
                    log.warning(
                        "registry %s has more than %d images; the rest are not synced", conn.addr, limit
                    )
                    return out
                out.append(_describe(client, repository, tag, known))
        finally:
            client.close()
    return out


def _rank(t: TagInfo) -> tuple[int, bool, str]:
    return (t.created_ms, t.tag == "latest", t.tag)


def latest_tags(tags: Sequence[TagInfo]) -> set[tuple[str, str]]:
    """The newest tag of each repository: latest creation time, then the tag `latest`, then the
    greatest tag name, so the choice is stable when images carry no creation time."""
    best: dict[str, TagInfo] = {}
    for t in tags:
        cur = best.get(t.repository)
        if cur is None or (t.created_ms, t.tag == "latest", t.tag) > (
            cur.created_ms,
            cur.tag == "latest",
            cur.tag,
        ):
            best[t.repository] = t
    return {(t.repository, t.tag) for t in best.values()}


@dataclass(frozen=True, slots=True)
class SyncResult:
    added: int
    updated: int
    removed: int
    total: int


def _archs(session: Session, image_pks: Sequence[int]) -> dict[int, tuple[ArchImage, ...]]:
    out: dict[int, list[ArchImage]] = {}
    for i in range(0, len(image_pks), 1000):
        for row in session.scalars(
            select(RegistryImageArch)
            .where(RegistryImageArch.image_pk.in_(image_pks[i : i + 1000]))
            .order_by(RegistryImageArch.id)
        ):
            out.setdefault(row.image_pk, []).append(
                ArchImage(row.digest, row.os, row.architecture, row.variant, row.size)
            )
    return {pk: tuple(v) for pk, v in out.items()}


def _known(session: Session, registry_pk: int) -> dict[str, TagInfo]:
    """What the last sync learnt per manifest digest. A multi-arch tag stored without its platform
    images (synced before they were kept) is left out, so the next walk describes it again."""
    rows = session.execute(
        select(RegistryImage, Image)
        .join(Image, Image.id == RegistryImage.image_pk)
        .where(RegistryImage.registry_pk == registry_pk)
    ).all()
    archs = _archs(session, [img.id for _ri, img in rows if img.is_multi_arch])
    return {
        img.image_digest: TagInfo(
            ri.repository,
            ri.tag,
            img.image_digest,
            img.image_size,
            img.latest_update_time,
            img.is_multi_arch,
            archs.get(img.id, ()),
        )
        for ri, img in rows
        if not img.is_multi_arch or img.id in archs
    }


def _set_archs(session: Session, image_pk: int, archs: Sequence[ArchImage]) -> None:
    session.execute(delete(RegistryImageArch).where(RegistryImageArch.image_pk == image_pk))
    session.add_all(
        RegistryImageArch(
            image_pk=image_pk,
            digest=a.digest,
            os=a.os,
            architecture=a.architecture,
            variant=a.variant,
            size=a.size,
        )
        for a in archs
    )


def apply_sync(
    session: Session, settings: Settings, reg: Registry, tags: Sequence[TagInfo], at: int
) -> SyncResult:
    """Make the registry's image rows match `tags`, in the caller's transaction (a new image is queued
    for a scan when `scans.scan_on_new_image` is on)."""
    latest = latest_tags(tags)
    if reg.latest_version_only:
        tags = [t for t in tags if (t.repository, t.tag) in latest]
    existing = {
        (ri.repository, ri.tag): (ri, img)
        for ri, img in session.execute(
            select(RegistryImage, Image)
            .join(Image, Image.id == RegistryImage.image_pk)
            .where(RegistryImage.registry_pk == reg.id)
        ).all()
    }
    stored_archs = _archs(session, [img.id for _ri, img in existing.values() if img.is_multi_arch])
    added = updated = 0
    seen: set[tuple[str, str]] = set()
    for t in tags:
        key = (t.repository, t.tag)
        seen.add(key)
        org, name = split_repository(t.repository)
        found = existing.get(key)
        if found is None:
            img = Image(
                project_id=reg.project_id,
                enterprise_project_id=reg.enterprise_project_id,
                image_type="registry",
                image_id=image_key(reg.registry_id, t.repository, t.tag),
                image_digest=t.digest,
                image_name=name,
                image_version=t.tag,
                registry_name=reg.registry_name,
                registry_type=reg.registry_type,
                organization=org,
                image_size=t.size,
                is_multi_arch=t.multi_arch,
                latest_update_time=t.created_ms,
                scan_status="unscan",
            )
            session.add(img)
            session.flush()
            session.add(
                RegistryImage(
                    image_pk=img.id,
                    registry_pk=reg.id,
                    repository=t.repository,
                    tag=t.tag,
                    latest_version=key in latest,
                    latest_sync_time=at,
                )
            )
            _set_archs(session, img.id, t.archs)
            added += 1
            scan_tasks.on_new_image(session, img.id, settings)
            continue
        ri, img = found
        ri.latest_version = key in latest
        ri.latest_sync_time = at
        img.registry_name, img.registry_type = reg.registry_name, reg.registry_type
        if t.archs != stored_archs.get(img.id, ()):
            _set_archs(session, img.id, t.archs)
            img.is_multi_arch = t.multi_arch
        if img.image_digest != t.digest:
            # The tag now names other content: earlier results describe an image no longer there.
            img.image_digest = t.digest
            img.image_size = t.size
            img.is_multi_arch = t.multi_arch
            img.latest_update_time = t.created_ms
            img.scan_status = "unscan"
            updated += 1
            scan_tasks.on_new_image(session, img.id, settings)
    gone = [img.id for key, (_, img) in existing.items() if key not in seen]
    if gone:
        session.execute(delete(Image).where(Image.id.in_(gone)))
    reg.images_num = len(tags)
    reg.latest_sync_time = at
    reg.status, reg.fail_reason = "success", ""
    return SyncResult(added, updated, len(gone), len(tags))


def sync_registry(
    settings: Settings, sessions: sessionmaker[Session], box: SecretBox, registry_pk: int
) -> SyncResult | None:
    """The whole sync of one registry: read its settings, walk it, apply. None when it no longer exists.

    A walk that fails marks the registry `fail` (REQUEST_API_ERROR) and keeps its previous images.
    """
    with transaction(sessions) as session:
        reg = session.get(Registry, registry_pk)
        if reg is None:
            return None
        conn = connection(settings, box, reg)
        known = _known(session, reg.id)
    try:
        check_target(settings.registry_targets, conn.addr)
        tags = walk_registry(conn, known)
    except (ScanError, OSError, TargetRefused) as exc:
        reason = _scrub(exc.reason if isinstance(exc, ScanError) else str(exc), conn)
        log.warning("sync of registry %s (%s) failed: %s", registry_pk, conn.addr, reason)
        with transaction(sessions) as session:
            reg = session.get(Registry, registry_pk)
            if reg is not None:
                reg.status, reg.fail_reason = "fail", "REQUEST_API_ERROR"
        return None
    with transaction(sessions) as session:
        reg = session.get(Registry, registry_pk, with_for_update=True)
        if reg is None:
            return None
        result = apply_sync(session, settings, reg, tags, now_ms())
    log.info(
        "synced registry %s: %d images (%d new, %d changed, %d removed)",
        registry_pk,
        result.total,
        result.added,
        result.updated,
        result.removed,
    )
    return result


def all_registry_pks(session: Session) -> list[int]:
    return list(session.scalars(select(Registry.id).order_by(Registry.id)))


# --- scanning registry images ------------------------------------------------------------------------


def registry_ref(
    settings: Settings, box: SecretBox, session: Session, image: Image, scratch_dir: Path | None = None
) -> tuple[ImageRef, SourceOptions]:
    """The reference and source options (address, decrypted credentials, TLS) to pull a registry image."""
    found = session.execute(
        select(RegistryImage, Registry)
        .join(Registry, Registry.id == RegistryImage.registry_pk)
        .where(RegistryImage.image_pk == image.id)
    ).first()
    if found is None:
        raise NotFound(f"image {image.id} did not come from a registry sync")
    ri, reg = found
    check_target(settings.registry_targets, reg.registry_addr)
    conn = connection(settings, box, reg)
    ref = ImageRef(
        Transport.REGISTRY,
        registry=conn.addr,
        repository=ri.repository,
        tag=ri.tag,
        digest=image.image_digest,
    )
    return ref, conn.source_options(scratch_dir=scratch_dir, registry_type=reg.registry_type)
