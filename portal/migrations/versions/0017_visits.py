"""technician visits: the weekly window templates, the windows of dates with their
booked places, technicians, and visit requests (one open per category per account)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "technicians",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=16), server_default="", nullable=False),
        sa.Column("districts", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_technicians")),
    )
    op.create_table(
        "visit_window_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("district", sa.String(length=64), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("starts", sa.Time(), nullable=False),
        sa.Column("ends", sa.Time(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.CheckConstraint("capacity >= 0", name=op.f("ck_visit_window_templates_capacity")),
        sa.CheckConstraint(
            "ends > starts", name=op.f("ck_visit_window_templates_ends_after_start")
        ),
        sa.CheckConstraint(
            "weekday BETWEEN 0 AND 6", name=op.f("ck_visit_window_templates_weekday")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_window_templates")),
        sa.UniqueConstraint(
            "district", "weekday", "starts", name=op.f("uq_visit_window_templates_district")
        ),
    )
    op.create_table(
        "visit_windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("district", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("starts", sa.Time(), nullable=False),
        sa.Column("ends", sa.Time(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("booked", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "booked >= 0 AND booked <= capacity", name=op.f("ck_visit_windows_booked")
        ),
        sa.CheckConstraint("capacity >= 0", name=op.f("ck_visit_windows_capacity")),
        sa.CheckConstraint("ends > starts", name=op.f("ck_visit_windows_ends_after_start")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_windows")),
        sa.UniqueConstraint("district", "day", "starts", name=op.f("uq_visit_windows_district")),
    )
    op.create_table(
        "visit_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "no_internet",
                "slow_internet",
                "no_tv",
                "equipment",
                "moving_cable",
                "new_service",
                "other",
                name="visitcategory",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("text", sa.String(length=2000), nullable=False),
        sa.Column("window_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "requested",
                "confirmed",
                "on_the_way",
                "done",
                "cancelled",
                name="visitstate",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("technician_id", sa.Integer(), nullable=True),
        sa.Column("open_key", sa.String(length=64), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("on_the_way_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "rating IS NULL OR rating BETWEEN 1 AND 5", name=op.f("ck_visit_requests_rating")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_visit_requests_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["technician_id"],
            ["technicians.id"],
            name=op.f("fk_visit_requests_technician_id_technicians"),
        ),
        sa.ForeignKeyConstraint(
            ["window_id"],
            ["visit_windows.id"],
            name=op.f("fk_visit_requests_window_id_visit_windows"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_requests")),
        sa.UniqueConstraint("open_key", name=op.f("uq_visit_requests_open_key")),
    )
    with op.batch_alter_table("visit_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_visit_requests_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_visit_requests_window_id"), ["window_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("visit_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visit_requests_window_id"))
        batch_op.drop_index(batch_op.f("ix_visit_requests_account_id"))

    op.drop_table("visit_requests")
    op.drop_table("visit_windows")
    op.drop_table("visit_window_templates")
    op.drop_table("technicians")
