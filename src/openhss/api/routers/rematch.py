"""`GET /v5/{project_id}/image/rematch/newly-affected`: images an advisory update made newly affected.

Not an HSS operation (HSS has no such list); an additive read so users see what `openhss db update`
changed for them without diffing vulnerability lists. Answered from `rematch_hits` of the latest
finished re-match run (or `run_id`), within the caller's project.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from openhss.api.deps import Ctx, ProjectScope
from openhss.api.schemas import Limit, Offset
from openhss.db.engine import transaction
from openhss.domain.rematch import NewlyAffected
from openhss.services import rematch

router = APIRouter(prefix="/v5/{project_id}/image", tags=["image"])


class NewlyAffectedResponse(BaseModel):
    total_num: int
    data_list: list[NewlyAffected]


@router.get(
    "/rematch/newly-affected", response_model=NewlyAffectedResponse, summary="ListNewlyAffectedImages"
)
async def list_newly_affected_images(
    scope: ProjectScope,
    ctx: Ctx,
    offset: Offset = 0,
    limit: Limit = 10,
    run_id: Annotated[int | None, Query(ge=1)] = None,
) -> NewlyAffectedResponse:
    def work() -> NewlyAffectedResponse:
        with transaction(ctx.sessions) as session:
            total, rows = rematch.newly_affected(session, scope, run_pk=run_id, offset=offset, limit=limit)
        return NewlyAffectedResponse(total_num=total, data_list=rows)

    return await run_in_threadpool(work)
