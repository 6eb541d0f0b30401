"""images, hosts, containers and the vulnerability index

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hosts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_project_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=128), nullable=False),
        sa.Column("host_id", sa.String(length=128), nullable=False),
        sa.Column("host_name", sa.String(length=256), nullable=False),
        sa.Column("private_ip", sa.String(length=64), nullable=False),
        sa.Column("public_ip", sa.String(length=64), nullable=False),
        sa.Column("os_type", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("agent_status", sa.String(length=16), nullable=False),
        sa.Column("docker_type", sa.String(length=32), nullable=False),
        sa.Column("docker_name", sa.String(length=128), nullable=False),
        sa.Column("cluster_id", sa.String(length=128), nullable=False),
        sa.Column("cluster_name", sa.String(length=256), nullable=False),
        sa.Column("last_heartbeat", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "agent_id", name="uq_host_agent"),
    )
    op.create_table(
        "images",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_project_id", sa.String(length=64), nullable=False),
        sa.Column("image_type", sa.String(length=16), nullable=False),
        sa.Column("image_id", sa.String(length=256), nullable=False),
        sa.Column("image_digest", sa.String(length=256), nullable=False),
        sa.Column("image_name", sa.String(length=512), nullable=False),
        sa.Column("image_version", sa.String(length=256), nullable=False),
        sa.Column("local_image_type", sa.String(length=32), nullable=False),
        sa.Column("registry_name", sa.String(length=256), nullable=False),
        sa.Column("registry_type", sa.String(length=32), nullable=False),
        sa.Column("organization", sa.String(length=256), nullable=False),
        sa.Column("cluster_id", sa.String(length=128), nullable=False),
        sa.Column("cluster_name", sa.String(length=256), nullable=False),
        sa.Column("agent_id", sa.String(length=128), nullable=False),
        sa.Column("image_size", sa.BigInteger(), nullable=False),
        sa.Column("is_multi_arch", sa.Boolean(), nullable=False),
        sa.Column("latest_update_time", sa.BigInteger(), nullable=False),
        sa.Column("scan_status", sa.String(length=32), nullable=False),
        sa.Column("scan_failed_desc", sa.Text(), nullable=False),
        sa.Column("first_scan_time", sa.BigInteger(), nullable=False),
        sa.Column("latest_scan_time", sa.BigInteger(), nullable=False),
        sa.Column("vul_num", sa.Integer(), nullable=False),
        sa.Column("unsafe_setting_num", sa.Integer(), nullable=False),
        sa.Column("malicious_file_num", sa.Integer(), nullable=False),
        sa.Column("component_num", sa.Integer(), nullable=False),
        sa.Column("host_num", sa.Integer(), nullable=False),
        sa.Column("container_num", sa.Integer(), nullable=False),
        sa.Column("severity_level", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "image_type", "registry_name", "image_id", name="uq_image"),
    )
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.create_index(
            "ix_images_project_type_name",
            ["project_id", "image_type", "image_name", "image_version"],
            unique=False,
        )

    op.create_table(
        "containers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("host_pk", sa.Integer(), nullable=False),
        sa.Column("image_pk", sa.Integer(), nullable=True),
        sa.Column("container_id", sa.String(length=128), nullable=False),
        sa.Column("container_name", sa.String(length=256), nullable=False),
        sa.Column("pod_id", sa.String(length=128), nullable=False),
        sa.Column("pod_name", sa.String(length=256), nullable=False),
        sa.Column("namespace", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("entry_point", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["host_pk"], ["hosts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["image_pk"], ["images.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("host_pk", "container_id", name="uq_container"),
    )
    with op.batch_alter_table("containers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_containers_image_pk"), ["image_pk"], unique=False)
        batch_op.create_index(batch_op.f("ix_containers_project_id"), ["project_id"], unique=False)

    op.create_table(
        "image_hosts",
        sa.Column("image_pk", sa.Integer(), nullable=False),
        sa.Column("host_pk", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["host_pk"], ["hosts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["image_pk"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("image_pk", "host_pk"),
    )
    with op.batch_alter_table("image_hosts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_image_hosts_host_pk"), ["host_pk"], unique=False)

    op.create_table(
        "image_vulnerabilities",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("image_pk", sa.Integer(), nullable=False),
        sa.Column("vul_id", sa.String(length=256), nullable=False),
        sa.Column("vul_type", sa.String(length=16), nullable=False),
        sa.Column("repair_necessity", sa.String(length=16), nullable=False),
        sa.Column("severity_rank", sa.Integer(), nullable=False),
        sa.Column("cvss_score", sa.Double(), nullable=True),
        sa.Column("app_name", sa.String(length=256), nullable=False),
        sa.Column("app_version", sa.String(length=256), nullable=False),
        sa.Column("app_path", sa.String(length=1024), nullable=False),
        sa.Column("app_type", sa.String(length=32), nullable=False),
        sa.Column("fixed_version", sa.String(length=256), nullable=False),
        sa.Column("layer_digest", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("first_found_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["image_pk"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("image_pk", "vul_id", "app_name", "app_path", "app_version", name="uq_image_vul"),
    )
    with op.batch_alter_table("image_vulnerabilities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_image_vulnerabilities_image_pk"), ["image_pk"], unique=False)

    op.create_table(
        "vul_image_index",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_project_id", sa.String(length=64), nullable=False),
        sa.Column("vul_id", sa.String(length=256), nullable=False),
        sa.Column("vul_type", sa.String(length=16), nullable=False),
        sa.Column("image_pk", sa.Integer(), nullable=False),
        sa.Column("image_type", sa.String(length=16), nullable=False),
        sa.Column("repair_necessity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("handled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["image_pk"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "vul_id", "vul_type", "image_pk", name="uq_vul_image"),
    )
    with op.batch_alter_table("vul_image_index", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vul_image_index_image_pk"), ["image_pk"], unique=False)
        batch_op.create_index(
            "ix_vul_image_lookup", ["project_id", "vul_id", "vul_type", "handled", "image_pk"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("vul_image_index", schema=None) as batch_op:
        batch_op.drop_index("ix_vul_image_lookup")
        batch_op.drop_index(batch_op.f("ix_vul_image_index_image_pk"))

    op.drop_table("vul_image_index")
    with op.batch_alter_table("image_vulnerabilities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_vulnerabilities_image_pk"))

    op.drop_table("image_vulnerabilities")
    with op.batch_alter_table("image_hosts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_hosts_host_pk"))

    op.drop_table("image_hosts")
    with op.batch_alter_table("containers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_containers_project_id"))
        batch_op.drop_index(batch_op.f("ix_containers_image_pk"))

    op.drop_table("containers")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index("ix_images_project_type_name")

    op.drop_table("images")
    op.drop_table("hosts")
