"""The notification centre: everything sent to a person, read or not, so nothing depends
on a push arriving. `notify` keeps the entry and a delivery for each of the person's
devices that wants it; once the transaction commits, a job pushes them
(portal.domain.push.sending), or the push sweep does if the job is lost."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

import sqlalchemy as sa
from babel.dates import format_date
from babel.numbers import format_currency
from flask import current_app, has_request_context, url_for
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import clock, jobs
from portal.domain.errors import NotFound
from portal.models import Account, Notification, NotificationKind, Payment, Person

SEND_JOB = "portal.domain.push.sending:send_job"
DEFAULT_LOCALE = "ru"  # the portal's own (BABEL_DEFAULT_LOCALE)
PAGE_SIZE = 50


@contextmanager
def in_language_of(person: Person) -> Iterator[None]:
    """Texts written inside (gettext) are in the person's language: the one they chose,
    else the portal's own."""
    with force_locale(person.locale or DEFAULT_LOCALE):
        yield


def notify(
    db: Session,
    person_id: int,
    kind: NotificationKind,
    title: str,
    body: str,
    url: str,
    *,
    push: bool = True,
) -> Notification:
    """Keep a notification in the person's centre; push it once this is committed.
    `url`: the page it leads to, relative to the portal's root ("history/").
    `push=False`: the caller pushes it itself (a promotion's push, which counts them)."""
    notification = Notification(**_fields(person_id, kind, title, body, url, clock.now()))
    db.add(notification)
    db.flush()
    if push:
        # Its pushes wait in push_deliveries from this commit on; the job is the quick
        # way to send them, the push sweep the sure one (Redis down, the job lost).
        from portal.domain.push import sending  # push builds on the centre, not the reverse

        sending.stage(db, notification)
        jobs.enqueue_after_commit(db, SEND_JOB, notification.id)
    return notification


def notify_many(
    db: Session, kind: NotificationKind, entries: Sequence[tuple[int, str, str]], url: str
) -> list[int]:
    """`notify` for many people at once, as (person id, title, body): one INSERT, their
    pushes staged together, each pushed once this is committed (a job only for those
    with a device to push to: most have none, and each job is a round trip to the queue).
    The notifications' ids."""
    if not entries:
        return []
    now = clock.now()
    # Each id with its person, not in the order of `entries`: asking for that order makes
    # SQLite's INSERT one row at a time.
    written = db.execute(
        sa.insert(Notification).returning(Notification.id, Notification.person_id),
        [_fields(person_id, kind, title, body, url, now) for person_id, title, body in entries],
    ).all()
    from portal.domain.push import sending  # push builds on the centre, not the reverse

    to_push = sending.stage_many(db, kind, [(id_, person_id) for id_, person_id in written])
    for id_ in sorted(to_push):
        jobs.enqueue_after_commit(db, SEND_JOB, id_)
    return sorted(id_ for id_, _person_id in written)


def _fields(
    person_id: int, kind: NotificationKind, title: str, body: str, url: str, now: datetime
) -> dict:
    return {
        "person_id": person_id,
        "kind": kind,
        "title": title[:200],
        "body": body[:1000],
        "url": url[:500],
        "created_at": now,
    }


def payment_credited(db: Session, payment: Payment, amount: int, balance: int) -> Notification:
    """ "Payment credited": the sum and the balance now, in the payer's language."""
    account = db.get(Account, payment.account_id)
    person = db.get(Person, account.person_id)
    locale = person.locale or DEFAULT_LOCALE
    with force_locale(locale):
        title = _("Payment credited")
        body = _(
            "%(amount)s credited to account %(contract)s. Balance: %(balance)s.",
            amount=_rub(amount, locale),
            contract=account.contract_number,
            balance=_rub(balance, locale),
        )
    return notify(db, person.id, NotificationKind.PAYMENTS, title, body, "history/")


class LowBalance(NamedTuple):
    """One account's low-balance warning (billing.forecast's figures)."""

    person_id: int
    locale: str | None  # the person's
    contract_number: str
    days_left: int  # 0: the balance has run out
    runs_out_on: date | None  # the day the services stop
    top_up: int  # the recommended top-up, kopecks


def low_balances(db: Session, warnings: Sequence[LowBalance]) -> list[int]:
    """ "Low balance" to each account of `warnings` (the daily pass warns thousands at
    once), in its person's language: how many days the balance lasts, the day the
    services stop, the recommended top-up; it leads to the Pay page. The ids."""
    texts: dict[int, tuple[str, str]] = {}
    by_locale: dict[str, list[int]] = defaultdict(list)
    for index, warning in enumerate(warnings):
        by_locale[warning.locale or DEFAULT_LOCALE].append(index)
    for locale, indexes in by_locale.items():
        with force_locale(locale):  # once a language, not once a warning
            for index in indexes:
                texts[index] = _low_balance_text(warnings[index], locale)
    entries = [(w.person_id, *texts[index]) for index, w in enumerate(warnings)]
    return notify_many(db, NotificationKind.PAYMENTS, entries, "pay/")


def _low_balance_text(warning: LowBalance, locale: str) -> tuple[str, str]:
    """The title and body, in the locale in force."""
    amount = _rub(warning.top_up, locale)
    if warning.days_left == 0:
        title = _("The balance has run out")
        body = _("Account %(contract)s: the balance has run out.", contract=warning.contract_number)
        if warning.top_up > 0:
            body += " " + _("Top up with %(amount)s to have the services on again.", amount=amount)
    else:
        title = _("Low balance")
        body = ngettext(
            "The balance of account %(contract)s will last %(num)d more day: the services "
            "stop on %(date)s.",
            "The balance of account %(contract)s will last %(num)d more days: the services "
            "stop on %(date)s.",
            warning.days_left,
            contract=warning.contract_number,
            date=format_date(warning.runs_out_on, "d MMMM", locale=locale),
        )
        if warning.top_up > 0:
            body += " " + _("Top up with %(amount)s to keep them on.", amount=amount)
    return title, body


def _rub(kopecks: int, locale: str) -> str:
    return format_currency(Decimal(kopecks) / 100, "RUB", format="#,##0.00\u00a0¤", locale=locale)


def path_of(endpoint: str, **values) -> str:
    """A page's path, in a request or in a job (which has no request to build it from)."""
    if has_request_context():
        return url_for(endpoint, **values)
    with current_app.test_request_context("/"):
        return url_for(endpoint, **values)


# Built once (the bottom bar of every page asks): building a statement and its cache
# key costs SQLAlchemy more than running it; the person goes in as a parameter.
_UNREAD_COUNT = sa.select(sa.func.count(Notification.id)).where(
    Notification.person_id == sa.bindparam("person_id"), Notification.read_at.is_(None)
)


def unread_count(db: Session, person_id: int) -> int:
    return db.scalar(_UNREAD_COUNT, {"person_id": person_id})


def latest(db: Session, person_id: int, limit: int = PAGE_SIZE) -> list[Notification]:
    """The newest first."""
    return list(
        db.scalars(
            sa.select(Notification)
            .where(Notification.person_id == person_id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )


def own(db: Session, person_id: int, notification_id: int) -> Notification:
    """The person's notification; NotFound for anyone else's."""
    notification = db.get(Notification, notification_id)
    if notification is None or notification.person_id != person_id:
        raise NotFound("notification")
    return notification


def mark_read(db: Session, person_id: int, notification_id: int) -> Notification:
    notification = own(db, person_id, notification_id)
    if notification.read_at is None:
        notification.read_at = clock.now()
        db.flush()
    return notification


def mark_all_read(db: Session, person_id: int) -> int:
    result = db.execute(
        sa.update(Notification)
        .where(Notification.person_id == person_id, Notification.read_at.is_(None))
        .values(read_at=clock.now())
    )
    return result.rowcount
