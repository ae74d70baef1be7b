"""logins are unique in any case: sign-in looks them up by lower(login), so each table
gets a unique index on that expression (one person or member for each spelling, and the
lookup by index rather than by reading every row)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

TABLES = ("people", "staff_members")


def index_name(table: str) -> str:
    return f"uq_{table}_login_lower"


def upgrade() -> None:
    for table in TABLES:
        refuse_logins_alike(table)
        op.create_index(index_name(table), table, [sa.text("lower(login)")], unique=True)


def refuse_logins_alike(table: str) -> None:
    """Logins that differ only in case (the portal refuses them since 2026-12; an older
    install may hold some): the index cannot be made until one of each is renamed."""
    rows = sa.table(table, sa.column("login"))
    lowered = sa.func.lower(rows.c.login)
    twins = sa.select(lowered).group_by(lowered).having(sa.func.count() > 1)
    alike = (
        op.get_bind()
        .execute(sa.select(rows.c.login).where(lowered.in_(twins)).order_by(lowered, rows.c.login))
        .scalars()
        .all()
    )
    if alike:
        raise RuntimeError(
            f"{table}: these logins differ only in case, and sign-in cannot tell them apart: "
            f"{', '.join(alike)}. Rename one of each, then upgrade again."
        )


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(index_name(table), table_name=table)
