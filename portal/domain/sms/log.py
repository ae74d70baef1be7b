"""The SMS outbox as the staff read it: purpose, number, status and times, newest first.

A sensitive message's text (a new password, a code) never leaves here, sealed or not:
only the texts of ordinary messages are handed out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.domain import paging
from portal.models import Account, SmsMessage, SmsStatus

PAGE = 50


@dataclass(frozen=True)
class Filters:
    """None is "any". `phone` is a whole number in E.164, `phone_ending` its last digits;
    `since`/`until` are UTC moments (clock.local_day_bounds)."""

    since: datetime | None = None
    until: datetime | None = None
    status: SmsStatus | None = None
    phone: str | None = None
    phone_ending: str | None = None
    contract: str | None = None  # the messages to the holder of this contract


@dataclass(frozen=True)
class LoggedSms:
    id: int
    to_phone: str
    purpose: str
    status: SmsStatus
    text: str | None  # None for a sensitive message
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class Page:
    messages: list[LoggedSms]
    next_before: int | None


def page(db: Session, filters: Filters, *, before: int | None = None, size: int = PAGE) -> Page:
    """One page of messages, newest first, older than id `before` (keyset paging)."""
    query = sa.select(SmsMessage)
    if filters.status is not None:
        query = query.where(SmsMessage.status == filters.status)
    if filters.phone:
        query = query.where(SmsMessage.to_phone == filters.phone)
    if filters.phone_ending:
        if not filters.phone_ending.isdigit():
            raise ValueError("phone_ending: digits only")  # never a LIKE wildcard
        query = query.where(SmsMessage.to_phone.endswith(filters.phone_ending))
    if filters.contract:
        holder = sa.select(Account.person_id).where(Account.contract_number == filters.contract)
        query = query.where(SmsMessage.person_id.in_(holder))
    rows, next_before = paging.newest_first(
        db, query, SmsMessage, before=before, size=size, since=filters.since, until=filters.until
    )
    return Page([_shown(row) for row in rows], next_before)


def _shown(row: SmsMessage) -> LoggedSms:
    return LoggedSms(
        id=row.id,
        to_phone=row.to_phone,
        purpose=row.purpose,
        status=row.status,
        text=None if row.sensitive else row.body,
        attempts=row.attempts,
        last_error=row.last_error,
        created_at=row.created_at,
        sent_at=row.sent_at,
        delivered_at=row.delivered_at,
    )
