"""CI/CD images: a pipeline scans its freshly built image itself and uploads the inventory.

The image is one `images` row of image_type `cicd` per (pipeline name, image id); a rebuild with new
content is a new image id and so a new row, while re-uploading the same build replaces its results.
Vulnerabilities are matched here, against the server's advisory database. A build belongs to one
enterprise project: the same (pipeline, image id) uploaded from another one is a 409, and a first
upload under `all_granted_eps` with several EPs is a 400 (`Scope.creation_ep`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openhss.db.models import Image
from openhss.db.tenancy import scoped
from openhss.domain.errors import Conflict, ServiceUnavailable
from openhss.domain.upload import ScanUpload
from openhss.scan.applier import Inventory
from openhss.services import results, whitelists
from openhss.services.identity import Scope
from openhss.services.rematch import store_inventory
from openhss.services.vulndb import MatcherCache, VulnDbError


def record_upload(
    session: Session,
    matchers: MatcherCache,
    scope: Scope,
    cicd_name: str,
    image_name: str,
    image_version: str,
    namespace: str,
    upload: ScanUpload,
) -> Image:
    try:
        matcher = matchers.get()
    except VulnDbError as exc:
        raise ServiceUnavailable(str(exc)) from None
    image_id = (upload.image.config_digest or upload.image.digest)[:256]
    stmt = scoped(
        select(Image).where(
            Image.image_type == "cicd", Image.registry_name == cicd_name, Image.image_id == image_id
        ),
        scope,
    )
    image = session.scalar(stmt)
    if image is None:
        ep = scope.creation_ep()
        try:
            with session.begin_nested():
                image = Image(
                    project_id=scope.project_id,
                    enterprise_project_id=ep,
                    image_type="cicd",
                    image_id=image_id,
                    registry_name=cicd_name,
                    registry_type="",  # HSS registry types name registries; a pipeline has none
                    image_name=image_name,
                    image_version=image_version,
                    organization=namespace,
                )
                session.add(image)
        except IntegrityError:
            # the same build uploaded concurrently, or held by an enterprise project out of scope
            image = session.scalars(stmt).one_or_none()
            if image is None:
                raise Conflict(
                    f"CI/CD image {image_id} of {cicd_name!r} belongs to another enterprise project"
                ) from None
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
    store_inventory(session, image.id, inventory, at)
    return image
