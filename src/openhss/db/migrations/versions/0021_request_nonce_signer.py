"""signed-request claims remember their signer and claim time, so a repeat of identical signed bytes
after another request from the same signer executes again instead of getting the stored answer

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("request_nonces") as batch:
        batch.add_column(sa.Column("access_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_request_nonces_signer", ["access_key", "claimed_at"])


def downgrade() -> None:
    with op.batch_alter_table("request_nonces") as batch:
        batch.drop_index("ix_request_nonces_signer")
        batch.drop_column("claimed_at")
        batch.drop_column("access_key")
