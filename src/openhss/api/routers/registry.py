"""Every `/v5/{project_id}/...` router, in one list; literal routes are registered before parametric ones
inside each router (spec Appendix B)."""

from __future__ import annotations

from fastapi import APIRouter

from openhss.api.routers import (
    agent,
    events,
    export,
    image_export,
    image_finding,
    image_local,
    image_scan,
    image_vulnerability,
    image_whitelist,
    registries,
    rematch,
    vex,
    vulnerability,
)

V5_ROUTERS: list[APIRouter] = [
    vulnerability.router,
    registries.router,
    rematch.router,
    vex.router,
    events.router,
    # The image routers with literal paths first: `/image/whitelists/{id}` or `/image/local/hosts` must
    # not be captured by `/image/{image_id}/...` (vulnerability and finding routers, parametric last).
    image_local.router,
    image_scan.router,
    image_export.router,
    image_whitelist.router,
    image_vulnerability.router,
    image_finding.router,
    export.router,
    agent.router,
]
