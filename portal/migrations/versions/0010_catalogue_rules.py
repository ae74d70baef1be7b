"""the catalogue's rules: tariff groups, when a change takes effect, add-on requirements
and exclusions, and archiving (archived_at in place of is_public)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

KINDS = sa.Enum("internet", "tv", name="tariffkind", native_enum=False, length=16)
TAKES_EFFECT = sa.Enum("today", "next_month", name="takeseffect", native_enum=False, length=16)
STARTS = sa.Enum("today", "tomorrow", name="addonstart", native_enum=False, length=16)


def upgrade() -> None:
    op.create_table(
        "tariff_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("kind", KINDS, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("fee_up", sa.BigInteger(), nullable=False),
        sa.Column("fee_down", sa.BigInteger(), nullable=False),
        sa.Column("fee_same", sa.BigInteger(), nullable=False),
        sa.Column("changes_per_month", sa.Integer(), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "fee_up >= 0 AND fee_down >= 0 AND fee_same >= 0",
            name=op.f("ck_tariff_groups_fees_not_negative"),
        ),
        sa.CheckConstraint(
            "changes_per_month IS NULL OR changes_per_month BETWEEN 1 AND 31",
            name=op.f("ck_tariff_groups_changes_per_month_range"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariff_groups")),
        sa.UniqueConstraint("code", name=op.f("uq_tariff_groups_code")),
        sa.UniqueConstraint("id", "kind", name="uq_tariff_groups_id_kind"),
    )
    with op.batch_alter_table("tariffs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("group_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("takes_effect", TAKES_EFFECT, server_default="next_month", nullable=False)
        )
        batch_op.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_tariffs_group_id"), ["group_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_tariffs_group_id_tariff_groups"),
            "tariff_groups",
            ["group_id", "kind"],
            ["id", "kind"],
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_tariffs_speed_positive"), "speed_mbps IS NULL OR speed_mbps > 0"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_tariffs_channels_positive"), "channels IS NULL OR channels > 0"
        )
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(sa.Column("starts", STARTS, server_default="tomorrow", nullable=False))
        batch_op.add_column(sa.Column("requires_group_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("requires_tariff_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_services_requires_group_id_tariff_groups"),
            "tariff_groups",
            ["requires_group_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_services_requires_tariff_id_tariffs"),
            "tariffs",
            ["requires_tariff_id"],
            ["id"],
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_services_one_requirement"),
            "requires_group_id IS NULL OR requires_tariff_id IS NULL",
        )
    # What was not public is archived: kept on its subscribers, no longer offered.
    for table in ("tariffs", "services"):
        op.execute(
            # `table` is one of the two names in the loop, never input (bandit B608)
            sa.text(f"UPDATE {table} SET archived_at = CURRENT_TIMESTAMP WHERE NOT is_public")  # nosec
        )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("is_public")
    op.create_table(
        "service_exclusions",
        sa.Column("first_id", sa.Integer(), nullable=False),
        sa.Column("second_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("first_id < second_id", name=op.f("ck_service_exclusions_stored_once")),
        sa.ForeignKeyConstraint(
            ["first_id"], ["services.id"], name=op.f("fk_service_exclusions_first_id_services")
        ),
        sa.ForeignKeyConstraint(
            ["second_id"], ["services.id"], name=op.f("fk_service_exclusions_second_id_services")
        ),
        sa.PrimaryKeyConstraint("first_id", "second_id", name=op.f("pk_service_exclusions")),
    )
    with op.batch_alter_table("service_exclusions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_exclusions_second_id"), ["second_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("service_exclusions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_exclusions_second_id"))
    op.drop_table("service_exclusions")
    for table in ("tariffs", "services"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("is_public", sa.Boolean(), server_default=sa.true(), nullable=False)
            )
        # `table` is one of the two names in the loop, never input (bandit B608)
        op.execute(sa.text(f"UPDATE {table} SET is_public = (archived_at IS NULL)"))  # nosec
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("is_public", server_default=None)
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_services_one_requirement"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_services_requires_tariff_id_tariffs"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_services_requires_group_id_tariff_groups"), type_="foreignkey"
        )
        batch_op.drop_column("archived_at")
        batch_op.drop_column("requires_tariff_id")
        batch_op.drop_column("requires_group_id")
        batch_op.drop_column("starts")
    with op.batch_alter_table("tariffs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_tariffs_channels_positive"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_tariffs_speed_positive"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_tariffs_group_id_tariff_groups"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_tariffs_group_id"))
        batch_op.drop_column("archived_at")
        batch_op.drop_column("takes_effect")
        batch_op.drop_column("group_id")
    op.drop_table("tariff_groups")
