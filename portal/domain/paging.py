"""Keyset paging of a log, newest first: a page stays right while new rows arrive, and
serving it costs the same however deep it is."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session


def newest_first(
    db: Session,
    query: sa.Select,
    model,
    *,
    before: int | None,
    size: int,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list, int | None]:
    """The rows of `query` older than id `before` (created in [since, until) when given),
    at most `size` of them, and the `before` of the next page (None on the last)."""
    query = query.order_by(model.id.desc()).limit(size + 1)
    if before is not None:
        query = query.where(model.id < before)
    if since is not None:
        query = query.where(model.created_at >= since)
    if until is not None:
        query = query.where(model.created_at < until)
    rows = list(db.scalars(query).unique())
    more = len(rows) > size
    rows = rows[:size]
    return rows, rows[-1].id if more else None
