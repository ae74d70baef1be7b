"""What is charged, and for which day: the rules the daily run and the forecast share.

The monthly price of each tariff and add-on is charged day by day: days 1 to d of a
month cost `price * d // days_in_month`, so a day costs the difference of two such
sums, and the days of a month add up to exactly the monthly price, in kopecks,
whatever the length of the month; no kopeck is made up or lost to rounding.

Each rule is here twice, side by side, so they change together: in Python for one
account's subscriptions (the forecast, the Pay page), and in SQL for every account
at once (the run, portal.domain.billing.run). `billable_on` is the one place that
says what the run charges for a day; suspended days and scheduled tariff changes
belong there (and in `is_running` / `charged_between`) when they come.

A day within a voluntary suspension (portal.domain.suspension) is charged nothing of
the monthly prices: `billable_on` leaves out the account's subscriptions for it, and
`charged_between` / `charge_for_day` take the paused ranges (`paused`) and leave them
out too. The suspension's own daily fee, if any, is the run's (run.py) and the
forecast's (`pause_fees`) to add.

A subscription connected at a promotional price (Subscription.price_override) is charged
that monthly price up to price_override_until, included, and the catalogue's after it:
each day's share is taken of the price of that day (`price_on`), so a month where the
price changes costs the promotional price's shares of its days up to the change plus
the regular price's shares of the rest, to the kopeck, in the run and the forecast alike.
"""

import calendar
from collections.abc import Sequence
from datetime import date, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.models import Account, AccountStatus, Service, Subscription, Suspension, Tariff

# Days paused, as (first, last) pairs, both included, not overlapping.
Paused = Sequence[tuple[date, date]]


class Terms(NamedTuple):
    """What the Python rules below read of a subscription, with a Subscription's names,
    so they read either: the low-balance pass loads these for thousands of accounts in
    one query instead of a model each (its tariff or service: the catalogue's models)."""

    started_on: date
    ended_on: date | None
    price_override: int | None
    price_override_until: date | None
    tariff: Tariff | None
    service: Service | None


# A subscription as the Python rules read it.
Charged = Subscription | Terms


def days_in_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def daily_share(monthly_price: int, day: date) -> int:
    """The part of a monthly price charged for one day, in kopecks."""
    days = days_in_month(day)
    return monthly_price * day.day // days - monthly_price * (day.day - 1) // days


def daily_share_sql(monthly_price: sa.ColumnElement[int], day: date) -> sa.ColumnElement[int]:
    """`daily_share` in SQL, for a column of monthly prices (never negative: a check
    constraint), so the integer division truncates exactly as Python's floors."""
    days = days_in_month(day)
    return (monthly_price * day.day) // days - (monthly_price * (day.day - 1)) // days


def wait_for_the_run(db: Session) -> None:
    """Before a change made today that charges or gives back today's share itself once
    today's run has been (a tariff change, a pause or an add-on from today): wait for a
    run in progress to commit, and keep one from starting until this transaction ends,
    so the change sees the run's charges or the run sees the change, never neither (the
    run would charge the old tariff, or nothing, for today). Take it before the
    account's row lock: the run takes its lock on billing_days (run._claim) before the
    accounts' rows. SHARE conflicts with the run's lock, not with another change's.
    Also before a change that locks many accounts' rows in an order of its own (an
    import's batch): the run takes them in its order, and the two would deadlock.
    PostgreSQL only: SQLite has one writer at a time."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(sa.text("LOCK TABLE billing_days IN SHARE MODE"))


def charge_key(subscription_id: int, day: date) -> str:
    """The ledger key of a subscription's charge for a day: charged once, however often
    the day is run. The day comes first, so a day's keys are one run of the unique index
    on the keys: by subscription first, a day's million inserts (and the run's lookups)
    would land all over an index holding a key per subscription and day."""
    return f"charge:{day.isoformat()}:{subscription_id}"


def charge_key_sql(subscription_id: sa.ColumnElement[int], day: date) -> sa.ColumnElement[str]:
    """`charge_key` in SQL."""
    return sa.literal(f"charge:{day.isoformat()}:", sa.String) + sa.cast(subscription_id, sa.String)


def old_charge_key(subscription_id: int, day: date) -> str:
    """The key charges were written with before the day came first (2026-12): the ledger
    keeps them as they are (it never changes an entry), so the days charged then are
    found by this one (the two shapes never meet: a subscription id has no dash)."""
    return f"charge:{subscription_id}:{day.isoformat()}"


def old_charge_key_sql(subscription_id: sa.ColumnElement[int], day: date) -> sa.ColumnElement[str]:
    """`old_charge_key` in SQL."""
    return (
        sa.literal("charge:", sa.String)
        + sa.cast(subscription_id, sa.String)
        + sa.literal(f":{day.isoformat()}", sa.String)
    )


def is_running(subscription: Charged, day: date) -> bool:
    """Whether the subscription is charged for `day` (`billable_on` in Python)."""
    return subscription.started_on <= day and (
        subscription.ended_on is None or day <= subscription.ended_on
    )


def billable_on(day: date) -> sa.Select:
    """The subscriptions the run charges for `day`: those running that day, of accounts
    that are active (not blocked, not suspended), each with its account, its monthly
    price and what the ledger calls it (subscription_id, account_id, monthly_price,
    description)."""
    return (
        sa.select(
            Subscription.id.label("subscription_id"),
            Subscription.account_id,
            sa.case(
                (Subscription.price_override_until >= day, Subscription.price_override),
                else_=sa.func.coalesce(Tariff.monthly_price, Service.monthly_price),
            ).label("monthly_price"),
            sa.func.coalesce(Tariff.name, Service.name).label("description"),
        )
        .join(Account, Account.id == Subscription.account_id)
        .outerjoin(Tariff, Tariff.id == Subscription.tariff_id)
        .outerjoin(Service, Service.id == Subscription.service_id)
        .where(
            Account.status == AccountStatus.ACTIVE,
            Subscription.started_on <= day,
            sa.or_(Subscription.ended_on.is_(None), Subscription.ended_on >= day),
            ~sa.exists().where(paused_on(day, Subscription.account_id)),
        )
    )


def paused_on(day: date, account_id: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
    """The condition on suspensions that the account is paused on `day` (a suspension
    not cancelled whose range holds the day)."""
    return sa.and_(
        Suspension.account_id == account_id,
        Suspension.cancelled_at.is_(None),
        Suspension.starts_on <= day,
        Suspension.ends_on >= day,
    )


def monthly_price(subscription: Charged) -> int:
    """The catalogue's monthly price of what the subscription holds."""
    item = subscription.tariff or subscription.service
    return item.monthly_price


def price_on(subscription: Charged, day: date) -> int:
    """The monthly price charged for `day`: the promotional one up to its last day, then
    the catalogue's (`billable_on` in Python)."""
    until = subscription.price_override_until
    if subscription.price_override is not None and until is not None and day <= until:
        return subscription.price_override
    return monthly_price(subscription)


def _priced_spans(subscription: Charged, first: date, last: date) -> list[tuple[date, date, int]]:
    """The days `first` to `last` the subscription runs, as (first, last, monthly price)
    spans: the promotional price's, then the catalogue's."""
    start = max(first, subscription.started_on)
    end = min(last, subscription.ended_on or last)
    if start > end:
        return []
    until = subscription.price_override_until
    if subscription.price_override is None or until is None or until < start:
        return [(start, end, monthly_price(subscription))]
    if until >= end:
        return [(start, end, subscription.price_override)]
    return [
        (start, until, subscription.price_override),
        (until + timedelta(days=1), end, monthly_price(subscription)),
    ]


def charge_for_day(subscriptions: Sequence[Charged], day: date, paused: Paused = ()) -> int:
    """What the running subscriptions cost on `day`, in kopecks (nothing on a paused day)."""
    if any(first <= day <= last for first, last in paused):
        return 0
    return sum(daily_share(price_on(s, day), day) for s in subscriptions if is_running(s, day))


def pause_fees(paused: Paused, daily_fee: int, first: date, last: date) -> int:
    """The suspension fee of the paused days from `first` to `last`, kopecks."""
    days = sum(max(0, (min(last, end) - max(first, start)).days + 1) for start, end in paused)
    return days * daily_fee


def monthly_total(subscriptions: list[Subscription], day: date) -> int:
    """The monthly price of everything running on `day`."""
    return sum(price_on(s, day) for s in subscriptions if is_running(s, day))


def charged_between(
    subscriptions: Sequence[Charged], first: date, last: date, paused: Paused = ()
) -> int:
    """What billing charges the subscriptions for the days `first` to `last` (both
    included), in kopecks: the sum of their daily shares, without walking the days;
    the `paused` days' shares left out.

    A month's shares telescope: days 1 to d of a month cost price * d // days_in_month,
    so each month a subscription runs in costs one subtraction.
    """
    total = 0
    for subscription in subscriptions:
        for start, end, price in _priced_spans(subscription, first, last):
            while start <= end:
                days = days_in_month(start)
                stop = min(end, start.replace(day=days))
                total += price * stop.day // days - price * (start.day - 1) // days
                start = stop + timedelta(days=1)
    for start, end in paused:
        start, end = max(first, start), min(last, end)
        if start <= end:
            total -= charged_between(subscriptions, start, end)
    return total
