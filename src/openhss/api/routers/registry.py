"""Every `/v5/{project_id}/...` router, in one list; literal routes are registered before parametric ones
inside each router (spec Appendix B)."""

from __future__ import annotations

from fastapi import APIRouter

from openhss.api.routers import agent, events, export, image, registries, rematch, vex, vulnerability

V5_ROUTERS: list[APIRouter] = [
    vulnerability.router,
    registries.router,
    rematch.router,
    vex.router,
    events.router,
    image.router,
    export.router,
    agent.router,
]
