"""image registries and the registry origin of registry images

Revision ID: 0007
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("registry_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_project_id", sa.String(length=64), nullable=False),
        sa.Column("registry_name", sa.String(length=128), nullable=False),
        sa.Column("registry_type", sa.String(length=32), nullable=False),
        sa.Column("api_version", sa.String(length=8), nullable=False),
        sa.Column("protocol", sa.String(length=8), nullable=False),
        sa.Column("registry_addr", sa.String(length=256), nullable=False),
        sa.Column("registry_username", sa.String(length=128), nullable=False),
        sa.Column("password_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("namespace", sa.String(length=128), nullable=False),
        sa.Column("connect_cluster_id", sa.String(length=64), nullable=False),
        sa.Column("get_scan_image_channel", sa.String(length=16), nullable=False),
        sa.Column("ca_cert", sa.Text(), nullable=False),
        sa.Column("latest_version_only", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fail_reason", sa.String(length=64), nullable=False),
        sa.Column("images_num", sa.Integer(), nullable=False),
        sa.Column("latest_sync_time", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "registry_name", name="uq_registry_name"),
        sa.UniqueConstraint("registry_id"),
    )
    op.create_table(
        "registry_images",
        sa.Column("image_pk", sa.Integer(), nullable=False),
        sa.Column("registry_pk", sa.Integer(), nullable=False),
        sa.Column("repository", sa.String(length=512), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("latest_version", sa.Boolean(), nullable=False),
        sa.Column("latest_sync_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["image_pk"], ["images.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["registry_pk"], ["registries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("image_pk"),
        sa.UniqueConstraint("registry_pk", "repository", "tag", name="uq_registry_image_tag"),
    )
    with op.batch_alter_table("registry_images", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_registry_images_registry_pk"), ["registry_pk"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("registry_images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registry_images_registry_pk"))
    op.drop_table("registry_images")
    op.drop_table("registries")
