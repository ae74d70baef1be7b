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


# SQLite's batch mode reads the table back; without resolve_fks it would read the tables
# its keys point to as well, up to people, whose index on lower(login) SQLAlchemy cannot
# read from SQLite (a warning, an error in the tests).
READ_ALONE = {"resolve_fks": False}


def upgrade() -> None:
    with op.batch_alter_table("tariff_changes", reflect_kwargs=READ_ALONE) as batch:
        batch.add_column(
            sa.Column("removed_addons", sa.JSON(), server_default="[]", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("tariff_changes", reflect_kwargs=READ_ALONE) as batch:
        batch.drop_column("removed_addons")
