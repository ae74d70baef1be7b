"""promotional price: a promotion's price for its add-on and for how many months, and a
subscription's price override (the price, its last day, the promotion it came from)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("promotions") as batch:
        batch.add_column(sa.Column("promo_price", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("promo_months", sa.Integer(), nullable=True))
        batch.create_check_constraint(
            op.f("ck_promotions_promo_price_whole"),
            "(promo_price IS NULL) = (promo_months IS NULL) AND (promo_price IS NULL"
            " OR (promo_price >= 0 AND promo_months >= 1 AND promo_months <= 24))",
        )
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("price_override", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("price_override_until", sa.Date(), nullable=True))
        batch.add_column(sa.Column("promotion_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_subscriptions_promotion_id_promotions"),
            "promotions",
            ["promotion_id"],
            ["id"],
        )
        batch.create_check_constraint(
            op.f("ck_subscriptions_price_override_whole"),
            "(price_override IS NULL) = (price_override_until IS NULL)"
            " AND (price_override IS NULL OR price_override >= 0)",
        )
        batch.create_index(op.f("ix_subscriptions_promotion_id"), ["promotion_id"])


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_index(op.f("ix_subscriptions_promotion_id"))
        batch.drop_constraint(op.f("ck_subscriptions_price_override_whole"), type_="check")
        batch.drop_constraint(op.f("fk_subscriptions_promotion_id_promotions"), type_="foreignkey")
        batch.drop_column("promotion_id")
        batch.drop_column("price_override_until")
        batch.drop_column("price_override")
    with op.batch_alter_table("promotions") as batch:
        batch.drop_constraint(op.f("ck_promotions_promo_price_whole"), type_="check")
        batch.drop_column("promo_months")
        batch.drop_column("promo_price")
