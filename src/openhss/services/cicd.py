"""CI/CD images: a pipeline scans its freshly built image itself and uploads the inventory.

The image is one `images` row of image_type `cicd` per (pipeline name, image id); a rebuild with new
content is a new image id and so a new row, while re-uploading the same build replaces its results.
Vulnerabilities are matched here, against the server's advisory database.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openhss.config import Settings
from openhss.db.models import Image
from openhss.domain.errors import ServiceUnavailable
from openhss.domain.upload import ScanUpload
from openhss.scan.applier import Inventory
from openhss.services import results, scans, whitelists
from openhss.services.identity import Scope
from openhss.services.scanning import NoAdvisoryDatabase


def record_upload(
    session: Session,
    settings: Settings,
    scope: Scope,
    cicd_name: str,
    image_name: str,
    image_version: str,
    namespace: str,
    upload: ScanUpload,
) -> Image:
    try:
        matcher = scans.cached_matcher(settings)
    except NoAdvisoryDatabase as exc:
        raise ServiceUnavailable(str(exc)) from None
    ep = "0"
    if scope.enterprise_project_ids is not None and len(scope.enterprise_project_ids) == 1:
        ep = next(iter(scope.enterprise_project_ids))
    image_id = (upload.image.config_digest or upload.image.digest)[:256]
    stmt = select(Image).where(
        Image.project_id == scope.project_id,
        Image.image_type == "cicd",
        Image.registry_name == cicd_name,
        Image.image_id == image_id,
    )
    image = session.scalar(stmt)
    if image is None:
        try:
            with session.begin_nested():
                image = Image(
                    project_id=scope.project_id,
                    enterprise_project_id=ep,
                    image_type="cicd",
                    image_id=image_id,
                    registry_name=cicd_name,
                    registry_type="cicd",
                    image_name=image_name,
                    image_version=image_version,
                    organization=namespace,
                )
                session.add(image)
        except IntegrityError:
            image = session.scalars(stmt).one()  # the same build uploaded concurrently
    image.image_digest = upload.image.digest[:256]
    image.image_name, image.image_version, image.organization = image_name, image_version, namespace
    image.image_size = max(0, upload.image.size)
    image.latest_update_time = results.now_ms()
    inventory = Inventory(
        os=upload.os, packages=list(upload.packages), files=list(upload.files), findings=list(upload.findings)
    )
    session.flush()
    at = results.now_ms()
    results.record_scan(session, image.id, inventory, matcher(inventory), scanned_at=at)
    whitelists.apply_to_image(session, image.id)
    # Without it an advisory import never re-matched CI/CD images (only scanned ones stored inventories).
    scans.store_inventory(session, image.id, inventory, at)
    return image
