"""Claiming due work kept in a table (a row with a state, `attempts` and
`next_attempt_at`, as the SMS outbox and the push deliveries have): the worker that
claims a row counts the attempt and holds it for a while; the others skip it. A worker
that dies holding one leaves it due again once the hold is over."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session


def claim_due(
    db: Session,
    model: type,
    row_id: int,
    pending: sa.ColumnElement[bool],
    *,
    now: datetime,
    hold_until: datetime,
    **also: object,
) -> bool:
    """Count an attempt on the row and hold it until `hold_until` (setting `also` too), if
    it is `pending` and due at `now` and no other worker is claiming it right now. True if
    this worker has it (the caller commits); rolled back if not."""
    if db.get_bind().dialect.name == "postgresql":
        # A row another worker is claiming right now is skipped, not waited for.
        locked = db.scalar(
            sa.select(model.id).where(model.id == row_id).with_for_update(skip_locked=True)
        )
        if locked is None:
            db.rollback()
            return False
    # The conditions make the claim safe on SQLite too: its single writer runs this
    # UPDATE against the latest state, so only one worker sees a row updated.
    claimed = db.execute(
        sa.update(model)
        .where(model.id == row_id, pending, model.next_attempt_at <= now)
        .values(attempts=model.attempts + 1, next_attempt_at=hold_until, **also)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        db.rollback()
        return False
    return True
