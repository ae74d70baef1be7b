"""Today's figures for the console's start page: each one aggregate query.

"Today" is the provider's day (its time zone), given as UTC bounds, so a payment at
23:59 local time counts today and one at 00:01 tomorrow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.domain.payments import review
from portal.models import (
    Account,
    AccountStatus,
    EntryKind,
    LedgerEntry,
    SmsMessage,
    SmsStatus,
    VisitRequest,
)


@dataclass(frozen=True)
class Figures:
    day: date
    payments: int  # payments credited today (ledger entries of kind payment)
    paid: int  # their sum, kopecks
    new_subscribers: int  # accounts opened today
    blocked: int  # accounts blocked for debt now
    blocked_by_provider: int  # accounts the staff blocked, now
    on_review: int  # payments on review, unresolved
    noted_refunds: int  # refunds noted and not applied, unresolved
    sms_failed: int  # text messages of today that could not be sent
    open_visits: int  # visit requests not done or cancelled yet


def today(db: Session, day: date, *, tz: str) -> Figures:
    """The figures of the provider's `day` (in time zone `tz`) and the queues now."""
    start, end = clock.local_day_bounds(day, tz=tz)
    payments, paid = db.execute(
        sa.select(
            sa.func.count(LedgerEntry.id), sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0)
        )
        .where(LedgerEntry.kind == EntryKind.PAYMENT)
        .where(LedgerEntry.created_at >= start, LedgerEntry.created_at < end)
    ).one()
    new_subscribers = db.scalar(
        sa.select(sa.func.count(Account.id)).where(
            Account.created_at >= start, Account.created_at < end
        )
    )
    blocked = dict(
        db.execute(
            sa.select(Account.status, sa.func.count(Account.id))
            .where(Account.status.in_([AccountStatus.BLOCKED, AccountStatus.BLOCKED_BY_PROVIDER]))
            .group_by(Account.status)
        ).all()
    )
    sms_failed = db.scalar(
        sa.select(sa.func.count(SmsMessage.id)).where(
            SmsMessage.status == SmsStatus.FAILED,
            SmsMessage.created_at >= start,
            SmsMessage.created_at < end,
        )
    )
    return Figures(
        day=day,
        payments=payments,
        paid=int(paid),
        new_subscribers=new_subscribers,
        blocked=blocked.get(AccountStatus.BLOCKED, 0),
        blocked_by_provider=blocked.get(AccountStatus.BLOCKED_BY_PROVIDER, 0),
        on_review=review.review_count(db),
        noted_refunds=review.noted_refund_count(db),
        sms_failed=sms_failed,
        open_visits=db.scalar(
            sa.select(sa.func.count(VisitRequest.id)).where(VisitRequest.open_key.is_not(None))
        ),
    )
