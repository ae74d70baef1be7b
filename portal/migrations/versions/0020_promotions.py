"""promotions: what marketing publishes (audience, dates, state, action), their
pictures, and the push of each with its counts

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "promotions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("text", sa.String(length=4000), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("tariff_ids", sa.JSON(), nullable=False),
        sa.Column("districts", sa.JSON(), nullable=False),
        sa.Column("action_service_id", sa.Integer(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "draft",
                "published",
                "withdrawn",
                name="promotionstate",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("has_image", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("image_version", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_promotions_dates_in_order")),
        sa.ForeignKeyConstraint(
            ["action_service_id"],
            ["services.id"],
            name=op.f("fk_promotions_action_service_id_services"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["staff_members.id"],
            name=op.f("fk_promotions_created_by_staff_members"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotions")),
    )
    op.create_table(
        "promotion_images",
        sa.Column("promotion_id", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["promotion_id"],
            ["promotions.id"],
            name=op.f("fk_promotion_images_promotion_id_promotions"),
        ),
        sa.PrimaryKeyConstraint("promotion_id", name=op.f("pk_promotion_images")),
    )
    op.create_table(
        "promotion_pushes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("promotion_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by", sa.Integer(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("progressed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Integer(), nullable=False),
        sa.Column("retrying", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["promotion_id"],
            ["promotions.id"],
            name=op.f("fk_promotion_pushes_promotion_id_promotions"),
        ),
        sa.ForeignKeyConstraint(
            ["started_by"],
            ["staff_members.id"],
            name=op.f("fk_promotion_pushes_started_by_staff_members"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion_pushes")),
        sa.UniqueConstraint("promotion_id", name=op.f("uq_promotion_pushes_promotion_id")),
    )


def downgrade() -> None:
    op.drop_table("promotion_pushes")
    op.drop_table("promotion_images")
    op.drop_table("promotions")
