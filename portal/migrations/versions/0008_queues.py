"""the staff's resolutions of the payments queues (payments on review, noted refunds)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 05:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_resolutions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=128), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "credited",
                "refused",
                "applied",
                "handled",
                name="resolutionoutcome",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("form_key", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("ledger_entry_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_queue_resolutions_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["ledger_entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_queue_resolutions_ledger_entry_id_ledger_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_queue_resolutions_staff_id_staff_members"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_resolutions")),
        sa.UniqueConstraint("item", name=op.f("uq_queue_resolutions_item")),
    )
    with op.batch_alter_table("queue_resolutions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_queue_resolutions_account_id"), ["account_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("queue_resolutions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_queue_resolutions_account_id"))
    op.drop_table("queue_resolutions")
