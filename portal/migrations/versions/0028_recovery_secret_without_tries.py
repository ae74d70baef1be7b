"""a recovery secret no longer counts wrong tries: its 64 bits hold against guessing, and
counting the sign-in's wrong passwords against it let anyone who knew a login kill each
secret the owner asked for (the count and the window it was kept in go)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

# SQLite's batch mode reads the table back; without resolve_fks it would read people too,
# whose index on lower(login) SQLAlchemy cannot read from SQLite (a warning).
READ_ALONE = {"resolve_fks": False}


def upgrade() -> None:
    with op.batch_alter_table("password_recoveries", reflect_kwargs=READ_ALONE) as batch:
        batch.drop_column("failed_attempts")
        batch.drop_column("first_issued_at")


def downgrade() -> None:
    # The count starts again at 0, its window at each row's last secret.
    with op.batch_alter_table("password_recoveries", reflect_kwargs=READ_ALONE) as batch:
        batch.add_column(
            sa.Column("failed_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("first_issued_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE password_recoveries SET first_issued_at = issued_at")
    with op.batch_alter_table("password_recoveries", reflect_kwargs=READ_ALONE) as batch:
        batch.alter_column("first_issued_at", nullable=False)
