"""VEX in and out (additive; HSS has no VEX operations):

- `GET  /v5/{project_id}/image/vex/statements`: the stored statements (handling, whitelist, imported),
  expired ones marked.
- `POST /v5/{project_id}/image/vex/import`: body = an OpenVEX, CycloneDX VEX or CSAF 2.0 VEX document;
  its statements are stored and applied to the findings they cover (and to later scans/re-matches).
- `GET  /v5/{project_id}/image/vex/export`: an OpenVEX 0.2 or CycloneDX 1.6 VEX document of the current
  verdicts, per project, image (`image_id`) or vulnerability (`vul_id`).
- `GET  /v5/{project_id}/image/vex/suppressions`: the findings that do not count as open, each with its
  reason, where the verdict came from (handle, whitelist, import), justification and expiry.

The handle operation (`POST .../image/vulnerability/handle`) takes the additive `justification` and
`expires_at` fields for the statements it records.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from openhss.api.deps import Ctx, OperatorPrincipal, ProjectScope, UnitOfWork
from openhss.api.schemas import Limit, Offset
from openhss.db.engine import transaction
from openhss.domain import vex as dv
from openhss.domain.errors import InvalidRequest
from openhss.exports import cdx_vex, openvex
from openhss.services import vex
from openhss.services.results import now_ms

router = APIRouter(prefix="/v5/{project_id}/image/vex", tags=["vex"])
Q256 = Annotated[str | None, Query(min_length=1, max_length=256)]


class VexProduct(BaseModel):
    id: str
    subcomponents: list[str]


class VexStatementInfo(BaseModel):
    statement_id: str
    source: Literal["handle", "whitelist", "import"]
    enterprise_project_id: str
    vul_id: str
    aliases: list[str]
    status: Literal["not_affected", "affected", "fixed", "under_investigation"]
    justification: str
    impact_statement: str
    action_statement: str
    author: str
    timestamp: int
    expires_at: int
    expired: bool
    whitelist_id: str
    document_id: str
    products: list[VexProduct]


class ListVexStatementsResponse(BaseModel):
    total_num: int
    data_list: list[VexStatementInfo]


class ListSuppressionsResponse(BaseModel):
    total_num: int
    # The service's rows are the wire rows (a stdlib dataclass validates as a model): one field list.
    data_list: list[vex.Suppression]


class ImportVexResponse(BaseModel):
    statement_num: int
    applied_num: int


@router.get("/statements", response_model=ListVexStatementsResponse, summary="ListVexStatements")
async def list_vex_statements(
    scope: ProjectScope,
    ctx: Ctx,
    offset: Offset = 0,
    limit: Limit = 10,
    vul_id: Q256 = None,
    source: Annotated[Literal["handle", "whitelist", "import"] | None, Query()] = None,
) -> ListVexStatementsResponse:
    def work() -> ListVexStatementsResponse:
        with transaction(ctx.sessions) as session:
            total, rows = vex.list_statements(session, scope, vul_id, source, offset, limit)
        return ListVexStatementsResponse(
            total_num=total,
            data_list=[
                VexStatementInfo(
                    statement_id=r.statement_id,
                    source=r.source,
                    enterprise_project_id=r.enterprise_project_id,
                    vul_id=r.statement.vul_id,
                    aliases=list(r.statement.aliases),
                    status=r.statement.status.value,
                    justification=r.statement.justification,
                    impact_statement=r.statement.impact_statement,
                    action_statement=r.statement.action_statement,
                    author=r.statement.author,
                    timestamp=r.statement.timestamp,
                    expires_at=r.statement.expires,
                    expired=r.expired,
                    whitelist_id=r.whitelist_id,
                    document_id=r.document_id,
                    products=[
                        VexProduct(id=p.id, subcomponents=list(p.subcomponents)) for p in r.statement.products
                    ],
                )
                for r in rows
            ],
        )

    return await run_in_threadpool(work)


@router.post(
    "/import",
    response_model=ImportVexResponse,
    summary="ImportVexDocument",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "An OpenVEX (0.x), CycloneDX (1.4-1.6, with vulnerabilities[].analysis) or "
            "CSAF 2.0 (category csaf_vex) JSON document.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def import_vex_document(
    request: Request,
    scope: ProjectScope,
    ctx: Ctx,
    _op: OperatorPrincipal,
    expires_at: Annotated[
        int | None,
        Query(ge=1, le=32_503_680_000_000, description="Expiry (epoch ms) for statements that carry none."),
    ] = None,
) -> ImportVexResponse:
    raw = await request.body()
    try:
        doc = dv.parse_document(raw)
    except dv.VexError as exc:
        raise InvalidRequest(f"invalid parameter body: {exc}") from None

    def work() -> ImportVexResponse:
        with transaction(ctx.sessions) as session:
            result = vex.import_for_scope(session, scope, doc, expires_at=expires_at or 0)
        return ImportVexResponse(statement_num=result.statements, applied_num=result.applied)

    return await run_in_threadpool(work)


@router.get(
    "/export",
    summary="ExportVexDocument",
    responses={200: {"content": {"application/json": {}}, "description": "the VEX document"}},
)
async def export_vex_document(
    scope: ProjectScope,
    ctx: Ctx,
    format: Annotated[Literal["openvex", "cyclonedx"], Query()] = "openvex",
    image_type: Annotated[Literal["local", "registry", "cicd", "cluster"] | None, Query()] = None,
    image_id: Q256 = None,
    vul_id: Q256 = None,
    include_open: Annotated[
        bool, Query(description="Also list unhandled findings (under_investigation).")
    ] = True,
) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        with transaction(ctx.sessions) as session:
            statements = vex.export_statements(
                session, scope, vex.ExportFilter(image_type, image_id, vul_id, include_open)
            )
        meta = openvex.Meta(f"openhss project {scope.project_id}", now_ms())
        if format == "openvex":
            return openvex.document(statements, meta)
        return cdx_vex.document(statements, meta)

    return await run_in_threadpool(work)


@router.get("/suppressions", response_model=ListSuppressionsResponse, summary="ListSuppressedFindings")
def list_suppressed_findings(
    scope: ProjectScope,
    session: UnitOfWork,
    offset: Offset = 0,
    limit: Limit = 10,
    image_type: Annotated[Literal["local", "registry", "cicd", "cluster"] | None, Query()] = None,
    image_id: Q256 = None,
    vul_id: Q256 = None,
) -> ListSuppressionsResponse:
    f = vex.ExportFilter(image_type, image_id, vul_id)
    total, rows = vex.suppressions(session, scope, f, offset, limit)
    return ListSuppressionsResponse(total_num=total, data_list=rows)
