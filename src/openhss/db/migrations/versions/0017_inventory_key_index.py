"""GIN index over the stored inventories' advisory key lines (PostgreSQL only)

A re-match after an advisory update asks which of the fleet's inventories hold any changed key; with this
index PostgreSQL answers from the index instead of reading every inventory's key column. SQLite has no
GIN: there the re-match tests the key lines itself, in pages.

Revision ID: 0017
Revises: 0014
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_image_inventories_key_lines ON image_inventories"
            " USING gin (string_to_array(keys, chr(10)))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_image_inventories_key_lines")
