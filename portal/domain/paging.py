"""Keyset paging of a log, newest first: a page stays right while new rows arrive, and
serving it costs the same however deep it is."""

from collections.abc import Callable
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
    together: Callable[[object, object], bool] | None = None,
    spill: int = 0,
) -> tuple[list, int | None]:
    """The rows of `query` older than id `before` (created in [since, until) when given),
    at most `size` of them, and the `before` of the next page (None on the last).

    `together(newer, older)` says two neighbouring rows belong on one page (a day's
    charges, shown as one line): the page then grows past `size` by up to `spill` rows
    rather than part them. All of it is one query.
    """
    query = query.order_by(model.id.desc()).limit(size + spill + 1)
    if before is not None:
        query = query.where(model.id < before)
    if since is not None:
        query = query.where(model.created_at >= since)
    if until is not None:
        query = query.where(model.created_at < until)
    rows = list(db.scalars(query).unique())
    end, longest = min(size, len(rows)), min(len(rows), size + spill)
    while together and 0 < end < longest and together(rows[end - 1], rows[end]):
        end += 1
    more = len(rows) > end
    rows = rows[:end]
    return rows, rows[-1].id if more else None
