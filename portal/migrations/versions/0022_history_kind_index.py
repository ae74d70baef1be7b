"""the history filtered by kind: an index on an account's entries of one kind in id order

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 09:00:00
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

INDEX = "ix_ledger_entries_account_kind_id"


def upgrade() -> None:
    # Not in a batch: SQLite must never rebuild ledger_entries (its triggers keep it
    # append-only), and an index needs no rebuild. On PostgreSQL it is built
    # CONCURRENTLY, outside the migration's transaction: a big ledger keeps taking
    # payments and charges while it is built.
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            # A build cut short leaves an invalid index behind: made again from scratch.
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
            op.create_index(
                INDEX, "ledger_entries", ["account_id", "kind", "id"], postgresql_concurrently=True
            )
        return
    op.create_index(INDEX, "ledger_entries", ["account_id", "kind", "id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="ledger_entries")
