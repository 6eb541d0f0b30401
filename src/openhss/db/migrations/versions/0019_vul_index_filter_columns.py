"""image attributes copied onto vul_image_index by triggers; ix_vul_image_page covers every filter

ListVulAffectImages filters on image_id, image_name, registry_name, registry_type and cluster_id, which
lived on `images` only: a filtered page counted by joining the key's whole range to `images` (816 ms at
3 M rows). The index row now carries copies of them, kept by the database itself so no writer can miss
one: a BEFORE INSERT row trigger reads them from the row's image, and an AFTER UPDATE trigger on `images`
rewrites the image's index rows when one of them changes (registry sync renaming, an agent reporting a
new cluster). On PostgreSQL `ix_vul_image_page` INCLUDEs the filter columns, so a filtered count and page
are index-only walks of the key's range; the image_id filter starts from the image instead, through
the new `ix_images_project_image_id`.

Revision ID: 0019
Revises: 0018
"""

# ruff: noqa: S608  (the SQL below is assembled from module constants only)
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

COPIED = (
    ("image_id", 256),
    ("image_name", 512),
    ("registry_name", 256),
    ("registry_type", 32),
    ("cluster_id", 128),
)
NAMES = ", ".join(n for n, _ in COPIED)
PAGE = ["project_id", "vul_id", "vul_type", "image_type", "handled", "image_pk", "enterprise_project_id"]
INCLUDE = ["repair_necessity", "status", *[n for n, _ in COPIED]]
CHANGED_PG = " OR ".join(f"OLD.{n} IS DISTINCT FROM NEW.{n}" for n, _ in COPIED)
CHANGED_SQLITE = " OR ".join(f"OLD.{n} IS NOT NEW.{n}" for n, _ in COPIED)
SET_FROM_NEW = ", ".join(f"{n} = NEW.{n}" for n, _ in COPIED)
FROM_IMAGE = f"({NAMES}) = (SELECT {NAMES} FROM images WHERE images.id = vul_image_index.image_pk)"


def upgrade() -> None:
    op.create_index("ix_images_project_image_id", "images", ["project_id", "image_id"])
    for name, length in COPIED:
        op.add_column(
            "vul_image_index", sa.Column(name, sa.String(length=length), nullable=False, server_default="")
        )
    op.execute(f"UPDATE vul_image_index SET {FROM_IMAGE}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION vul_image_index_copy_image() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            f" SELECT {NAMES} INTO {', '.join('NEW.' + n for n, _ in COPIED)}"
            " FROM images WHERE images.id = NEW.image_pk; RETURN NEW; END $$"
        )
        op.execute(
            "CREATE TRIGGER vul_image_index_copy_image BEFORE INSERT ON vul_image_index"
            " FOR EACH ROW EXECUTE FUNCTION vul_image_index_copy_image()"
        )
        op.execute(
            "CREATE FUNCTION images_copy_to_vul_index() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            f" UPDATE vul_image_index SET {SET_FROM_NEW} WHERE image_pk = NEW.id; RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER images_copy_to_vul_index AFTER UPDATE OF {NAMES} ON images"
            f" FOR EACH ROW WHEN ({CHANGED_PG}) EXECUTE FUNCTION images_copy_to_vul_index()"
        )
        op.drop_index("ix_vul_image_page", table_name="vul_image_index")
        op.create_index("ix_vul_image_page", "vul_image_index", PAGE, postgresql_include=INCLUDE)
    else:
        # SQLite row triggers cannot assign NEW: the inserted row is completed by an UPDATE of itself
        # (not a key column, so the count trigger of migration 0008 does not fire).
        op.execute(
            "CREATE TRIGGER vul_image_index_copy_image AFTER INSERT ON vul_image_index BEGIN"
            f" UPDATE vul_image_index SET {FROM_IMAGE} WHERE id = NEW.id; END"
        )
        op.execute(
            f"CREATE TRIGGER images_copy_to_vul_index AFTER UPDATE OF {NAMES} ON images"
            f" WHEN {CHANGED_SQLITE} BEGIN"
            f" UPDATE vul_image_index SET {SET_FROM_NEW} WHERE image_pk = NEW.id; END"
        )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute("DROP TRIGGER IF EXISTS images_copy_to_vul_index" + (" ON images" if postgres else ""))
    op.execute(
        "DROP TRIGGER IF EXISTS vul_image_index_copy_image" + (" ON vul_image_index" if postgres else "")
    )
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS images_copy_to_vul_index()")
        op.execute("DROP FUNCTION IF EXISTS vul_image_index_copy_image()")
        op.drop_index("ix_vul_image_page", table_name="vul_image_index")
        op.create_index("ix_vul_image_page", "vul_image_index", PAGE)
    # A plain DROP COLUMN (SQLite >= 3.35): a batch table rebuild would lose the count triggers.
    for name, _ in reversed(COPIED):
        op.drop_column("vul_image_index", name)
    op.drop_index("ix_images_project_image_id", table_name="images")
