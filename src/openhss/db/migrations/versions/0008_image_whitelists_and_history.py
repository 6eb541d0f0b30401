"""image vulnerability whitelists; handle-history columns; trigger-maintained vul index counts

Revision ID: 0008
Revises: 0004
"""

# ruff: noqa: S608  (the SQL below is assembled from module constants only)
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
KEY = "project_id, enterprise_project_id, vul_id, vul_type, image_type, handled"
PAGE_OLD = ["project_id", "vul_id", "vul_type", "image_type", "handled", "enterprise_project_id", "image_pk"]
LOOKUP_OLD = ["project_id", "vul_id", "vul_type", "handled", "image_pk"]
PAGE_NEW = ["project_id", "vul_id", "vul_type", "image_type", "handled", "image_pk", "enterprise_project_id"]

# PostgreSQL: one appended row per statement and key, from the statement's transition tables.
PG_FUNCTIONS = {
    "vul_index_counts_ins": f"""
        INSERT INTO vul_index_counts ({KEY}, n)
        SELECT {KEY}, count(*) FROM new_rows GROUP BY {KEY};""",
    "vul_index_counts_del": f"""
        INSERT INTO vul_index_counts ({KEY}, n)
        SELECT {KEY}, -count(*) FROM old_rows GROUP BY {KEY};""",
    "vul_index_counts_upd": f"""
        INSERT INTO vul_index_counts ({KEY}, n)
        SELECT {KEY}, sum(n) FROM (
            SELECT {KEY}, -1 AS n FROM old_rows UNION ALL SELECT {KEY}, 1 AS n FROM new_rows
        ) d GROUP BY {KEY} HAVING sum(n) <> 0;""",
}
PG_TRIGGERS = {
    "vul_index_counts_ins": "AFTER INSERT ON vul_image_index REFERENCING NEW TABLE AS new_rows",
    "vul_index_counts_del": "AFTER DELETE ON vul_image_index REFERENCING OLD TABLE AS old_rows",
    "vul_index_counts_upd": (
        "AFTER UPDATE ON vul_image_index REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
    ),
}
_NEW = "NEW.project_id, NEW.enterprise_project_id, NEW.vul_id, NEW.vul_type, NEW.image_type, NEW.handled"
_OLD = _NEW.replace("NEW.", "OLD.")
# SQLite has row triggers only; it has a single writer, so appending per row contends with nothing.
SQLITE_TRIGGERS = {
    "vul_index_counts_ins": f"AFTER INSERT ON vul_image_index BEGIN"
    f" INSERT INTO vul_index_counts ({KEY}, n) VALUES ({_NEW}, 1); END",
    "vul_index_counts_del": f"AFTER DELETE ON vul_image_index BEGIN"
    f" INSERT INTO vul_index_counts ({KEY}, n) VALUES ({_OLD}, -1); END",
    "vul_index_counts_upd": f"AFTER UPDATE OF {KEY} ON vul_image_index BEGIN"
    f" INSERT INTO vul_index_counts ({KEY}, n) VALUES ({_OLD}, -1);"
    f" INSERT INTO vul_index_counts ({KEY}, n) VALUES ({_NEW}, 1); END",
}

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
    # The page index now serves every key lookup index-only; the older lookup index (no image_type,
    # no enterprise project) only tempted the planner into heap fetches.
    op.drop_index("ix_vul_image_lookup", table_name="vul_image_index")
    op.drop_index("ix_vul_image_page", table_name="vul_image_index")
    op.create_index("ix_vul_image_page", "vul_image_index", PAGE_NEW)
    op.create_table(
        "vul_index_counts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_project_id", sa.String(length=64), nullable=False),
        sa.Column("vul_id", sa.String(length=256), nullable=False),
        sa.Column("vul_type", sa.String(length=16), nullable=False),
        sa.Column("image_type", sa.String(length=16), nullable=False),
        sa.Column("handled", sa.Boolean(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_vul_index_counts_key",
        "vul_index_counts",
        ["project_id", "vul_id", "vul_type", "image_type", "handled", "enterprise_project_id"],
    )
    op.execute(
        f"INSERT INTO vul_index_counts ({KEY}, n) SELECT {KEY}, count(*) FROM vul_image_index GROUP BY {KEY}"
    )
    if op.get_bind().dialect.name == "postgresql":
        for name, body in PG_FUNCTIONS.items():
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql"
                f" AS $$ BEGIN {body} RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} {PG_TRIGGERS[name]} FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
            )
    else:
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON vul_image_index" if postgres else ""))
        if postgres:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_index("ix_vul_index_counts_key", table_name="vul_index_counts")
    op.drop_table("vul_index_counts")
    op.drop_index("ix_vul_image_page", table_name="vul_image_index")
    op.create_index("ix_vul_image_page", "vul_image_index", PAGE_OLD)
    op.create_index("ix_vul_image_lookup", "vul_image_index", LOOKUP_OLD)
    op.drop_index("ix_image_vul_ops_vul", table_name="image_vul_operations")
    with op.batch_alter_table("image_vul_operations") as batch:
        for name, _length in reversed(HISTORY_COLUMNS):
            batch.drop_column(name)
    op.drop_table("image_whitelists")
