"""One local image row per image_name:image_version; the platform images of multi-arch registry images

Local images get a key of their own with the tag (`uq_image_local_tag`; `uq_image` keeps the old key
for registry and CI/CD images): HSS lists local images per name and version, so an image tagged `app:1`
and `app:latest` is two rows (services/image_tags.py shares one scan between them). Existing rows are kept
as they are: each image stays listed under the tag it had, and the next report of its agent adds the
rows of its other tags.

`registry_image_archs` holds the per-platform manifests of a registry image whose tag names an index
(listed as `association_images`); the next sync fills it (a multi-arch tag without its platform rows
is described again, even if its digest did not change).

SQLite cannot drop a table constraint in place, so there the table is rebuilt (batch mode); the
migration runner turns foreign keys off around it (db/migrate.py), or dropping the old table would
cascade into every result table.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

OLD = ["project_id", "image_type", "registry_name", "image_id"]
TAG = ["project_id", "image_id", "image_name", "image_version"]
NOT_LOCAL = sa.text("image_type <> 'local'")
LOCAL = sa.text("image_type = 'local'")


def upgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.drop_constraint("uq_image", type_="unique")
    # Registry and CI/CD images keep their key (a pipeline's build is one row, whoever uploads it);
    # local images get one row per tag.
    op.create_index(
        "uq_image", "images", OLD, unique=True, postgresql_where=NOT_LOCAL, sqlite_where=NOT_LOCAL
    )
    op.create_index(
        "uq_image_local_tag", "images", TAG, unique=True, postgresql_where=LOCAL, sqlite_where=LOCAL
    )
    op.create_table(
        "registry_image_archs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("image_pk", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=128), nullable=False),
        sa.Column("os", sa.String(length=32), nullable=False),
        sa.Column("architecture", sa.String(length=32), nullable=False),
        sa.Column("variant", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["image_pk"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_registry_image_archs_image_pk", "registry_image_archs", ["image_pk"])


def downgrade() -> None:
    op.drop_index("ix_registry_image_archs_image_pk", table_name="registry_image_archs")
    op.drop_table("registry_image_archs")
    op.drop_index("uq_image_local_tag", table_name="images")
    op.drop_index("uq_image", table_name="images")
    # The old key allows one row per image: the other tag rows of each image go (lowest id stays).
    images = sa.table("images", sa.column("id", sa.Integer), *(sa.column(c, sa.String) for c in OLD))
    keep = sa.select(sa.func.min(images.c.id)).group_by(*(images.c[c] for c in OLD))
    op.execute(images.delete().where(images.c.id.not_in(keep)))
    with op.batch_alter_table("images") as batch:
        batch.create_unique_constraint("uq_image", OLD)
