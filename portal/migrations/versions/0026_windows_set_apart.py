"""visit windows say whether the dispatcher set them for their date: a change of the
weekly template then reaches the dates made from it (those already booked too), and
leaves the dates set apart alone

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("visit_windows") as batch:
        batch.add_column(
            sa.Column("set_apart", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    mark_the_windows_unlike_their_template()


def mark_the_windows_unlike_their_template() -> None:
    """Which of the existing windows the dispatcher set is not recorded: a window whose
    hours or places differ from its weekday's template (or that has none) was set apart;
    one like its template follows it from now on, as it would have been made alike."""
    bind = op.get_bind()
    windows = sa.table(
        "visit_windows",
        sa.column("id", sa.Integer),
        sa.column("district", sa.String),
        sa.column("day", sa.Date),
        sa.column("starts", sa.Time),
        sa.column("ends", sa.Time),
        sa.column("capacity", sa.Integer),
        sa.column("set_apart", sa.Boolean),
    )
    templates = sa.table(
        "visit_window_templates",
        sa.column("district", sa.String),
        sa.column("weekday", sa.Integer),
        sa.column("starts", sa.Time),
        sa.column("ends", sa.Time),
        sa.column("capacity", sa.Integer),
    )
    weekly = {
        (t.district, t.weekday, t.starts): (t.ends, t.capacity)
        for t in bind.execute(sa.select(templates))
    }
    apart = [
        w.id
        for w in bind.execute(sa.select(windows))
        if weekly.get((w.district, w.day.weekday(), w.starts)) != (w.ends, w.capacity)
    ]
    if apart:
        bind.execute(sa.update(windows).where(windows.c.id.in_(apart)).values(set_apart=True))


def downgrade() -> None:
    with op.batch_alter_table("visit_windows") as batch:
        batch.drop_column("set_apart")
