"""Image queries: the local image list with its host/container/pod/app filters, and image lookup.

Host, IP, cluster, container, pod and app filters are real joins (EXISTS sub-queries on indexed
tables), so filtering by "images running on host X" is as cheap as listing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from sqlalchemy import ColumnElement, Exists, Select, exists, func, or_, select
from sqlalchemy.orm import Session

from openhss.db.models import Container, Host, Image, ImageApp, ImageHost
from openhss.db.tenancy import scoped
from openhss.domain.errors import NotFound
from openhss.services.identity import Scope

#: Per-image endpoints name registry flavours; rows store (image_type, registry_type).
IMAGE_TYPE_PARAM: dict[str, tuple[str, str | None]] = {
    "private_image": ("registry", "SwrPrivate"),
    "shared_image": ("registry", "SwrShared"),
    "instance_image": ("registry", "SwrEnterprise"),
    "harbor": ("registry", "Harbor"),
    "jfrog": ("registry", "Jfrog"),
    "cicd": ("cicd", None),
    "local_image": ("local", None),
    "local": ("local", None),
    "registry": ("registry", None),
}


def scoped_images(scope: Scope) -> Select[Image]:
    return scoped(select(Image), scope)


@dataclass(frozen=True, slots=True)
class ImageFilter:
    """Every filter the local list, batch scan, scan tasks and exports share; None = not filtered."""

    image_name: str | None = None
    image_version: str | None = None
    scan_status: str | None = None
    local_image_type: str | None = None
    image_size: int | None = None
    start_latest_update_time: int | None = None
    end_latest_update_time: int | None = None
    start_latest_scan_time: int | None = None
    end_latest_scan_time: int | None = None
    has_vul: bool | None = None
    host_name: str | None = None
    host_id: str | None = None
    host_ip: str | None = None
    public_ip: str | None = None
    private_ip: str | None = None
    cluster_id: str | None = None
    container_id: str | None = None
    container_name: str | None = None
    pod_id: str | None = None
    pod_name: str | None = None
    app_name: str | None = None
    has_container: bool | None = None
    namespace: str | None = None
    image_id: str | None = None
    registry_type: str | None = None
    has_malicious_file: bool | None = None
    has_unsafe_setting: bool | None = None
    risky: bool | None = None
    severity_level: str | None = None

    def as_json(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


def _host_exists(*conds: ColumnElement[bool]) -> Exists:
    return exists(
        select(ImageHost.image_pk)
        .join(Host, Host.id == ImageHost.host_pk)
        .where(ImageHost.image_pk == Image.id, *conds)
    )


def _container_exists(*conds: ColumnElement[bool]) -> Exists:
    return exists(select(Container.id).where(Container.image_pk == Image.id, *conds))


def apply_filter(stmt: Select[Image], f: ImageFilter) -> Select[Image]:
    if f.image_name:
        stmt = stmt.where(Image.image_name.contains(f.image_name, autoescape=True))
        if f.image_version:
            stmt = stmt.where(Image.image_version == f.image_version)
    if f.image_id:
        stmt = stmt.where(Image.image_id == f.image_id)
    if f.namespace:
        stmt = stmt.where(Image.organization == f.namespace)
    if f.registry_type:
        stmt = stmt.where(Image.registry_type == f.registry_type)
    if f.scan_status:
        stmt = stmt.where(Image.scan_status == f.scan_status)
    if f.local_image_type:
        stmt = stmt.where(Image.local_image_type == f.local_image_type)
    if f.image_size is not None:
        stmt = stmt.where(Image.image_size == f.image_size)
    if f.start_latest_update_time is not None:
        stmt = stmt.where(Image.latest_update_time >= f.start_latest_update_time)
    if f.end_latest_update_time is not None:
        stmt = stmt.where(Image.latest_update_time <= f.end_latest_update_time)
    if f.start_latest_scan_time is not None:
        stmt = stmt.where(Image.latest_scan_time >= f.start_latest_scan_time)
    if f.end_latest_scan_time is not None:
        stmt = stmt.where(Image.latest_scan_time <= f.end_latest_scan_time)
    if f.has_vul is not None:
        stmt = stmt.where(Image.scan_status == "success")
        stmt = stmt.where(Image.vul_num > 0 if f.has_vul else Image.vul_num == 0)
    if f.has_malicious_file is not None:
        stmt = stmt.where(
            Image.malicious_file_num > 0 if f.has_malicious_file else Image.malicious_file_num == 0
        )
    if f.has_unsafe_setting is not None:
        stmt = stmt.where(
            Image.unsafe_setting_num > 0 if f.has_unsafe_setting else Image.unsafe_setting_num == 0
        )
    if f.risky is not None:
        risky = or_(Image.vul_num > 0, Image.malicious_file_num > 0, Image.unsafe_setting_num > 0)
        stmt = stmt.where(risky if f.risky else ~risky)
    if f.severity_level:
        stmt = stmt.where(Image.severity_level == f.severity_level)
    if f.cluster_id:
        stmt = stmt.where(Image.cluster_id == f.cluster_id)
    if f.host_name:
        stmt = stmt.where(_host_exists(Host.host_name.contains(f.host_name, autoescape=True)))
    if f.host_id:
        stmt = stmt.where(_host_exists(Host.host_id == f.host_id))
    if f.host_ip:
        stmt = stmt.where(_host_exists(or_(Host.private_ip == f.host_ip, Host.public_ip == f.host_ip)))
    if f.public_ip:
        stmt = stmt.where(_host_exists(Host.public_ip == f.public_ip))
    if f.private_ip:
        stmt = stmt.where(_host_exists(Host.private_ip == f.private_ip))
    if f.container_id:
        stmt = stmt.where(_container_exists(Container.container_id == f.container_id))
    if f.container_name:
        stmt = stmt.where(
            _container_exists(Container.container_name.contains(f.container_name, autoescape=True))
        )
    if f.pod_id:
        stmt = stmt.where(_container_exists(Container.pod_id == f.pod_id))
    if f.pod_name:
        stmt = stmt.where(_container_exists(Container.pod_name.contains(f.pod_name, autoescape=True)))
    if f.has_container is not None:
        stmt = stmt.where(Image.container_num > 0 if f.has_container else Image.container_num == 0)
    if f.app_name:
        stmt = stmt.where(
            exists(
                select(ImageApp.id).where(
                    ImageApp.image_pk == Image.id, ImageApp.app_name.contains(f.app_name, autoescape=True)
                )
            )
        )
    return stmt


def count(session: Session, stmt: Select[Image]) -> int:
    return session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0


def list_local(
    session: Session, scope: Scope, f: ImageFilter, offset: int, limit: int
) -> tuple[int, list[tuple[Image, Host | None]]]:
    stmt = apply_filter(scoped_images(scope).where(Image.image_type == "local"), f)
    total = count(session, stmt)
    images = list(session.scalars(stmt.order_by(Image.id).offset(offset).limit(limit)))
    first_host: dict[int, Host] = {}
    if images:
        for pk, host in session.execute(
            select(ImageHost.image_pk, Host)
            .join(Host, Host.id == ImageHost.host_pk)
            .where(ImageHost.image_pk.in_([i.id for i in images]))
            .order_by(Host.id)
        ).all():
            first_host.setdefault(pk, host)
    return total, [(img, first_host.get(img.id)) for img in images]


def find_image(
    session: Session,
    scope: Scope,
    image_id: str,
    image_type: str,
    *,
    namespace: str | None = None,
    image_name: str | None = None,
    image_version: str | None = None,
) -> Image:
    """The one image a per-image endpoint means; 404 when it is not visible in the caller's scope."""
    row_type, registry_type = IMAGE_TYPE_PARAM[image_type]
    stmt = scoped_images(scope).where(Image.image_type == row_type)
    if registry_type:
        stmt = stmt.where(Image.registry_type == registry_type)
    by_id = stmt.where(Image.image_id == image_id)
    if image_id.isdigit():
        by_id = stmt.where(or_(Image.image_id == image_id, Image.id == int(image_id)))
    candidates = list(session.scalars(by_id.order_by(Image.id).limit(50)))
    if len(candidates) > 1:
        narrowed = [
            c
            for c in candidates
            if (not namespace or c.organization == namespace)
            and (not image_name or c.image_name == image_name)
            and (not image_version or c.image_version == image_version)
        ]
        candidates = narrowed or candidates
    if not candidates:
        raise NotFound(f"image {image_id} does not exist")
    return candidates[0]


def local_images_by_ref(
    session: Session,
    scope: Scope,
    image_digest: str | None,
    image_name: str | None,
    image_version: str | None,
) -> Sequence[int]:
    stmt = scoped(select(Image.id).where(Image.image_type == "local"), scope)
    if image_digest:
        stmt = stmt.where(Image.image_digest == image_digest)
    if image_name:
        stmt = stmt.where(Image.image_name == image_name)
    if image_version:
        stmt = stmt.where(Image.image_version == image_version)
    return list(session.scalars(stmt))


def list_image_hosts(
    session: Session,
    scope: Scope,
    image_pks: Sequence[int],
    host_name: str | None,
    agent_id: str | None,
    offset: int,
    limit: int,
) -> tuple[int, list[Host]]:
    stmt = scoped(
        select(Host).where(
            exists(
                select(ImageHost.host_pk).where(
                    ImageHost.host_pk == Host.id, ImageHost.image_pk.in_(image_pks)
                )
            )
        ),
        scope,
    )
    if host_name:
        stmt = stmt.where(Host.host_name.contains(host_name, autoescape=True))
    if agent_id:
        stmt = stmt.where(Host.agent_id == agent_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    return total, list(session.scalars(stmt.order_by(Host.id).offset(offset).limit(limit)))


def list_image_containers(
    session: Session,
    scope: Scope,
    image_pks: Sequence[int],
    container_id: str | None,
    agent_id: str | None,
    offset: int,
    limit: int,
) -> tuple[int, list[tuple[Container, Host]]]:
    stmt = scoped(
        select(Container, Host)
        .join(Host, Host.id == Container.host_pk)
        .where(Container.image_pk.in_(image_pks)),
        scope,
    )
    if container_id:
        stmt = stmt.where(Container.container_id == container_id)
    if agent_id:
        stmt = stmt.where(Host.agent_id == agent_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(stmt.order_by(Container.id).offset(offset).limit(limit)).all()
    return total, list(rows)
