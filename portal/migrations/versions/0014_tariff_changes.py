"""the subscribers' tariff changes (made, scheduled, cancelled)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tariff_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("from_tariff_id", sa.Integer(), nullable=False),
        sa.Column("to_tariff_id", sa.Integer(), nullable=False),
        sa.Column("old_subscription_id", sa.Integer(), nullable=False),
        sa.Column("new_subscription_id", sa.Integer(), nullable=True),
        sa.Column("made_on", sa.Date(), nullable=False),
        sa.Column("takes_effect_on", sa.Date(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("form_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("fee >= 0", name=op.f("ck_tariff_changes_fee_not_negative")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_tariff_changes_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_tariff_changes_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["from_tariff_id"],
            ["tariffs.id"],
            name=op.f("fk_tariff_changes_from_tariff_id_tariffs"),
        ),
        sa.ForeignKeyConstraint(
            ["to_tariff_id"], ["tariffs.id"], name=op.f("fk_tariff_changes_to_tariff_id_tariffs")
        ),
        sa.ForeignKeyConstraint(
            ["old_subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_tariff_changes_old_subscription_id_subscriptions"),
        ),
        sa.ForeignKeyConstraint(
            ["new_subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_tariff_changes_new_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariff_changes")),
        sa.UniqueConstraint("form_key", name=op.f("uq_tariff_changes_form_key")),
    )
    with op.batch_alter_table("tariff_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tariff_changes_account_id"), ["account_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("tariff_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tariff_changes_account_id"))
    op.drop_table("tariff_changes")
