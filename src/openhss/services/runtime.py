"""Process start-up shared by `serve`, `worker` and the CLI: settings → engine → migrated schema."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from openhss.config import Settings
from openhss.db import migrate
from openhss.db.engine import make_engine, make_session_factory, transaction
from openhss.services import identity
from openhss.services.crypto import SecretBox


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    box: SecretBox


def open_runtime(settings: Settings, *, migrate_schema: bool = True) -> Runtime:
    settings.ensure_data_dir()
    engine = make_engine(settings.resolved_database_url)
    if migrate_schema:
        migrate.upgrade(engine)
    return Runtime(settings, engine, make_session_factory(engine), SecretBox.from_settings(settings))


def bootstrap_admin(rt: Runtime) -> identity.NewCredentials | None:
    s = rt.settings
    with transaction(rt.sessions) as session:
        return identity.bootstrap(
            session,
            rt.box,
            s.admin_username,
            s.admin_password.get_secret_value(),
            s.admin_access_key,
            s.admin_secret_key.get_secret_value(),
            s.default_project_id,
            s.default_project_name,
        )
