"""tariff changes remember the add-ons they end (those requiring the old tariff or
group), so a cancelled change connects them again

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tariff_changes") as batch:
        batch.add_column(
            sa.Column("ended_addon_ids", sa.JSON(), server_default="[]", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("tariff_changes") as batch:
        batch.drop_column("ended_addon_ids")
