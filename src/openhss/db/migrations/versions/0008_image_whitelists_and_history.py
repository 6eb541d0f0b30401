"""image vulnerability whitelists; handle-history columns

Revision ID: 0008
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0004"
branch_labels = None
depends_on = None

HISTORY_COLUMNS = [
    ("image_type", 16),
    ("image_name", 512),
    ("image_version", 256),
    ("image_digest", 256),
    ("agent_id", 128),
    ("app_name", 256),
    ("app_version", 256),
    ("app_path", 1024),
    ("status", 32),
    ("whitelist_id", 64),
]


def upgrade() -> None:
    op.create_table(
        "image_whitelists",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("whitelist_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_project_id", sa.String(length=64), nullable=False),
        sa.Column("global_image_type", sa.String(length=16), nullable=False),
        sa.Column("vul_type", sa.String(length=16), nullable=False),
        sa.Column("vul_id", sa.String(length=256), nullable=False),
        sa.Column("vul_name", sa.String(length=256), nullable=False),
        sa.Column("rule_type", sa.String(length=32), nullable=False),
        sa.Column("image_types", sa.String(length=256), nullable=False),
        sa.Column("image_info", sa.Text(), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("whitelist_id"),
        sa.UniqueConstraint(
            "project_id",
            "enterprise_project_id",
            "global_image_type",
            "vul_type",
            "vul_id",
            name="uq_image_whitelist",
        ),
    )
    with op.batch_alter_table("image_vul_operations") as batch:
        for name, length in HISTORY_COLUMNS:
            batch.add_column(sa.Column(name, sa.String(length=length), nullable=False, server_default=""))
    op.create_index("ix_image_vul_ops_vul", "image_vul_operations", ["project_id", "vul_id", "operate_time"])


def downgrade() -> None:
    op.drop_index("ix_image_vul_ops_vul", table_name="image_vul_operations")
    with op.batch_alter_table("image_vul_operations") as batch:
        for name, _length in reversed(HISTORY_COLUMNS):
            batch.drop_column(name)
    op.drop_table("image_whitelists")
