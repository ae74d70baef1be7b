"""promised payments (a short credit, taken back once repaid or expired) and voluntary
suspensions (services paused for a range of days)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suspensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("daily_fee", sa.BigInteger(), nullable=False),
        sa.Column("activation_fee", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_suspensions_dates_in_order")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_suspensions_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suspensions")),
    )
    with op.batch_alter_table("suspensions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_suspensions_account_dates", ["account_id", "starts_on"], unique=False
        )

    op.create_table(
        "promised_payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("taken_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("credit_entry_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "open", "repaid", "expired", name="promisedstate", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_promised_payments_positive_amount")),
        sa.CheckConstraint("ends_on >= taken_on", name=op.f("ck_promised_payments_dates_in_order")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_promised_payments_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["credit_entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_promised_payments_credit_entry_id_ledger_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promised_payments")),
        sa.UniqueConstraint("account_id", "taken_on", name="one_a_day"),
    )
    with op.batch_alter_table("promised_payments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_promised_payments_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_promised_payments_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("promised_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_promised_payments_state"))
        batch_op.drop_index(batch_op.f("ix_promised_payments_account_id"))

    op.drop_table("promised_payments")
    with op.batch_alter_table("suspensions", schema=None) as batch_op:
        batch_op.drop_index("ix_suspensions_account_dates")

    op.drop_table("suspensions")
