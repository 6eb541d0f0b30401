"""Image queries: the local image list with its host/container/pod/app filters, and image lookup.

Host, IP, cluster, container, pod and app filters are real joins (EXISTS sub-queries on indexed
tables), so filtering by "images running on host X" is as cheap as listing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import ColumnElement, Exists, Select, and_, exists, func, or_, select
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

    @classmethod
    def of(cls, request: object, **overrides: object) -> ImageFilter:
        """The filters a request model carries, taken by field name (the HSS names are the same)."""
        names = {f.name for f in fields(cls)}
        found = {n: getattr(request, n) for n in names if getattr(request, n, None) is not None}
        found.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**found)


def _host_exists(*conds: ColumnElement[bool]) -> Exists:
    return exists(
        select(ImageHost.image_pk)
        .join(Host, Host.id == ImageHost.host_pk)
        .where(ImageHost.image_pk == Image.id, *conds)
    )


def _container_exists(*conds: ColumnElement[bool]) -> Exists:
    return exists(select(Container.id).where(Container.image_pk == Image.id, *conds))


def _flag(column: Any) -> Callable[[bool], ColumnElement[bool]]:
    return lambda wanted: column > 0 if wanted else column == 0


def _has_vul(wanted: bool) -> ColumnElement[bool]:
    # "has no vulnerability" only means something for an image that was scanned
    return and_(Image.scan_status == "success", Image.vul_num > 0 if wanted else Image.vul_num == 0)


def _risky(wanted: bool) -> ColumnElement[bool]:
    risky = or_(Image.vul_num > 0, Image.malicious_file_num > 0, Image.unsafe_setting_num > 0)
    return risky if wanted else ~risky


def _contains(column: Any) -> Callable[[str], ColumnElement[bool]]:
    return lambda value: column.contains(value, autoescape=True)


def _eq(column: Any) -> Callable[[Any], ColumnElement[bool]]:
    return lambda value: column == value


#: Every image filter, declared once: HSS field name → the condition it adds. `ImageFilter` has exactly
#: these fields (a test holds them together), and routes build it from their request models by name
#: (`ImageFilter.of`), so a filter is named in the request model and here, nowhere else.
IMAGE_FILTERS: dict[str, Callable[[Any], ColumnElement[bool]]] = {
    "image_name": _contains(Image.image_name),
    "image_version": _eq(Image.image_version),
    "image_id": _eq(Image.image_id),
    "namespace": _eq(Image.organization),
    "registry_type": _eq(Image.registry_type),
    "scan_status": _eq(Image.scan_status),
    "local_image_type": _eq(Image.local_image_type),
    "image_size": _eq(Image.image_size),
    "start_latest_update_time": lambda v: Image.latest_update_time >= v,
    "end_latest_update_time": lambda v: Image.latest_update_time <= v,
    "start_latest_scan_time": lambda v: Image.latest_scan_time >= v,
    "end_latest_scan_time": lambda v: Image.latest_scan_time <= v,
    "has_vul": _has_vul,
    "has_malicious_file": _flag(Image.malicious_file_num),
    "has_unsafe_setting": _flag(Image.unsafe_setting_num),
    "risky": _risky,
    "severity_level": _eq(Image.severity_level),
    "cluster_id": _eq(Image.cluster_id),
    "host_name": lambda v: _host_exists(Host.host_name.contains(v, autoescape=True)),
    "host_id": lambda v: _host_exists(Host.host_id == v),
    "host_ip": lambda v: _host_exists(or_(Host.private_ip == v, Host.public_ip == v)),
    "public_ip": lambda v: _host_exists(Host.public_ip == v),
    "private_ip": lambda v: _host_exists(Host.private_ip == v),
    "container_id": lambda v: _container_exists(Container.container_id == v),
    "container_name": lambda v: _container_exists(Container.container_name.contains(v, autoescape=True)),
    "pod_id": lambda v: _container_exists(Container.pod_id == v),
    "pod_name": lambda v: _container_exists(Container.pod_name.contains(v, autoescape=True)),
    "has_container": _flag(Image.container_num),
    "app_name": lambda v: exists(
        select(ImageApp.id).where(
            ImageApp.image_pk == Image.id, ImageApp.app_name.contains(v, autoescape=True)
        )
    ),
}


def apply_filter(stmt: Select[Image], f: ImageFilter) -> Select[Image]:
    """`stmt` narrowed by every filter `f` sets (each one alone, independent of the others)."""
    for name, value in f.as_json().items():
        if value != "":  # an empty string is "not given" in HSS query strings
            stmt = stmt.where(IMAGE_FILTERS[name](value))
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
