"""the history filtered by kind: the index leaves charges out, so the billing day's INSERT
never touches it (charges, most of the ledger, are filtered on the (account, id) walk)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

OLD = "ix_ledger_entries_account_kind_id"
NEW = "ix_ledger_entries_account_rare_kind_id"
COLUMNS = ["account_id", "kind", "id"]
NOT_A_CHARGE = "kind <> 'charge'"  # the model's condition as it stood here


def upgrade() -> None:
    # As 0022: never in a batch (SQLite must not rebuild the append-only ledger); on
    # PostgreSQL CONCURRENTLY, outside the migration's transaction, the new index made
    # before the old one goes, so a filtered history never walks a whole account.
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NEW}")  # a build cut short
            op.create_index(
                NEW,
                "ledger_entries",
                COLUMNS,
                postgresql_where=sa.text(NOT_A_CHARGE),
                postgresql_concurrently=True,
            )
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {OLD}")
        return
    op.create_index(NEW, "ledger_entries", COLUMNS, sqlite_where=sa.text(NOT_A_CHARGE))
    op.drop_index(OLD, table_name="ledger_entries")


def downgrade() -> None:
    op.create_index(OLD, "ledger_entries", COLUMNS)
    op.drop_index(NEW, table_name="ledger_entries")
