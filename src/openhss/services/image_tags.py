"""Local images with several tags: one listed row per `image_name:image_version`, one scan per content.

HSS lists local images per name and version (ListImageLocal filters on one `image_name` and one
`image_version`; the per-image APIs take both), so an image tagged `app:1` and `app:latest` is two rows.
They hold the same bytes (the same config digest, `image_id`), so they are scanned once: the scan queue
skips a row whose sibling is already queued or queued with it, and whatever a scan ends with is copied
from the scanned row to its siblings. A row created for a new tag of an image already scanned starts
with that scan's results instead of being scanned again.

Siblings are rows of the same project and enterprise project, local, with the same `image_id`: the
enterprise project is a tenancy boundary, so a copy never crosses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Select, Table, delete, insert, literal, select, update
from sqlalchemy.orm import Session

from openhss.db.models import (
    Image,
    ImageApp,
    ImageFile,
    ImageFinding,
    ImageVulnerability,
    ScanTaskImage,
    VulImageIndex,
)
from openhss.db.scheduling import ImageInventory
from openhss.domain.enums import ScanStatus

#: Every table holding one image's scan results (keyed by `image_pk`), copied as a whole.
RESULT_TABLES = (ImageVulnerability, VulImageIndex, ImageApp, ImageFile, ImageFinding, ImageInventory)

#: The image row's scan state and denormalised result counters, copied with the results.
SUMMARY_COLUMNS = (
    "scan_status",
    "scan_failed_desc",
    "first_scan_time",
    "latest_scan_time",
    "vul_num",
    "unsafe_setting_num",
    "malicious_file_num",
    "component_num",
    "severity_level",
)


def _siblings_of(image: Image) -> Select[int]:
    return select(Image.id).where(
        Image.project_id == image.project_id,
        Image.enterprise_project_id == image.enterprise_project_id,
        Image.image_type == "local",
        Image.registry_name == "",
        Image.image_id == image.image_id,
        Image.id != image.id,
    )


def sibling_pks(session: Session, image_pk: int) -> list[int]:
    """The other tag rows of a local image (empty for registry and CI/CD images)."""
    image = session.get(Image, image_pk)
    if image is None or image.image_type != "local":
        return []
    return list(session.scalars(_siblings_of(image).order_by(Image.id)))


def copy_results(session: Session, src_pk: int, dst_pks: Sequence[int]) -> None:
    """Make the rows `dst_pks` hold exactly the scan results and scan state of `src_pk`.

    Done in SQL (`INSERT ... SELECT`), so no result row passes through Python; the database's triggers
    on `vul_image_index` keep the per-vulnerability image counts right for the copies too.
    """
    targets = [pk for pk in dst_pks if pk != src_pk]
    if not targets:
        return
    for model in RESULT_TABLES:
        table = cast(Table, model.__table__)
        session.execute(delete(table).where(table.c.image_pk.in_(targets)))
        columns = [c for c in table.c if c.name != "id"]
        for pk in targets:
            rows = select(
                *(literal(pk).label("image_pk") if c.name == "image_pk" else c for c in columns)
            ).where(table.c.image_pk == src_pk)
            session.execute(insert(table).from_select([c.name for c in columns], rows))
    src = session.get_one(Image, src_pk)
    values = {name: getattr(src, name) for name in SUMMARY_COLUMNS}
    session.execute(
        update(Image)
        .where(Image.id.in_(targets))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    for image in list(session.identity_map.values()):  # rows loaded in this session see the copy
        if isinstance(image, Image) and image.id in targets:
            session.refresh(image)


def share_scan(session: Session, image_pk: int) -> list[int]:
    """After a scan of `image_pk` ended (any status): its siblings get the same results; returns them."""
    siblings = sibling_pks(session, image_pk)
    copy_results(session, image_pk, siblings)
    return siblings


def adopt_scan(session: Session, image_pk: int) -> bool:
    """A new tag row of an image a sibling already scanned takes that scan's results; True if it did."""
    image = session.get(Image, image_pk)
    if image is None or image.image_type != "local":
        return False
    source = session.scalar(
        _siblings_of(image)
        .where(Image.latest_scan_time > 0)
        .order_by(Image.latest_scan_time.desc(), Image.id)
        .limit(1)
    )
    if source is None:
        return False
    copy_results(session, source, [image_pk])
    return True


def covered(session: Session, image_pks: Sequence[int]) -> set[int]:
    """Which of `image_pks` need no scan job of their own: a sibling of theirs is waiting or scanning,
    or comes earlier in `image_pks`. Their results arrive with that sibling's (`share_scan`)."""
    wanted = list(image_pks)
    keys: dict[int, tuple[str, str, str]] = {}
    for i in range(0, len(wanted), 1000):
        for pk, project, ep, image_id in session.execute(
            select(Image.id, Image.project_id, Image.enterprise_project_id, Image.image_id).where(
                Image.id.in_(wanted[i : i + 1000]), Image.image_type == "local", Image.registry_name == ""
            )
        ):
            keys[pk] = (project, ep, image_id)
    out: set[int] = set()
    seen: set[tuple[str, str, str]] = set()
    for pk in wanted:
        key = keys.get(pk)
        if key is not None:
            if key in seen:
                out.add(pk)
            seen.add(key)
    groups: dict[str, list[int]] = {}
    for pk, (_project, _ep, image_id) in keys.items():
        groups.setdefault(image_id, []).append(pk)
    ids = sorted(groups)
    active = select(ScanTaskImage.image_pk).where(
        ScanTaskImage.status.in_((ScanStatus.WAITING.value, ScanStatus.SCANNING.value))
    )
    for i in range(0, len(ids), 1000):
        for busy_pk, project, ep, image_id in session.execute(
            select(Image.id, Image.project_id, Image.enterprise_project_id, Image.image_id).where(
                Image.image_id.in_(ids[i : i + 1000]),
                Image.image_type == "local",
                Image.registry_name == "",
                Image.id.in_(active),
            )
        ):
            out.update(pk for pk in groups[image_id] if pk != busy_pk and keys[pk] == (project, ep, image_id))
    return out
