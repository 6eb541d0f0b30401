"""CI/CD images carry no registry type: HSS documents registry_type values for registries only

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE images SET registry_type = '' WHERE image_type = 'cicd' AND registry_type = 'cicd'")


def downgrade() -> None:
    op.execute("UPDATE images SET registry_type = 'cicd' WHERE image_type = 'cicd' AND registry_type = ''")
