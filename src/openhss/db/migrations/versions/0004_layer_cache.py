"""layer cache shared by workers and agents

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "layer_cache",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("diff_id", sa.String(length=80), nullable=False),
        sa.Column("codec", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_layer_cache_diff_id", "layer_cache", ["diff_id"])
    op.create_index("ix_layer_cache_last_used", "layer_cache", ["last_used_at"])


def downgrade() -> None:
    op.drop_index("ix_layer_cache_last_used", table_name="layer_cache")
    op.drop_index("ix_layer_cache_diff_id", table_name="layer_cache")
    op.drop_table("layer_cache")
