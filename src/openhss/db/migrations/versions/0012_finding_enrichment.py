"""severity provenance, EPSS and KEV on image vulnerability rows

Revision ID: 0012
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def _columns() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("severity_source", sa.String(64), nullable=False, server_default=""),
        sa.Column("epss", sa.Double(), nullable=True),
        sa.Column("epss_percentile", sa.Double(), nullable=True),
        sa.Column("epss_date", sa.String(16), nullable=False, server_default=""),
        sa.Column("kev_date_added", sa.String(16), nullable=False, server_default=""),
        sa.Column("kev_due_date", sa.String(16), nullable=False, server_default=""),
    )


def upgrade() -> None:
    with op.batch_alter_table("image_vulnerabilities") as batch:
        for column in _columns():
            batch.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table("image_vulnerabilities") as batch:
        for column in reversed(_columns()):
            batch.drop_column(column.name)
