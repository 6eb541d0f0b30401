"""Parameters shared by the `/v5/{project_id}/image/...` routers, and the per-image lookup they share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Path, Query
from sqlalchemy.orm import Session

from openhss.services import images
from openhss.services.identity import Scope

Region = Annotated[str | None, Header(max_length=64, description="Region ID, e.g. cn-north-4.")]
Q256 = Annotated[str | None, Query(max_length=256)]
Q128 = Annotated[str | None, Query(max_length=128)]
Q64 = Annotated[str | None, Query(max_length=64)]
ImageIdPath = Annotated[str, Path(min_length=1, max_length=512)]


def image_pk(
    session: Session,
    scope: Scope,
    image_id: str,
    image_type: str,
    namespace: str | None,
    image_name: str | None,
    image_version: str | None,
) -> int:
    """The primary key of the one image a per-image route names (404 when the scope holds none)."""
    return images.find_image(
        session,
        scope,
        image_id,
        image_type,
        namespace=namespace,
        image_name=image_name,
        image_version=image_version,
    ).id
