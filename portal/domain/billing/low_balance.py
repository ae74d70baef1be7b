"""Low-balance warnings: when the balance will last `days` days or fewer (the forecast of
days_left.py, the one rule), the subscriber is told once per occasion, in the
notification centre and by push ("balance and payments").

`warn` runs after the daily run (`portal billing run`), set-based:

1. one SELECT finds the candidates: the accounts whose balance above the block threshold
   is less than an upper bound of what the next `days` + 1 days can cost (each running
   subscription's share at most price // 28 + 1 a day, the pause fees of the window, an
   open promised payment's credit taken back). Every account the forecast would warn is
   among them; a well-funded account costs nothing more than that SELECT;
2. the forecast decides for each candidate (days_left.forecast_with, as account_forecast
   does for one account), with the subscriptions, pauses and promised payments of all of
   them loaded in a handful of queries (no ledger history is read);
3. one DELETE ends the occasions of the accounts no longer low (recovered: the balance
   lasts longer than `days` again), so the next fall warns anew;
4. one INSERT ... ON CONFLICT DO NOTHING keeps the occasions (the key is the account) and
   returns only the new ones: those, and only those, are notified. A second run the
   same day, or two runs at once, warn nobody twice.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from portal.domain import notifications, promised
from portal.domain.billing.days_left import Forecast, forecast_with
from portal.models import (
    Account,
    AccountStatus,
    LowBalanceWarning,
    PromisedPayment,
    PromisedState,
    Service,
    Subscription,
    Suspension,
    Tariff,
)

# Accounts the run may still charge or block for debt (a provider's block is the staff's).
WATCHED = (AccountStatus.ACTIVE, AccountStatus.SUSPENDED, AccountStatus.BLOCKED)
# No month has fewer days: a day's share of a monthly price is at most price // 28 + 1.
_SHORTEST_MONTH = 28


@dataclass(frozen=True)
class WarnResult:
    candidates: int  # accounts the forecast was asked about
    warned: int  # new occasions, each notified
    recovered: int  # occasions ended


def warn(db: Session, today: date, *, days: int, block_threshold: int) -> WarnResult:
    """Warn every account whose balance lasts `days` days or fewer from tomorrow on, once
    per occasion, in the caller's transaction (the caller commits; the pushes go after)."""
    accounts = list(
        db.scalars(
            sa.select(Account)
            .where(Account.id.in_(candidates(today, days=days, block_threshold=block_threshold)))
            .options(
                selectinload(Account.person),
                selectinload(Account.subscriptions).selectinload(Subscription.tariff),
                selectinload(Account.subscriptions).selectinload(Subscription.service),
            )
            .order_by(Account.id)
        )
    )
    ids = [account.id for account in accounts]
    pauses: dict[int, list[Suspension]] = defaultdict(list)
    for pause in db.scalars(
        sa.select(Suspension)
        .where(Suspension.account_id.in_(ids), Suspension.cancelled_at.is_(None))
        .order_by(Suspension.starts_on)
    ):
        pauses[pause.account_id].append(pause)
    promises = {
        promise.account_id: promise
        for promise in db.scalars(
            sa.select(PromisedPayment).where(
                PromisedPayment.account_id.in_(ids), PromisedPayment.state == PromisedState.OPEN
            )
        )
    }
    low: dict[int, tuple[Account, Forecast]] = {}
    for account in accounts:
        forecast = forecast_with(
            account,
            today,
            block_threshold=block_threshold,
            pauses=pauses[account.id],
            credit_back=promised.credit_back(db, promises.get(account.id), today),
        )
        if forecast.days_left is not None and forecast.days_left <= days:
            low[account.id] = (account, forecast)
    recovered = db.execute(
        sa.delete(LowBalanceWarning).where(LowBalanceWarning.account_id.not_in(list(low)))
    ).rowcount
    new: list[int] = []
    if low:
        insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
        new = list(
            db.scalars(
                insert(LowBalanceWarning)
                .values(
                    [
                        {"account_id": id_, "warned_on": today, "days_left": f.days_left}
                        for id_, (_account, f) in low.items()
                    ]
                )
                .on_conflict_do_nothing(index_elements=["account_id"])
                .returning(LowBalanceWarning.account_id)
            )
        )
    for account_id in sorted(new):
        account, forecast = low[account_id]
        notifications.low_balance(
            db, account, forecast.days_left, forecast.runs_out_on, forecast.recommended_top_up
        )
    return WarnResult(candidates=len(accounts), warned=len(new), recovered=recovered)


def candidates(today: date, *, days: int, block_threshold: int) -> sa.Select:
    """The ids of the accounts that may last `days` days or fewer: a superset of those the
    forecast warns (see the module's docstring), in one statement."""
    first, last = today + timedelta(days=1), today + timedelta(days=days + 1)
    window = days + 1
    price = sa.func.coalesce(Tariff.monthly_price, Service.monthly_price)
    subscriptions = (
        sa.select(
            Subscription.account_id,
            sa.func.sum((price // _SHORTEST_MONTH + 1) * window).label("most"),
        )
        .outerjoin(Tariff, Tariff.id == Subscription.tariff_id)
        .outerjoin(Service, Service.id == Subscription.service_id)
        .where(
            Subscription.started_on <= last,
            sa.or_(Subscription.ended_on.is_(None), Subscription.ended_on >= first),
        )
        .group_by(Subscription.account_id)
        .subquery()
    )
    fees = (
        sa.select(Suspension.account_id, sa.func.sum(Suspension.daily_fee * window).label("most"))
        .where(
            Suspension.cancelled_at.is_(None),
            Suspension.starts_on <= last,
            Suspension.ends_on >= first,
        )
        .group_by(Suspension.account_id)
        .subquery()
    )
    credits = (
        sa.select(PromisedPayment.account_id, sa.func.sum(PromisedPayment.amount).label("most"))
        .where(PromisedPayment.state == PromisedState.OPEN)
        .group_by(PromisedPayment.account_id)
        .subquery()
    )
    most = (
        sa.func.coalesce(subscriptions.c.most, 0)
        + sa.func.coalesce(fees.c.most, 0)
        + sa.func.coalesce(credits.c.most, 0)
    )
    return (
        sa.select(Account.id)
        .outerjoin(subscriptions, subscriptions.c.account_id == Account.id)
        .outerjoin(fees, fees.c.account_id == Account.id)
        .outerjoin(credits, credits.c.account_id == Account.id)
        .where(Account.status.in_(WATCHED), Account.balance - block_threshold < most)
    )
