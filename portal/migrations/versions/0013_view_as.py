"""the staff's block of an account (its reason), and the staff's read-only views of a
subscriber's pages (a sign-in session flagged with the staff member who looks)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The new status value ("provider_blocked") needs nothing: statuses are a VARCHAR(16).
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("block_reason", sa.String(length=300), nullable=True))
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("viewer_staff_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_login_sessions_viewer_staff_id_staff_members"),
            "staff_members",
            ["viewer_staff_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_login_sessions_viewer_staff_id_staff_members"), type_="foreignkey"
        )
        batch_op.drop_column("viewer_staff_id")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("block_reason")
