"""VEX statements

Revision ID: 0014
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vex_statements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("statement_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_project_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("vul_id", sa.String(length=256), nullable=False),
        sa.Column("aliases", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("justification", sa.String(length=64), nullable=False),
        sa.Column("impact_statement", sa.Text(), nullable=False),
        sa.Column("action_statement", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("expired", sa.Boolean(), nullable=False),
        sa.Column("products", sa.Text(), nullable=False),
        sa.Column("whitelist_id", sa.String(length=64), nullable=False),
        sa.Column("document_id", sa.String(length=512), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("statement_id"),
    )
    op.create_index("ix_vex_statements_project_vul", "vex_statements", ["project_id", "vul_id"])


def downgrade() -> None:
    op.drop_index("ix_vex_statements_project_vul", table_name="vex_statements")
    op.drop_table("vex_statements")
