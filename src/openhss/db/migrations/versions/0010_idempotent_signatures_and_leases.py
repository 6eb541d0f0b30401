"""signed requests as idempotency keys (the first execution's response is kept with its nonce);
export tasks get a lease (owner, expiry) like scan jobs

Revision ID: 0010
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("request_nonces") as batch:
        batch.add_column(sa.Column("status_code", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("response_headers", sa.Text(), nullable=True))
        batch.add_column(sa.Column("response_body", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("export_tasks") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(length=128), nullable=False, server_default=""))
        batch.add_column(sa.Column("lease_expires", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("export_tasks") as batch:
        batch.drop_column("lease_expires")
        batch.drop_column("lease_owner")
    with op.batch_alter_table("request_nonces") as batch:
        batch.drop_column("response_body")
        batch.drop_column("response_headers")
        batch.drop_column("status_code")
