"""ASGI factory for running several server processes: `uvicorn --factory --workers N
openhss.api.asgi:app_from_environment`. Settings come from `OPENHSS_*` variables; the schema must
already be migrated (`openhss migrate`), since workers must not race to migrate it."""

from __future__ import annotations

from fastapi import FastAPI

from openhss.api.app import create_app
from openhss.config import load_settings


def app_from_environment() -> FastAPI:
    return create_app(load_settings())
