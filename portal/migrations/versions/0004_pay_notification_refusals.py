"""payments: refused notifications counted per acquirer, address and hour

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 05:02:08.090779
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_notification_refusals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("last_reason", sa.String(length=200), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_notification_refusals")),
        sa.UniqueConstraint(
            "provider", "address", "hour", name="uq_payment_notification_refusals_window"
        ),
    )


def downgrade() -> None:
    op.drop_table("payment_notification_refusals")
