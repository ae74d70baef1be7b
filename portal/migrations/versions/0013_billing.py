"""the days the billing run has charged (one row a day: charged once, caught up from)

Revision ID: 0013
Revises: 0008
Create Date: 2026-11-30 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("accounts", sa.Integer(), nullable=False),
        sa.Column("charges", sa.Integer(), nullable=False),
        sa.Column("kopecks", sa.BigInteger(), nullable=False),
        sa.Column("blocked", sa.Integer(), nullable=False),
        sa.Column("unblocked", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_billing_days")),
    )


def downgrade() -> None:
    op.drop_table("billing_days")
