"""a promotion's offer is taken once by an account: disconnected and connected again
through the promotion, an add-on had its promotional months over again

An account that took one twice before keeps both subscriptions and their prices (they
were promised); only the first keeps the promotion's id, the later ones lose it (their
audit events "addon.connected" still name the promotion).

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 12:00:00
"""

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

# SQLite's batch mode reads the table back; without resolve_fks it would read people too,
# whose index on lower(login) SQLAlchemy cannot read from SQLite (a warning).
READ_ALONE = {"resolve_fks": False}


def upgrade() -> None:
    op.execute(
        "UPDATE subscriptions SET promotion_id = NULL WHERE promotion_id IS NOT NULL AND id > ("
        "SELECT MIN(first.id) FROM subscriptions AS first"
        " WHERE first.account_id = subscriptions.account_id"
        " AND first.promotion_id = subscriptions.promotion_id)"
    )
    with op.batch_alter_table("subscriptions", reflect_kwargs=READ_ALONE) as batch:
        batch.create_unique_constraint(
            "uq_subscriptions_promotion_once", ["account_id", "promotion_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", reflect_kwargs=READ_ALONE) as batch:
        batch.drop_constraint("uq_subscriptions_promotion_once", type_="unique")
