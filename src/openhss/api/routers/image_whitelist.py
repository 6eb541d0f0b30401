"""`/v5/{project_id}/image/whitelists...`: the vulnerability whitelist rules.

Included before the parametric image routers: `/image/whitelists/{id}` would otherwise be captured by
`/image/{image_id}/vulnerabilities`-style paths."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import APIRouter, Path, Query
from sqlalchemy.orm import Session

from openhss.api import schemas as s
from openhss.api.deps import OperatorPrincipal, ProjectScope, UnitOfWork
from openhss.api.routers.image_params import Q256
from openhss.api.rows import wire
from openhss.api.schemas import Limit, Offset
from openhss.db.models import ImageWhitelist
from openhss.domain.errors import InvalidRequest
from openhss.services import whitelists

Info = TypeVar("Info", bound=s.ImageWhiteListDetailResponseInfo)

router = APIRouter(prefix="/v5/{project_id}/image", tags=["image"])


WhitelistType = Annotated[s.WhitelistType, Query()]


GlobalImageType = Annotated[s.GlobalImageType, Query()]


WhitelistIdPath = Annotated[str, Path(min_length=1, max_length=64)]


def _rule(
    rule_type: str,
    query_info: s.AddImageWhiteListsRequestBodyQueryInfo | None,
    image_info: list[s.AddImageWhiteListsRequestBodyImageInfo] | None,
    description: str | None,
) -> whitelists.Rule:
    flavours = tuple(t for t in ((query_info.image_type if query_info else None) or "").split(",") if t)
    unknown = [
        t for t in flavours if t not in ("private_image", "shared_image", "instance_image", "harbor", "jfrog")
    ]
    if unknown:
        raise InvalidRequest(f"invalid parameter query_info.image_type: unknown image type {unknown[0]}")
    return whitelists.Rule(
        rule_type=rule_type,
        image_types=flavours,
        images=tuple(
            whitelists.WhitelistImage(i.id, i.image_id, i.image_name, i.image_type) for i in image_info or []
        ),
        description=description or "",
    )


def _whitelist_info(
    model: type[Info], session: Session, wl: ImageWhitelist, offset: int = 0, limit: int = 200
) -> Info:
    """The rule as the list (`image_info` left empty) or the detail read shows it."""
    cves = [s.ImageWhiteListDetailResponseInfoCves(cve_id=c, cvss=v) for c, v in whitelists.cves(session, wl)]
    shown = whitelists.rule_of(wl).images[offset : offset + limit]
    images = [
        s.ImageWhiteListDetailResponseInfoImageInfo.model_validate(i, from_attributes=True) for i in shown
    ]
    return wire(
        model,
        wl,
        id=wl.whitelist_id,
        cves=cves,
        query_info=s.ImageWhiteListDetailResponseInfoQueryInfo(image_type=wl.image_types),
        image_info=images,
    )


@router.post("/whitelists", response_model=s.EmptyResponse, summary="AddImageWhiteLists")
def add_image_white_lists(
    scope: ProjectScope,
    session: UnitOfWork,
    op: OperatorPrincipal,
    global_image_type: GlobalImageType,
    type: WhitelistType,
    body: s.AddImageWhiteListsRequestBody,
) -> s.EmptyResponse:
    if body.vul_type is None:
        raise InvalidRequest("invalid parameter vul_type: required for a vulnerability whitelist")
    vul_type = body.vul_type
    rule = _rule(body.rule_type, body.query_info, body.image_info, body.description)

    whitelists.add(session, scope, global_image_type, vul_type, body.vul_ids or [], rule, op.name)
    return s.EmptyResponse()


@router.get("/whitelists", response_model=s.ListImageWhiteListsResponse, summary="ListImageWhiteLists")
def list_image_white_lists(
    scope: ProjectScope,
    session: UnitOfWork,
    global_image_type: GlobalImageType,
    type: WhitelistType,
    offset: Offset = 0,
    limit: Limit = 10,
    vul_name: Q256 = None,
    vul_type: Annotated[s.VulTypeParam | None, Query()] = None,
) -> s.ListImageWhiteListsResponse:
    total, rows = whitelists.list_rules(session, scope, global_image_type, vul_name, vul_type, offset, limit)
    # The list leaves image_info empty; only the detail read returns it (spec §4.6).
    return s.ListImageWhiteListsResponse(
        total_num=total,
        data_list=[_whitelist_info(s.ImageWhiteListDetailResponseInfo, session, wl, limit=0) for wl in rows],
    )


@router.delete("/whitelists", response_model=s.EmptyResponse, summary="DeleteImageWhiteLists")
def delete_image_white_lists(
    scope: ProjectScope,
    session: UnitOfWork,
    op: OperatorPrincipal,
    global_image_type: GlobalImageType,
    type: WhitelistType,
    body: s.DeleteImageWhiteListsRequestBody,
) -> s.EmptyResponse:
    whitelists.delete(session, scope, global_image_type, body.ids or [], op.name)
    return s.EmptyResponse()


@router.get(
    "/whitelists/{id}", response_model=s.ShowImageWhiteListDetailResponse, summary="ShowImageWhiteListDetail"
)
def show_image_white_list_detail(
    scope: ProjectScope,
    session: UnitOfWork,
    id: WhitelistIdPath,
    global_image_type: GlobalImageType,
    type: WhitelistType,
    offset: Offset = 0,
    limit: Limit = 10,
) -> s.ShowImageWhiteListDetailResponse:
    wl = whitelists.get(session, scope, global_image_type, id)
    return _whitelist_info(s.ShowImageWhiteListDetailResponse, session, wl, offset, limit)


@router.put("/whitelists/{id}", response_model=s.EmptyResponse, summary="ChangeImageWhiteList")
def change_image_white_list(
    scope: ProjectScope,
    session: UnitOfWork,
    op: OperatorPrincipal,
    id: WhitelistIdPath,
    global_image_type: GlobalImageType,
    type: WhitelistType,
    body: s.ChangeImageWhiteListRequestBody,
) -> s.EmptyResponse:
    wl = whitelists.get(session, scope, global_image_type, id)
    current = whitelists.rule_of(wl)
    fields = body.model_fields_set
    rule = whitelists.Rule(
        rule_type=body.rule_type or current.rule_type,
        image_types=(
            _rule("", body.query_info, None, None).image_types
            if "query_info" in fields
            else current.image_types
        ),
        images=_rule("", None, body.image_info, None).images if "image_info" in fields else current.images,
        description=body.description if body.description is not None else current.description,
    )
    whitelists.change(session, scope, global_image_type, id, rule, op.name)
    return s.EmptyResponse()
