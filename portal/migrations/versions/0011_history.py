"""the history's index on an account's entries in id order; numbered receipts of payments

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not in a batch: SQLite must never rebuild ledger_entries (its triggers keep it
    # append-only), and an index needs no rebuild.
    op.create_index("ix_ledger_entries_account_id_id", "ledger_entries", ["account_id", "id"])

    op.create_table(
        "receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("ledger_entry_id", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ledger_entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_receipts_ledger_entry_id_ledger_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_receipts_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipts")),
        sa.UniqueConstraint("ledger_entry_id", name=op.f("uq_receipts_ledger_entry_id")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_receipts_payment_id")),
        # SQLite: numbers from AUTOINCREMENT, never handed out twice (PostgreSQL's
        # sequence never does either).
        sqlite_autoincrement=True,
    )
    # Every payment credited before receipts were numbered gets its number now, in the
    # order the money arrived.
    op.execute(
        "INSERT INTO receipts (payment_id, ledger_entry_id, issued_at) "
        "SELECT payments.id, ledger_entries.id, ledger_entries.created_at "
        "FROM payments JOIN ledger_entries "
        "ON ledger_entries.idempotency_key = 'payment:' || CAST(payments.id AS VARCHAR(20)) "
        "ORDER BY ledger_entries.id"
    )
    _forbid_receipt_changes()


def _forbid_receipt_changes() -> None:
    """A receipt, once numbered, is never changed or taken back: the database refuses an
    UPDATE or DELETE from whoever sends it."""
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER receipts_no_{action.lower()} BEFORE {action} "
                "ON receipts BEGIN SELECT RAISE(ABORT, 'receipts are never changed'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION receipts_append_only() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'receipts are never changed'; END $$ LANGUAGE plpgsql"
    )
    op.execute(
        "CREATE TRIGGER receipts_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
        "ON receipts FOR EACH STATEMENT EXECUTE FUNCTION receipts_append_only()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS receipts_no_update")
        op.execute("DROP TRIGGER IF EXISTS receipts_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS receipts_append_only ON receipts")
        op.execute("DROP FUNCTION IF EXISTS receipts_append_only()")
    op.drop_table("receipts")
    op.drop_index("ix_ledger_entries_account_id_id", table_name="ledger_entries")
