"""tariff changes remember what each add-on they removed before its first day was (the
add-on, its first day, its promotional price), so a cancelled change connects it again;
the ids kept before name only the add-ons they ended

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tariff_changes") as batch:
        batch.add_column(
            sa.Column("removed_addons", sa.JSON(), server_default="[]", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("tariff_changes") as batch:
        batch.drop_column("removed_addons")
