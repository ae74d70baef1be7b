"""the history filtered by kind: an index on an account's entries of one kind in id order

Revision ID: 0023
Revises: 0021
Create Date: 2026-12-03 09:00:00
"""

from alembic import op

revision = "0023"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not in a batch: SQLite must never rebuild ledger_entries (its triggers keep it
    # append-only), and an index needs no rebuild.
    op.create_index(
        "ix_ledger_entries_account_kind_id", "ledger_entries", ["account_id", "kind", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_account_kind_id", table_name="ledger_entries")
