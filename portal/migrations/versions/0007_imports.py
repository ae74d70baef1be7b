"""imports of subscribers: the uploaded file's state and its rows

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 05:44:26.500520
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OUTCOMES = ("create", "update", "unchanged", "refuse", "skip")


def upgrade() -> None:
    op.create_table(
        "subscriber_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("encoding", sa.String(length=16), nullable=False),
        sa.Column("delimiter", sa.String(length=1), nullable=False),
        sa.Column("header", sa.JSON(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "checked",
                "queued",
                "running",
                "done",
                "failed",
                name="importstate",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("touched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_subscriber_imports_staff_id_staff_members"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriber_imports")),
    )
    with op.batch_alter_table("subscriber_imports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subscriber_imports_staff_id"), ["staff_id"], unique=False
        )
    op.create_table(
        "subscriber_import_rows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("cells", sa.JSON(), nullable=False),
        sa.Column(
            "planned",
            sa.Enum(*OUTCOMES, name="rowoutcome", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column(
            "outcome",
            sa.Enum(*OUTCOMES, name="rowoutcome", native_enum=False, length=16),
            nullable=True,
        ),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.String(length=100), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("sheet_printed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_subscriber_import_rows_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["subscriber_imports.id"],
            name=op.f("fk_subscriber_import_rows_import_id_subscriber_imports"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriber_import_rows")),
        sa.UniqueConstraint("import_id", "line", name=op.f("uq_subscriber_import_rows_import_id")),
    )


def downgrade() -> None:
    op.drop_table("subscriber_import_rows")
    with op.batch_alter_table("subscriber_imports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriber_imports_staff_id"))
    op.drop_table("subscriber_imports")
