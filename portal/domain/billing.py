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


def forecast(balance: int, subscriptions: list[Subscription], today: date) -> Forecast:
    """Walk forward day by day from tomorrow, charging as billing would.

    days_left is how many days from tomorrow on the balance still pays for in full;
    runs_out_on is the first day it does not. A negative balance has run out today.
    """
    tomorrow = today + timedelta(days=1)
    days_left: int | None = None
    runs_out_on: date | None = None
    if balance < 0:
        days_left, runs_out_on = 0, today
    else:
        remaining = balance
        for offset in range(FORECAST_HORIZON_DAYS):
            day = tomorrow + timedelta(days=offset)
            remaining -= charge_for_day(subscriptions, day)
            if remaining < 0:
                days_left, runs_out_on = offset, day
                break
    return Forecast(
        daily_charge=charge_for_day(subscriptions, tomorrow),
        days_left=days_left,
        runs_out_on=runs_out_on,
        recommended_top_up=recommended_top_up(balance, subscriptions, today),
    )


def recommended_top_up(balance: int, subscriptions: list[Subscription], today: date) -> int:
    """The sum that pays everything up to the end of next month, rounded up to roubles."""
    end = _end_of_next_month(today)
    need = -balance
    day = today + timedelta(days=1)
    while day <= end:
        need += charge_for_day(subscriptions, day)
        day += timedelta(days=1)
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
    nothing more: each charge's key names the subscription and the day."""
    charged = kopecks = blocked = 0
    accounts = db.scalars(
        sa.select(Account).where(Account.status == AccountStatus.ACTIVE).order_by(Account.id)
    )
    for account in accounts:
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
                )
    db.flush()
    return RunResult(day, charged, kopecks, blocked)


def _charge_description(subscription: Subscription) -> str:
    item = subscription.tariff or subscription.service
    return item.name
