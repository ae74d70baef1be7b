"""The payment log the staff read: every payment, newest first, filtered and paged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from portal.domain import paging
from portal.models import Account, Payment, PaymentStatus

PAGE = 50


@dataclass(frozen=True)
class Filters:
    """What the log is narrowed to; None is "any". `since`/`until` are UTC moments (the
    caller turns the provider's days into them, clock.local_day_bounds)."""

    since: datetime | None = None
    until: datetime | None = None
    status: PaymentStatus | None = None
    contract: str | None = None


@dataclass(frozen=True)
class Page:
    payments: list[Payment]
    next_before: int | None  # the `before` of the next (older) page; None on the last


def page(db: Session, filters: Filters, *, before: int | None = None, size: int = PAGE) -> Page:
    """One page of payments, newest first, older than id `before` (keyset paging: the
    page stays right while new payments arrive)."""
    query = sa.select(Payment).options(joinedload(Payment.account).joinedload(Account.person))
    if filters.status is not None:
        query = query.where(Payment.status == filters.status)
    if filters.contract:
        query = query.join(Account, Account.id == Payment.account_id).where(
            Account.contract_number == filters.contract
        )
    rows, next_before = paging.newest_first(
        db, query, Payment, before=before, size=size, since=filters.since, until=filters.until
    )
    return Page(rows, next_before)
