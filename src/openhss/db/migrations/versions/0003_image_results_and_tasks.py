"""per-image results (apps, files, findings), vulnerability handling history, scan and export tasks

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "export_tasks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_project_ids", sa.Text(), nullable=False),
        sa.Column("task_name", sa.String(length=128), nullable=False),
        sa.Column("export_type", sa.String(length=64), nullable=False),
        sa.Column("export_size", sa.Integer(), nullable=False),
        sa.Column("filters", sa.Text(), nullable=False),
        sa.Column("task_status", sa.String(length=16), nullable=False),
        sa.Column("record_total_num", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("failed_reason", sa.Text(), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id"),
    )
    op.create_index("ix_export_tasks_project", "export_tasks", ["project_id", "create_time"])
    op.create_table(
        "scan_tasks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_project_id", sa.String(length=64), nullable=False),
        sa.Column("task_name", sa.String(length=256), nullable=False),
        sa.Column("task_type", sa.String(length=16), nullable=False),
        sa.Column("image_type", sa.String(length=16), nullable=False),
        sa.Column("scan_scope", sa.BigInteger(), nullable=False),
        sa.Column("rate_limit", sa.Integer(), nullable=False),
        sa.Column("is_all", sa.Boolean(), nullable=False),
        sa.Column("filters", sa.Text(), nullable=False),
        sa.Column("task_status", sa.String(length=16), nullable=False),
        sa.Column("total_num", sa.Integer(), nullable=False),
        sa.Column("success_num", sa.Integer(), nullable=False),
        sa.Column("failed_num", sa.Integer(), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("end_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id"),
    )
    op.create_index("ix_scan_tasks_project_created", "scan_tasks", ["project_id", "create_time"])
    op.create_table(
        "image_apps",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("image_pk", sa.Integer(), nullable=False),
        sa.Column("app_name", sa.String(length=256), nullable=False),
        sa.Column("app_version", sa.String(length=256), nullable=False),
        sa.Column("app_type", sa.String(length=32), nullable=False),
        sa.Column("app_path", sa.String(length=1024), nullable=False),
        sa.Column("layer_digest", sa.String(length=128), nullable=False),
        sa.Column("licenses", sa.Text(), nullable=False),
        sa.Column("vul_num", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["image_pk"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_image_apps_image_name", "image_apps", ["image_pk", "app_name"])
    op.create_table(
        "image_files",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("image_pk", sa.Integer(), nullable=False),
        sa.Column("file_path", sa.String(length=4096), nullable=False),
        sa.Column("file_name", sa.String(length=1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mode", sa.Integer(), nullable=False),
        sa.Column("file_type", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("layer_digest", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["image_pk"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_image_files_image", "image_files", ["image_pk", "id"])
    op.create_table(
        "image_findings",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("image_pk", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("rule_id", sa.String(length=256), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=1024), nullable=False),
        sa.Column("path", sa.String(length=4096), nullable=False),
        sa.Column("layer_digest", sa.String(length=128), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("remediation", sa.Text(), nullable=False),
        sa.Column("handle_status", sa.String(length=32), nullable=False),
        sa.Column("found_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["image_pk"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_image_findings_image_kind", "image_findings", ["image_pk", "kind"])
    op.create_index(
        "ix_image_findings_project_kind_rule", "image_findings", ["project_id", "kind", "rule_id"]
    )
    op.create_table(
        "image_vul_operations",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_project_id", sa.String(length=64), nullable=False),
        sa.Column("operate_type", sa.String(length=32), nullable=False),
        sa.Column("vul_id", sa.String(length=256), nullable=False),
        sa.Column("vul_type", sa.String(length=16), nullable=False),
        sa.Column("image_pk", sa.Integer(), nullable=True),
        sa.Column("image_id", sa.String(length=256), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("remark", sa.String(length=512), nullable=False),
        sa.Column("operate_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["image_pk"], ["images.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_image_vul_ops_project_time", "image_vul_operations", ["project_id", "operate_time"])
    op.create_table(
        "scan_task_images",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("task_pk", sa.Integer(), nullable=False),
        sa.Column("image_pk", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("failed_reason", sa.Text(), nullable=False),
        sa.Column("first_scan_time", sa.BigInteger(), nullable=False),
        sa.Column("latest_scan_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["image_pk"], ["images.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["task_pk"], ["scan_tasks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_pk", "image_pk", name="uq_scan_task_image"),
    )
    op.create_index("ix_scan_task_images_image_pk", "scan_task_images", ["image_pk"])
    op.create_index("ix_scan_task_images_status", "scan_task_images", ["status", "id"])
    # Covers "images affected by vul X" filters and order, so count and page are index-only scans.
    op.create_index(
        "ix_vul_image_page",
        "vul_image_index",
        ["project_id", "vul_id", "vul_type", "image_type", "handled", "enterprise_project_id", "image_pk"],
    )


def downgrade() -> None:
    op.drop_index("ix_vul_image_page", table_name="vul_image_index")
    op.drop_index("ix_scan_task_images_status", table_name="scan_task_images")
    op.drop_index("ix_scan_task_images_image_pk", table_name="scan_task_images")
    op.drop_table("scan_task_images")
    op.drop_index("ix_image_vul_ops_project_time", table_name="image_vul_operations")
    op.drop_table("image_vul_operations")
    op.drop_index("ix_image_findings_project_kind_rule", table_name="image_findings")
    op.drop_index("ix_image_findings_image_kind", table_name="image_findings")
    op.drop_table("image_findings")
    op.drop_index("ix_image_files_image", table_name="image_files")
    op.drop_table("image_files")
    op.drop_index("ix_image_apps_image_name", table_name="image_apps")
    op.drop_table("image_apps")
    op.drop_index("ix_scan_tasks_project_created", table_name="scan_tasks")
    op.drop_table("scan_tasks")
    op.drop_index("ix_export_tasks_project", table_name="export_tasks")
    op.drop_table("export_tasks")
