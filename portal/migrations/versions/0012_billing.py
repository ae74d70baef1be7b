"""the days the billing run has charged (one row a day: charged once, caught up from);
room in the accounts' pages for the run's daily update (PostgreSQL)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
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
    if op.get_bind().dialect.name == "postgresql":
        # The daily run updates every account's row (its balance): with room left in
        # each page, PostgreSQL writes the new version beside the old one without
        # touching the four indexes (a HOT update), several times faster; a table that
        # is updated whole every day has that room after its first vacuum anyway.
        op.execute("ALTER TABLE accounts SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE accounts RESET (fillfactor)")
    op.drop_table("billing_days")
