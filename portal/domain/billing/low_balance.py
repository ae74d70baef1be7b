"""Low-balance warnings: when the balance will last `days` days or fewer (the forecast of
days_left.py, the one rule), the subscriber is told once per occasion, in the
notification centre and by push ("balance and payments").

`warn` runs after the daily run (`portal billing run`), set-based, in a fixed number of
statements whatever the number of accounts (a few more per thousands of them):

1. one SELECT finds the candidates: the accounts whose balance above the block threshold
   is less than an upper bound of what the next `days` + 1 days can cost (each running
   subscription's share at most price // 28 + 1 a day, the pause fees of the window, an
   open promised payment's credit taken back). Every account the forecast would warn is
   among them; a well-funded account costs nothing more than that SELECT;
2. their pauses and promised payments are read in a query each (`outlooks`; no ledger
   history), and the subscriptions (as charges.Terms, not models) of those whose balance
   has not run out already (days_left.has_run_out: most candidates, day after day, are
   blocked for debt); days_left.lasts, the forecast's own rule, says which last `days` or
   fewer;
3. the occasions already open are read (one SELECT): those of the accounts no longer
   low (recovered: the balance lasts longer than `days` again) are ended, so the next
   fall warns anew; those still low are left as they are, and a second pass the same day
   writes nothing;
4. one INSERT ... ON CONFLICT DO NOTHING opens the occasions of the others (the key is
   the account) and returns only those it wrote: those, and only those, get their
   subscriptions read if they were not and the whole forecast (the top-up), and are
   notified together (notifications.low_balances: one INSERT, their pushes staged in
   another, a push job each once committed). Two passes at once warn nobody twice;
   everything is in the caller's transaction, so a pass that fails leaves nothing, and
   the next one warns the same accounts.
"""

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, timedelta
from itertools import groupby

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.domain import notifications, promised
from portal.domain.billing.charges import Terms
from portal.domain.billing.days_left import Forecast, forecast, has_run_out, lasts, pause_terms
from portal.models import (
    Account,
    AccountStatus,
    LowBalanceWarning,
    Person,
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
# Ids a statement names at once (SQLite takes 32,766 parameters, PostgreSQL 65,535).
_IDS_AT_ONCE = 5000


@dataclass(frozen=True)
class WarnResult:
    candidates: int  # accounts the forecast was asked about
    warned: int  # new occasions, each notified
    recovered: int  # occasions ended


@dataclass(frozen=True)
class Outlook:
    """A candidate and what its forecast reads (billing.account_forecast's inputs), read
    for all the candidates at once."""

    account_id: int
    person_id: int
    locale: str | None
    contract_number: str
    balance: int
    # None: not read, as the balance has run out whatever they are (`with_subscriptions`)
    subscriptions: list[Terms] | None
    pauses: list[Suspension]  # not cancelled, not over by today (those change nothing ahead)
    credit_back: tuple[date, int] | None  # the running promised payment's

    def lasts(self, today: date, *, block_threshold: int) -> tuple[int | None, date | None]:
        """The forecast's days_left and runs_out_on."""
        return lasts(**self._inputs(today, block_threshold))

    def forecast(self, today: date, *, block_threshold: int) -> Forecast:
        """The whole forecast, top-up included."""
        return forecast(**self._inputs(today, block_threshold))

    def warning(self, today: date, *, block_threshold: int) -> notifications.LowBalance:
        told = self.forecast(today, block_threshold=block_threshold)
        return notifications.LowBalance(
            person_id=self.person_id,
            locale=self.locale,
            contract_number=self.contract_number,
            days_left=told.days_left,
            runs_out_on=told.runs_out_on,
            top_up=told.recommended_top_up,
        )

    def _inputs(self, today: date, block_threshold: int) -> dict:
        paused, pause_fee = pause_terms(self.pauses, today)
        return {
            "balance": self.balance,
            "subscriptions": self.subscriptions,
            "today": today,
            "block_threshold": block_threshold,
            "paused": paused,
            "pause_fee": pause_fee,
            "credit_back": self.credit_back,
        }


def warn(db: Session, today: date, *, days: int, block_threshold: int) -> WarnResult:
    """Warn every account whose balance lasts `days` days or fewer from tomorrow on, once
    per occasion, in the caller's transaction (the caller commits; the pushes go after)."""
    found = outlooks(db, today, days=days, block_threshold=block_threshold)
    low: dict[int, tuple[Outlook, int]] = {}
    for outlook in found:
        left, _runs_out_on = outlook.lasts(today, block_threshold=block_threshold)
        if left is not None and left <= days:
            low[outlook.account_id] = (outlook, left)
    open_before = set(db.scalars(sa.select(LowBalanceWarning.account_id)))
    recovered = _end_occasions(db, sorted(open_before - low.keys()))
    opened = _open_occasions(
        db, today, {id_: left for id_, (_o, left) in low.items() if id_ not in open_before}
    )
    warnings = [
        outlook.warning(today, block_threshold=block_threshold)
        for outlook in with_subscriptions(db, [low[id_][0] for id_ in sorted(opened)])
    ]
    notifications.low_balances(db, warnings)
    return WarnResult(candidates=len(found), warned=len(opened), recovered=recovered)


def outlooks(db: Session, today: date, *, days: int, block_threshold: int) -> list[Outlook]:
    """The candidates (`candidates`) with what the forecast reads of each, by account:
    a query for the accounts, one for the pauses and one for the running promised payments,
    and one (per thousands of accounts) for the subscriptions of those whose days they
    decide."""
    accounts = db.execute(
        _candidate_accounts(today, days=days, block_threshold=block_threshold)
        .add_columns(Account.person_id, Person.locale, Account.contract_number, Account.balance)
        .join(Person, Person.id == Account.person_id)
        .order_by(Account.id)
    ).all()
    ids = {account.id for account in accounts}
    # Pauses under way or to come, and running promises, are few: all of them are read
    # (no list of thousands of ids to send) and those of the candidates kept.
    pauses: dict[int, list[Suspension]] = defaultdict(list)
    for pause in db.scalars(
        sa.select(Suspension)
        .where(Suspension.cancelled_at.is_(None), Suspension.ends_on > today)
        .order_by(Suspension.account_id, Suspension.starts_on)
    ):
        if pause.account_id in ids:
            pauses[pause.account_id].append(pause)
    promises = {
        promise.account_id: promised.credit_back(db, promise, today)
        for promise in db.scalars(
            sa.select(PromisedPayment).where(PromisedPayment.state == PromisedState.OPEN)
        )
        if promise.account_id in ids
    }
    # Those whose balance has run out already last 0 days whatever they pay for.
    read = {
        account.id
        for account in accounts
        if not has_run_out(
            account.balance, block_threshold=block_threshold, credit_back=promises.get(account.id)
        )
    }
    terms = _terms(db, sorted(read))
    return [
        Outlook(
            account_id=account.id,
            person_id=account.person_id,
            locale=account.locale,
            contract_number=account.contract_number,
            balance=account.balance,
            subscriptions=terms.get(account.id, []) if account.id in read else None,
            pauses=pauses.get(account.id, []),
            credit_back=promises.get(account.id),
        )
        for account in accounts
    ]


def with_subscriptions(db: Session, found: list[Outlook]) -> list[Outlook]:
    """The outlooks, with the subscriptions of those that were not read (for the whole
    forecast: the top-up reads them)."""
    terms = _terms(db, [outlook.account_id for outlook in found if outlook.subscriptions is None])
    return [
        outlook
        if outlook.subscriptions is not None
        else replace(outlook, subscriptions=terms.get(outlook.account_id, []))
        for outlook in found
    ]


def _terms(db: Session, ids: list[int]) -> dict[int, list[Terms]]:
    """The accounts' subscriptions as the charge rules read them, by account, in the
    order of Account.subscriptions; their tariffs and services from the catalogue."""
    rows = [
        row
        for chunk in _chunks(ids)
        for row in db.execute(
            sa.select(
                Subscription.account_id,
                Subscription.started_on,
                Subscription.ended_on,
                Subscription.price_override,
                Subscription.price_override_until,
                Subscription.tariff_id,
                Subscription.service_id,
            )
            .where(Subscription.account_id.in_(chunk))
            .order_by(Subscription.account_id, Subscription.id)
        )
    ]
    tariffs = _catalogue(db, Tariff, {row.tariff_id for row in rows})
    services = _catalogue(db, Service, {row.service_id for row in rows})
    return {
        account_id: [
            Terms(
                started_on=row.started_on,
                ended_on=row.ended_on,
                price_override=row.price_override,
                price_override_until=row.price_override_until,
                tariff=tariffs.get(row.tariff_id),
                service=services.get(row.service_id),
            )
            for row in group
        ]
        for account_id, group in groupby(rows, key=lambda row: row.account_id)
    }


def _catalogue(db: Session, model: type[Tariff] | type[Service], ids: set[int | None]) -> dict:
    ids.discard(None)
    if not ids:
        return {}
    return {item.id: item for item in db.scalars(sa.select(model).where(model.id.in_(ids)))}


def _end_occasions(db: Session, account_ids: list[int]) -> int:
    """End the occasions of these accounts (recovered); how many there were."""
    return sum(
        db.execute(
            sa.delete(LowBalanceWarning).where(LowBalanceWarning.account_id.in_(chunk))
        ).rowcount
        for chunk in _chunks(account_ids)
    )


def _open_occasions(db: Session, today: date, days_left: dict[int, int]) -> set[int]:
    """Open an occasion for each account (its id: the forecast's days_left); the ids of
    those it opened: an account whose occasion is open already (another pass, at once)
    is left out."""
    if not days_left:
        return set()
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    return set(
        db.scalars(
            insert(LowBalanceWarning)
            .on_conflict_do_nothing(index_elements=["account_id"])
            .returning(LowBalanceWarning.account_id),
            [
                {"account_id": id_, "warned_on": today, "days_left": left}
                for id_, left in sorted(days_left.items())
            ],
        )
    )


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[at : at + _IDS_AT_ONCE] for at in range(0, len(ids), _IDS_AT_ONCE)]


def candidates(today: date, *, days: int, block_threshold: int) -> sa.Select:
    """The ids of the accounts that may last `days` days or fewer: a superset of those the
    forecast warns (see the module's docstring), in one statement."""
    return _candidate_accounts(today, days=days, block_threshold=block_threshold)


def _candidate_accounts(today: date, *, days: int, block_threshold: int) -> sa.Select:
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
