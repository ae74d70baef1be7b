"""Charges and forecasts.

The monthly price of each tariff and add-on is charged day by day: the day's share is
chosen so that the days of a month add up to exactly the monthly price, in kopecks, so
no kopeck is made up or lost to rounding whatever the length of the month.
"""

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.domain import audit, ledger
from portal.models import Account, AccountStatus, EntryKind, Subscription

# A forecast longer than this says "more than a year" rather than a date.
FORECAST_HORIZON_DAYS = 366


def daily_share(monthly_price: int, day: date) -> int:
    """The part of a monthly price charged for one day, in kopecks."""
    days = calendar.monthrange(day.year, day.month)[1]
    return monthly_price * day.day // days - monthly_price * (day.day - 1) // days


def is_running(subscription: Subscription, day: date) -> bool:
    return subscription.started_on <= day and (
        subscription.ended_on is None or day <= subscription.ended_on
    )


def monthly_price(subscription: Subscription) -> int:
    item = subscription.tariff or subscription.service
    return item.monthly_price


def charge_for_day(subscriptions: list[Subscription], day: date) -> int:
    """What the running subscriptions cost on `day`, in kopecks."""
    return sum(daily_share(monthly_price(s), day) for s in subscriptions if is_running(s, day))


def monthly_total(subscriptions: list[Subscription], day: date) -> int:
    """The monthly price of everything running on `day`."""
    return sum(monthly_price(s) for s in subscriptions if is_running(s, day))


@dataclass(frozen=True)
class Forecast:
    """How long the balance lasts if nothing changes."""

    daily_charge: int  # tomorrow's charge, kopecks
    days_left: int | None  # None: no charges, or longer than the horizon
    runs_out_on: date | None  # the first day the balance no longer covers
    recommended_top_up: int  # kopecks, whole roubles, enough to the end of next month


def charged_between(subscriptions: list[Subscription], first: date, last: date) -> int:
    """What billing charges the subscriptions for the days `first` to `last` (both
    included), in kopecks: the sum of their daily shares, without walking the days.

    A month's shares telescope: days 1 to d of a month cost price * d // days_in_month,
    so each month a subscription runs in costs one subtraction.
    """
    total = 0
    for subscription in subscriptions:
        start = max(first, subscription.started_on)
        end = min(last, subscription.ended_on or last)
        price = monthly_price(subscription)
        while start <= end:
            days = calendar.monthrange(start.year, start.month)[1]
            stop = min(end, start.replace(day=days))
            total += price * stop.day // days - price * (start.day - 1) // days
            start = stop + timedelta(days=1)
    return total


def forecast(balance: int, subscriptions: list[Subscription], today: date) -> Forecast:
    """How long the balance lasts from tomorrow on, charged as billing would.

    days_left is how many days from tomorrow on the balance still pays for in full;
    runs_out_on is the first day it does not. A negative balance has run out today.
    """
    tomorrow = today + timedelta(days=1)
    days_left: int | None = None
    runs_out_on: date | None = None
    if balance < 0:
        days_left, runs_out_on = 0, today
    else:
        # The first day whose charges, added to the days before, exceed the balance:
        # a binary search, since what is charged only grows with the days.
        low, high = 0, FORECAST_HORIZON_DAYS
        while low < high:
            middle = (low + high) // 2
            spent = charged_between(subscriptions, tomorrow, tomorrow + timedelta(days=middle))
            if spent > balance:
                high = middle
            else:
                low = middle + 1
        if low < FORECAST_HORIZON_DAYS:
            days_left, runs_out_on = low, tomorrow + timedelta(days=low)
    return Forecast(
        daily_charge=charge_for_day(subscriptions, tomorrow),
        days_left=days_left,
        runs_out_on=runs_out_on,
        recommended_top_up=recommended_top_up(balance, subscriptions, today),
    )


def recommended_top_up(balance: int, subscriptions: list[Subscription], today: date) -> int:
    """The sum that pays everything up to the end of next month, rounded up to roubles."""
    need = charged_between(subscriptions, today + timedelta(days=1), _end_of_next_month(today))
    need -= balance
    if need <= 0:
        return 0
    return -(-need // 100) * 100


def _end_of_next_month(today: date) -> date:
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return date(year, month, calendar.monthrange(year, month)[1])


@dataclass(frozen=True)
class RunResult:
    day: date
    charged_accounts: int
    kopecks: int
    blocked: int


def run_day(db: Session, day: date, *, actor: str = "billing") -> RunResult:
    """Charge every active account for `day`. Running it again for the same day charges
    nothing more: each charge's key names the subscription and the day. An account
    blocked (for debt, or by the provider) or suspended is not charged."""
    charged = kopecks = blocked = 0
    accounts = db.scalars(
        sa.select(Account.id).where(Account.status == AccountStatus.ACTIVE).order_by(Account.id)
    ).all()
    for account_id in accounts:
        # Read again under the ledger's lock: the staff may have blocked it meanwhile.
        account = ledger.lock_account(db, account_id)
        if account.status != AccountStatus.ACTIVE:
            continue
        posted_any = False
        for subscription in account.subscriptions:
            amount = daily_share(monthly_price(subscription), day)
            if not is_running(subscription, day) or amount == 0:
                continue
            result = ledger.post(
                db,
                account.id,
                EntryKind.CHARGE,
                -amount,
                key=f"charge:{subscription.id}:{day.isoformat()}",
                description=_charge_description(subscription),
                service_date=day,
            )
            if result.created:
                posted_any = True
                kopecks += amount
        if posted_any:
            charged += 1
            db.refresh(account, ["balance"])
            if account.balance < 0:
                account.status = AccountStatus.BLOCKED
                blocked += 1
                audit.record(
                    db,
                    "account.blocked_for_debt",
                    actor=actor,
                    account_id=account.id,
                    balance=account.balance,
                    day=day.isoformat(),
                    **audit.changes(
                        {"status": AccountStatus.ACTIVE.value},
                        {"status": AccountStatus.BLOCKED.value},
                    ),
                )
    db.flush()
    return RunResult(day, charged, kopecks, blocked)


def _charge_description(subscription: Subscription) -> str:
    item = subscription.tariff or subscription.service
    return item.name
