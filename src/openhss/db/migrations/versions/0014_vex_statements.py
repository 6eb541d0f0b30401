"""VEX statements; webhook subscriptions and the event outbox

Revision ID: 0014
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


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
    op.create_index("ix_vex_statements_due", "vex_statements", ["expired", "expires_at"])
    op.create_table(
        "event_subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("secret_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("event_types", sa.String(length=512), nullable=False),
        sa.Column("min_severity", sa.String(length=16), nullable=False),
        sa.Column("kev_only", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscription_id"),
    )
    op.create_index("ix_event_subscriptions_project_id", "event_subscriptions", ["project_id"])
    op.create_table(
        "event_outbox",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("subscription_pk", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_project_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=False),
        sa.Column("lease_expires", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("delivered_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["subscription_pk"], ["event_subscriptions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index("ix_event_outbox_due", "event_outbox", ["status", "next_attempt_at"])
    op.create_index("ix_event_outbox_subscription_pk", "event_outbox", ["subscription_pk"])


def downgrade() -> None:
    op.drop_table("event_outbox")
    op.drop_table("event_subscriptions")
    op.drop_index("ix_vex_statements_due", table_name="vex_statements")
    op.drop_index("ix_vex_statements_project_vul", table_name="vex_statements")
    op.drop_table("vex_statements")
