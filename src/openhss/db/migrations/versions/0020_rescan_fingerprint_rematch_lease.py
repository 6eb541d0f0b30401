"""unchanged-rescan fingerprint on stored inventories; leases on re-match runs

`image_inventories.fingerprint`: what the image's latest full scan was (the manifest digest the server
read itself, the analyzer and advisory versions, the scope), so a rescan of the same thing can answer
"unchanged" without reading a layer or rewriting a result row. Empty: never short-circuit (agent
results, sources without a manifest).

`rematch_runs.lease_owner/lease_expires/attempts`: a run is taken like a scan job, so a run whose
worker died (or whose message was lost) is re-sent by the sweep once its lease expires.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("image_inventories") as batch:
        batch.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=False, server_default=""))
    with op.batch_alter_table("rematch_runs") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(length=160), nullable=False, server_default=""))
        batch.add_column(sa.Column("lease_expires", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("dispatched_at", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("rematch_runs") as batch:
        batch.drop_column("dispatched_at")
        batch.drop_column("attempts")
        batch.drop_column("lease_expires")
        batch.drop_column("lease_owner")
    with op.batch_alter_table("image_inventories") as batch:
        batch.drop_column("fingerprint")
