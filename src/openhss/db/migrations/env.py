"""Alembic environment: run programmatically by `openhss migrate` with the connection it is given."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import openhss.db.scheduling  # noqa: F401 - registers the engine tables on Base.metadata
from openhss.db.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connectable = context.config.attributes.get("connection")
if connectable is None:
    raise RuntimeError("openhss migrations run only through openhss.db.migrate")
_run(connectable)
