"""Process start-up shared by `serve`, `worker` and the CLI: settings → engine → migrated schema.

A `Runtime` is everything a process builds once and its services share: the settings, the engine and
its sessions, the secret box and the matcher cache. Services take it (or the part they need) as an
argument; none of them keeps a process-wide copy, so two deployments in one process (the tests start
several) never see each other's settings, database or advisories.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from openhss.config import Settings
from openhss.db import migrate
from openhss.db.engine import make_engine, make_session_factory, transaction
from openhss.services import identity
from openhss.services.crypto import SecretBox
from openhss.services.vulndb import MatcherCache


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    box: SecretBox
    #: The process's one matcher cache (workers, agent reports, CI/CD uploads, coverage pages).
    matchers: MatcherCache


def open_runtime(
    settings: Settings, *, migrate_schema: bool = True, matchers: MatcherCache | None = None
) -> Runtime:
    """`matchers`: share another runtime's matcher cache (the embedded worker of `openhss serve` has an
    engine of its own, so its scans never wait for the API's connections, but matches with the API's
    matchers: one advisory set in memory per process)."""
    settings.ensure_data_dir()
    engine = make_engine(settings.resolved_database_url)
    if migrate_schema:
        migrate.upgrade(engine)
    return Runtime(
        settings,
        engine,
        make_session_factory(engine),
        SecretBox.from_settings(settings),
        matchers or MatcherCache.from_settings(settings),
    )


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
