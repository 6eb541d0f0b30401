"""scan execution: image sources, job leases, rate bucket, lanes, stored inventories, re-match runs

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_JOB_COLUMNS: list[sa.Column[object]] = [
    sa.Column("lease_owner", sa.String(length=160), nullable=False, server_default=""),
    sa.Column("lease_expires", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("dispatched_at", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("stop_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
]


def upgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("source_ref", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("scan_tasks") as batch:
        batch.add_column(sa.Column("lane", sa.String(length=16), nullable=False, server_default="manual"))
        batch.add_column(sa.Column("rate_next_at", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("scan_task_images") as batch:
        for column in _JOB_COLUMNS:
            batch.add_column(column._copy())
    op.create_table(
        "image_inventories",
        sa.Column("image_pk", sa.Integer(), sa.ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("codec", sa.Integer(), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.Column("keys", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "rematch_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("changed_num", sa.Integer(), nullable=False),
        sa.Column("changed", sa.LargeBinary(), nullable=False),
        sa.Column("images_checked", sa.Integer(), nullable=False),
        sa.Column("images_rematched", sa.Integer(), nullable=False),
        sa.Column("images_newly_affected", sa.Integer(), nullable=False),
    )
    op.create_table(
        "rematch_hits",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column(
            "run_pk", sa.Integer(), sa.ForeignKey("rematch_runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("image_pk", sa.Integer(), sa.ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
        sa.Column("vul_ids", sa.Text(), nullable=False),
        sa.Column("found_time", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_rematch_hits_project_run", "rematch_hits", ["project_id", "run_pk", "image_pk"])
    op.create_index("ix_rematch_hits_image_pk", "rematch_hits", ["image_pk"])


def downgrade() -> None:
    op.drop_index("ix_rematch_hits_image_pk", table_name="rematch_hits")
    op.drop_index("ix_rematch_hits_project_run", table_name="rematch_hits")
    op.drop_table("rematch_hits")
    op.drop_table("rematch_runs")
    op.drop_table("image_inventories")
    with op.batch_alter_table("scan_task_images") as batch:
        for column in reversed(_JOB_COLUMNS):
            batch.drop_column(column.name)
    with op.batch_alter_table("scan_tasks") as batch:
        batch.drop_column("rate_next_at")
        batch.drop_column("lane")
    with op.batch_alter_table("images") as batch:
        batch.drop_column("source_ref")
