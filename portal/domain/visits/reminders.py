"""The evening-before reminders: `portal visits remind`, safe to run every few minutes.

A request is due from PORTAL_VISIT_REMIND_HOUR on the local evening before its window
until the window starts (a run after midnight still reminds of a morning visit). Each
reminder is claimed by one UPDATE that sets `reminded_at` only where it is still NULL,
in the transaction that queues the message: two runs at once send it once, and a
request cancelled or moved since the run listed it is not claimed.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.domain.visits.notify import Event, notify
from portal.domain.visits.policy import VisitPolicy
from portal.models import VisitRequest, VisitState, VisitWindow

REMINDED = (VisitState.REQUESTED, VisitState.CONFIRMED)


def remind_from(day, policy: VisitPolicy) -> datetime:
    """When the reminder of a visit on local `day` is due: the evening before."""
    return policy.moment(day - timedelta(days=1), time(policy.remind_hour))


def due(db: Session, policy: VisitPolicy) -> list[VisitRequest]:
    """Open requests whose reminder is due now and not yet sent."""
    now = clock.now()
    today = clock.local_today(policy.tz)
    candidates = db.scalars(
        sa.select(VisitRequest)
        .join(VisitWindow, VisitRequest.window_id == VisitWindow.id)
        .where(
            VisitRequest.state.in_(REMINDED),
            VisitRequest.reminded_at.is_(None),
            VisitWindow.day >= today,
            VisitWindow.day <= today + timedelta(days=1),
        )
        .order_by(VisitRequest.id)
    )
    return [
        v
        for v in candidates
        if remind_from(v.window.day, policy) <= now < policy.moment(v.window.day, v.window.starts)
    ]


def send_due(db: Session, policy: VisitPolicy) -> int:
    """Send every due reminder once; commits after each. Returns how many were sent."""
    sent = 0
    # The window each was due for, read now: the claim below is refused for a request
    # cancelled or moved since (by its subscriber or the dispatcher, while this run
    # sends the ones before it); a moved one is due again on its new window's evening.
    for visit_id, window_id in [(v.id, v.window_id) for v in due(db, policy)]:
        claimed = db.execute(
            sa.update(VisitRequest)
            .where(
                VisitRequest.id == visit_id,
                VisitRequest.reminded_at.is_(None),
                VisitRequest.state.in_(REMINDED),
                VisitRequest.window_id == window_id,
            )
            .values(reminded_at=clock.now())
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            db.rollback()
            continue
        notify(db, db.get(VisitRequest, visit_id), Event.REMINDER, policy)
        db.commit()
        sent += 1
    return sent
