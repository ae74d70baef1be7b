"""How long the balance lasts, and what to top up: the run's rules, looked ahead.

The forecast charges the days ahead as the run does (charges.charged_between, the same
shares and running days) and stops where the run would block: on the first day whose
charges leave the balance below the block threshold (debt). It never walks the days:
what is charged only grows with the days, so a binary search over sums that each cost
one subtraction a month finds that day.

Days paused by a voluntary suspension (`paused`, as (first, last) pairs) are charged
nothing of the monthly prices but `pause_fee` a day, as the run charges them; the run
blocks no suspended account, so a balance that falls below the threshold on a paused day
runs out on the first day after the pause. A
running promised payment (`credit_back`: the day the run takes its credit back, and
the amount) holds the block off until that day, and the balance is less the credit
from it on.

`account_forecast` gathers all of that for one account (its subscriptions, scheduled
tariff changes and add-ons ending included, its pauses and its promised payment): the
one forecast the home page, the Pay page and the tariff change page show. The
low-balance pass (low_balance.py) reads the same inputs for thousands of accounts at once
and asks `lasts` (the days alone, which `forecast` is built on) of each, `forecast` of
those it warns: one rule for all of them.
"""

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.orm import Session

from portal.domain.billing.charges import (
    Charged,
    Paused,
    charge_for_day,
    charged_between,
    pause_fees,
)
from portal.domain.billing.debt import is_below
from portal.models import Account, Subscription, Suspension

# A forecast longer than this says "more than a year" rather than a date.
FORECAST_HORIZON_DAYS = 366


@dataclass(frozen=True)
class Forecast:
    """How long the balance lasts if nothing changes."""

    daily_charge: int  # tomorrow's charge, kopecks
    days_left: int | None  # None: no charges, or longer than the horizon
    runs_out_on: date | None  # the day the run blocks the account for debt
    recommended_top_up: int  # kopecks, whole roubles, enough to the end of next month


def forecast(
    balance: int,
    subscriptions: list[Subscription],
    today: date,
    *,
    block_threshold: int,
    paused: Paused = (),
    pause_fee: int = 0,
    credit_back: tuple[date, int] | None = None,
) -> Forecast:
    """How long the balance lasts from tomorrow on, charged as billing would.

    days_left is how many days from tomorrow on are charged with the balance staying
    at the block threshold or above; runs_out_on is the first day it does not (the run
    blocks the account that day). A balance already below it has run out today.
    """
    tomorrow = today + timedelta(days=1)
    days_left, runs_out_on = lasts(
        balance,
        subscriptions,
        today,
        block_threshold=block_threshold,
        paused=paused,
        pause_fee=pause_fee,
        credit_back=credit_back,
    )
    back = credit_back[1] if credit_back else 0
    return Forecast(
        daily_charge=charge_for_day(subscriptions, tomorrow, paused)
        + pause_fees(paused, pause_fee, tomorrow, tomorrow),
        days_left=days_left,
        runs_out_on=runs_out_on,
        recommended_top_up=recommended_top_up(
            balance - back,  # the promised credit is not the subscriber's to spend
            subscriptions,
            today,
            block_threshold=block_threshold,
            paused=paused,
            pause_fee=pause_fee,
        ),
    )


def lasts(
    balance: int,
    subscriptions: Sequence[Charged],
    today: date,
    *,
    block_threshold: int,
    paused: Paused = (),
    pause_fee: int = 0,
    credit_back: tuple[date, int] | None = None,
) -> tuple[int | None, date | None]:
    """`forecast`'s days_left and runs_out_on alone, without the top-up: what the
    low-balance pass decides on for every candidate (the top-up only for those it warns)."""
    if has_run_out(balance, block_threshold=block_threshold, credit_back=credit_back):
        return 0, today
    tomorrow = today + timedelta(days=1)
    back_on, back = credit_back or (today, 0)
    spendable = balance - block_threshold
    # The first day whose charges, added to the days before, exceed what may be spent:
    # a binary search, since what is charged only grows with the days (and so does the
    # credit taken back, once its day has come).
    low, high = 0, FORECAST_HORIZON_DAYS
    while low < high:
        middle = (low + high) // 2
        day = tomorrow + timedelta(days=middle)
        spent = _spent(subscriptions, tomorrow, day, paused, pause_fee)
        if day >= back_on and spent + back > spendable:
            high = middle
        else:
            low = middle + 1
    if low >= FORECAST_HORIZON_DAYS:
        return None, None
    # The run blocks an active account only: one paused that day (suspended) is charged
    # its fee below the threshold all the same, and blocked on the first day after.
    runs_out_on = _after_the_pause(tomorrow + timedelta(days=low), paused)
    days = (runs_out_on - tomorrow).days
    if days >= FORECAST_HORIZON_DAYS:
        return None, None
    return days, runs_out_on


def _after_the_pause(day: date, paused: Paused) -> date:
    """`day`, or the first day after the pauses that hold it (one may follow another)."""
    moved = True
    while moved:
        moved = False
        for first, last in paused:
            if first <= day <= last:
                day, moved = last + timedelta(days=1), True
    return day


def has_run_out(
    balance: int, *, block_threshold: int, credit_back: tuple[date, int] | None
) -> bool:
    """Whether the balance has run out today: below the block threshold, with no promised
    payment holding the block off. The forecast says 0 days then, whatever is charged."""
    return is_below(balance, block_threshold) and credit_back is None


def account_forecast(
    db: Session,
    account: Account,
    today: date,
    *,
    block_threshold: int,
    balance: int | None = None,
    subscriptions: list[Subscription] | None = None,
) -> Forecast:
    """How long the account's balance lasts, by the run's rules: its subscriptions (a
    scheduled tariff change is a subscription ending and another starting), its pauses
    and their fee, its running promised payment. `balance` or `subscriptions` in place
    of the account's show it after something not yet done (a sum paid, a change made)."""
    # Here, not at the top: both modules build on billing (charges, debt).
    from portal.domain import promised, suspension

    return forecast_with(
        account,
        today,
        block_threshold=block_threshold,
        pauses=suspension.of_account(db, account.id),
        credit_back=promised.credit_back(db, promised.running(db, account.id), today),
        balance=balance,
        subscriptions=subscriptions,
    )


def forecast_with(
    account: Account,
    today: date,
    *,
    block_threshold: int,
    pauses: list[Suspension],
    credit_back: tuple[date, int] | None,
    balance: int | None = None,
    subscriptions: list[Subscription] | None = None,
) -> Forecast:
    """`account_forecast` with the account's pauses (not cancelled) and its promised
    payment's credit back already read."""
    paused, pause_fee = pause_terms(pauses, today)
    return forecast(
        account.balance if balance is None else balance,
        account.subscriptions if subscriptions is None else subscriptions,
        today,
        block_threshold=block_threshold,
        paused=paused,
        pause_fee=pause_fee,
        credit_back=credit_back,
    )


def pause_terms(pauses: Sequence[Suspension], today: date) -> tuple[Paused, int]:
    """What the forecast reads of an account's pauses (not cancelled): the days paused,
    and the daily fee of those not over by today."""
    from portal.domain import suspension

    return (
        suspension.paused_ranges(pauses),
        max((p.daily_fee for p in pauses if p.ends_on > today), default=0),
    )


def _spent(
    subscriptions: Sequence[Charged], first: date, last: date, paused: Paused, pause_fee: int
) -> int:
    """What the run charges from `first` to `last`: the shares and the pause fees."""
    return charged_between(subscriptions, first, last, paused) + pause_fees(
        paused, pause_fee, first, last
    )


def recommended_top_up(
    balance: int,
    subscriptions: list[Subscription],
    today: date,
    *,
    block_threshold: int,
    paused: Paused = (),
    pause_fee: int = 0,
) -> int:
    """The sum that pays everything up to the end of next month, rounded up to roubles.

    A positive block threshold stays on the balance too (below it the services stop); a
    negative one is a grace the recommendation does not lean on.
    """
    need = _spent(
        subscriptions, today + timedelta(days=1), _end_of_next_month(today), paused, pause_fee
    )
    need += max(block_threshold, 0) - balance
    if need <= 0:
        return 0
    return -(-need // 100) * 100


def _end_of_next_month(today: date) -> date:
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return date(year, month, calendar.monthrange(year, month)[1])
