"""Voluntary suspensions ("добровольная блокировка"): services paused for some days.

A suspension pauses the account's services from `starts_on` to `ends_on`, both
included. Its rules (the provider's terms, PORTAL_SUSPENSION_* settings): at least
`min_days` and at most `max_days` long; starting today or later, but not later than
`ahead_days` from today; not overlapping another; at least `min_interval_days` free
days between two; at most `year_days` paused days in a calendar year (cancelled days
and days released by an early resume do not count); an `activation_fee` charged when
asked for (given back if cancelled before the start) and a `daily_fee` charged for
each paused day instead of the monthly prices (0: none).

What it does to money and status:

- no monthly charges on a paused day: billing.charges.billable_on leaves the account's
  subscriptions out for it; the run charges the daily fee instead (`fees_on`, key
  suspension:<id>:<day>), and the forecast leaves the days out the same way;
- the account is `suspended` during it: the run sets and ends the status each day
  (`start_and_end`), and asking for one that starts today, or resuming, changes the
  status at once;
- one that starts today, asked for after today's run has charged the account, makes
  today a paused day all the same (`_pause_today`): the day's monthly charges come
  back in one credit (key suspension:<id>:today_back, so once) and the daily fee is
  charged under the run's own key; asked for before the run, the run does just that;
- a scheduled suspension may be cancelled before its first day; a running one may be
  resumed early: it then ends today (today stays a paused day) and the days after are
  released. A resume leaves the account active, or blocked for debt if its balance is
  below the threshold (billing.debt's rule).

Every change is an audit event with the subscriber as its actor and what changed.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.domain import audit, errors, ledger
from portal.domain.billing import charges, debt
from portal.domain.errors import NotFound
from portal.models import (
    Account,
    AccountStatus,
    BillingDay,
    EntryKind,
    LedgerEntry,
    Suspension,
)

REQUESTED = "suspension.requested"
CANCELLED = "suspension.cancelled"
RESUMED = "suspension.resumed"
STARTED = "account.suspended"
ENDED = "account.resumed"


@dataclass(frozen=True)
class Terms:
    """The provider's terms (PORTAL_SUSPENSION_* settings)."""

    min_days: int
    max_days: int
    daily_fee: int  # kopecks a paused day (0: none)
    activation_fee: int  # kopecks once (0: none)
    year_days: int  # paused days allowed in a calendar year
    min_interval_days: int  # free days required between two suspensions
    ahead_days: int  # how far ahead a suspension may start

    @classmethod
    def from_config(cls, config) -> "Terms":
        return cls(
            min_days=config["PORTAL_SUSPENSION_MIN_DAYS"],
            max_days=config["PORTAL_SUSPENSION_MAX_DAYS"],
            daily_fee=config["PORTAL_SUSPENSION_DAILY_FEE"],
            activation_fee=config["PORTAL_SUSPENSION_ACTIVATION_FEE"],
            year_days=config["PORTAL_SUSPENSION_YEAR_DAYS"],
            min_interval_days=config["PORTAL_SUSPENSION_MIN_INTERVAL_DAYS"],
            ahead_days=config["PORTAL_SUSPENSION_AHEAD_DAYS"],
        )


class Refused(errors.Refused):
    """A suspension the terms do not allow (errors.Refused: reason and detail)."""


def days_of(first: date, last: date) -> int:
    return (last - first).days + 1


# Built once (the home page runs it on every view): building a statement and its cache
# key costs SQLAlchemy more than running it; the account goes in as a parameter.
_OF_ACCOUNT = (
    sa.select(Suspension)
    .where(Suspension.account_id == sa.bindparam("account_id"), Suspension.cancelled_at.is_(None))
    .order_by(Suspension.starts_on)
)


def of_account(db: Session, account_id: int) -> list[Suspension]:
    """The account's suspensions that are not cancelled, oldest first."""
    return list(db.scalars(_OF_ACCOUNT, {"account_id": account_id}))


def current_and_coming(suspensions: list[Suspension], today: date) -> list[Suspension]:
    """Those running today (not resumed) or scheduled after it (the pages list them)."""
    return [s for s in suspensions if s.ends_on >= today and s.resumed_at is None]


def used_days(suspensions: list[Suspension], year: int) -> int:
    """The paused days of `year` among `suspensions`."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    return sum(max(0, days_of(max(first, s.starts_on), min(last, s.ends_on))) for s in suspensions)


def refusal(
    db: Session, account: Account, first: date, last: date, today: date, terms: Terms
) -> Refused | None:
    """Why the account may not pause from `first` to `last`, or None if it may."""
    if account.status not in (AccountStatus.ACTIVE, AccountStatus.SUSPENDED):
        return Refused("status")
    if last < first:
        return Refused("order")
    if first < today:
        return Refused("past")
    if first > today + timedelta(days=terms.ahead_days):
        return Refused("too_far", days=terms.ahead_days)
    length = days_of(first, last)
    if length < terms.min_days:
        return Refused("too_short", days=terms.min_days)
    if length > terms.max_days:
        return Refused("too_long", days=terms.max_days)
    others = of_account(db, account.id)
    gap = timedelta(days=terms.min_interval_days)
    for other in others:
        if other.starts_on <= last and first <= other.ends_on:
            return Refused("overlap", first=other.starts_on, last=other.ends_on)
        if other.starts_on <= last + gap and first - gap <= other.ends_on:
            return Refused("too_soon", days=terms.min_interval_days)
    for year in sorted({first.year, last.year}):
        left = terms.year_days - used_days(others, year)
        if used_days([Suspension(starts_on=first, ends_on=last)], year) > left:
            return Refused("quota", year=year, left=max(left, 0), days=terms.year_days)
    return None


def request(
    db: Session,
    account_id: int,
    first: date,
    last: date,
    today: date,
    terms: Terms,
    *,
    actor: str,
    block_threshold: int = 0,
) -> Suspension:
    """Pause the account from `first` to `last`: the suspension, its activation fee in
    the ledger, the status at once if it starts today, an audit event. Raises Refused
    when the terms say no, or ("money") when the fee would leave the balance below
    `block_threshold` (the run would block the account, and a blocked one is not paused)."""
    if first == today:
        charges.wait_for_the_run(db)  # today's charges come back if the run has been
    account = ledger.lock_account(db, account_id)
    why_not = refusal(db, account, first, last, today, terms)
    if why_not is not None:
        raise why_not
    missing = debt.missing_for(account.balance, terms.activation_fee, block_threshold)
    if missing:
        raise Refused("money", missing=missing)
    suspension = Suspension(
        account_id=account_id,
        starts_on=first,
        ends_on=last,
        daily_fee=terms.daily_fee,
        activation_fee=terms.activation_fee,
        created_at=clock.now(),
    )
    db.add(suspension)
    db.flush()
    if terms.activation_fee:
        ledger.post(
            db,
            account_id,
            EntryKind.CHARGE,
            -terms.activation_fee,
            key=activation_key(suspension.id),
            description="Подключение добровольной блокировки",
            service_date=today,
        )
    audit.record(
        db,
        REQUESTED,
        actor=actor,
        account_id=account_id,
        suspension_id=suspension.id,
        activation_fee=terms.activation_fee,
        daily_fee=terms.daily_fee,
        before={"suspension": None},
        after={"suspension": {"starts_on": first.isoformat(), "ends_on": last.isoformat()}},
    )
    if first == today and account.status is AccountStatus.ACTIVE:
        _set_status(db, account, AccountStatus.SUSPENDED, actor, suspension.id)
        _pause_today(db, account_id, suspension, today)
    return suspension


def _pause_today(db: Session, account_id: int, suspension: Suspension, today: date) -> None:
    """A pause from today when the run has charged today already: the day's monthly
    charges (the run's, less what a tariff change today gave back) come back, and the
    daily fee is charged as the run charges a paused day. Nothing when the run has not
    been: it will leave the day uncharged and charge the fee itself."""
    if db.get(BillingDay, today) is None:
        return
    charged = db.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.account_id == account_id,
            LedgerEntry.service_date == today,
            sa.or_(
                LedgerEntry.idempotency_key.like("charge:%"),
                LedgerEntry.idempotency_key.like("tariff_change:%:today"),
            ),
        )
    )
    if charged < 0:
        ledger.post(
            db,
            account_id,
            EntryKind.CREDIT,
            -int(charged),
            key=today_back_key(suspension.id),
            description="Возврат списания за день добровольной блокировки",
            service_date=today,
        )
    if suspension.daily_fee:
        ledger.post(
            db,
            account_id,
            EntryKind.CHARGE,
            -suspension.daily_fee,
            key=fee_key(suspension.id, today),
            description=FEE_DESCRIPTION,
            service_date=today,
        )


def own(db: Session, account_id: int, suspension_id: int) -> Suspension:
    """The account's suspension (not cancelled); someone else's is NotFound."""
    suspension = db.get(Suspension, suspension_id)
    if suspension is None or suspension.account_id != account_id or suspension.cancelled_at:
        raise NotFound(f"suspension {suspension_id}")
    return suspension


def cancel(db: Session, account_id: int, suspension_id: int, today: date, *, actor: str) -> None:
    """Cancel a suspension before its first day; its activation fee comes back."""
    ledger.lock_account(db, account_id)
    suspension = own(db, account_id, suspension_id)
    if suspension.starts_on <= today:
        raise Refused("started")
    suspension.cancelled_at = clock.now()
    if suspension.activation_fee:
        ledger.post(
            db,
            account_id,
            EntryKind.CREDIT,
            suspension.activation_fee,
            key=activation_back_key(suspension.id),
            description="Возврат платы за добровольную блокировку",
        )
    audit.record(
        db,
        CANCELLED,
        actor=actor,
        account_id=account_id,
        suspension_id=suspension.id,
        before={"suspension": {"starts_on": suspension.starts_on.isoformat()}},
        after={"suspension": None},
    )


def resume(
    db: Session,
    account_id: int,
    suspension_id: int,
    today: date,
    *,
    block_threshold: int,
    actor: str,
) -> None:
    """End a running suspension today: the days after it are released, the services
    start again at once (or the account is blocked for debt if its balance is below
    the threshold)."""
    account = ledger.lock_account(db, account_id)
    suspension = own(db, account_id, suspension_id)
    if suspension.resumed_at or not suspension.starts_on <= today <= suspension.ends_on:
        raise Refused("not_running")
    before = suspension.ends_on
    suspension.ends_on = today
    suspension.resumed_at = clock.now()
    db.flush()
    audit.record(
        db,
        RESUMED,
        actor=actor,
        account_id=account_id,
        suspension_id=suspension.id,
        before={"ends_on": before.isoformat()},
        after={"ends_on": today.isoformat()},
    )
    if account.status is AccountStatus.SUSPENDED:
        blocked = debt.is_below(account.balance, block_threshold)
        status = AccountStatus.BLOCKED if blocked else AccountStatus.ACTIVE
        _set_status(db, account, status, actor, suspension.id)


def _set_status(
    db: Session, account: Account, status: AccountStatus, actor: str, suspension_id: int
) -> None:
    before = account.status
    account.status = status
    event = STARTED if status is AccountStatus.SUSPENDED else ENDED
    audit.record(
        db,
        event,
        actor=actor,
        account_id=account.id,
        suspension_id=suspension_id,
        before={"status": before.value},
        after={"status": status.value},
    )


def start_and_end(db: Session, day: date, *, actor: str) -> None:
    """The run, before charging `day`: active accounts paused that day become
    suspended, suspended ones no longer paused become active (the run's block rule
    follows), each with an audit event; set-based."""
    table = Account.__table__
    paused = sa.exists().where(charges.paused_on(day, Account.id))
    # A pause resumed on its last day before that day's run: the subscriber has the
    # services back, the run does not take them away again (the day is still paused).
    starts = sa.exists().where(charges.paused_on(day, Account.id), Suspension.resumed_at.is_(None))
    # Only a status a suspension set: an account suspended some other way (by hand,
    # before suspensions were kept) stays so.
    ended = sa.exists().where(
        Suspension.account_id == Account.id,
        Suspension.cancelled_at.is_(None),
        Suspension.ends_on < day,
    )
    for event, old, new, condition in [
        (STARTED, AccountStatus.ACTIVE, AccountStatus.SUSPENDED, starts),
        (ENDED, AccountStatus.SUSPENDED, AccountStatus.ACTIVE, sa.and_(~paused, ended)),
    ]:
        # Audited from what the UPDATE returns, not from a select before it: a status
        # changed in between (a resume, the provider's block or unblock) would give an
        # event without its change, or a change without its event.
        changed = db.scalars(
            sa.update(table)
            .where(Account.status == old, condition)
            .values(status=new)
            .returning(table.c.id)
        ).all()
        audit.record_rows(
            db,
            event,
            [{"account_id": account_id} for account_id in changed],
            actor=actor,
            day=day.isoformat(),
            before={"status": old.value},
            after={"status": new.value},
        )


FEE_DESCRIPTION = "Плата за добровольную блокировку"


def activation_key(suspension_id: int) -> str:
    """The ledger key of a suspension's activation fee."""
    return f"suspension:{suspension_id}:activation"


def activation_back_key(suspension_id: int) -> str:
    """The ledger key of that fee given back (a suspension cancelled before its day)."""
    return f"{activation_key(suspension_id)}:back"


def today_back_key(suspension_id: int) -> str:
    """The ledger key of the day's charges given back to a pause from today."""
    return f"suspension:{suspension_id}:today_back"


def fee_key(suspension_id: int, day: date) -> str:
    """The ledger key of a suspension's daily fee for a day: charged once."""
    return f"suspension:{suspension_id}:{day.isoformat()}"


def fees_on(day: date) -> sa.Select:
    """The daily fees the run charges for `day`: suspension_id, account_id, daily_fee,
    idempotency_key (`fee_key` in SQL) of each suspension paused that day with a fee,
    of a suspended account, or of one resumed (active, or blocked for debt, by the
    resume: its last day is paused however early it was resumed)."""
    key = (
        sa.literal("suspension:", sa.String)
        + sa.cast(Suspension.id, sa.String)
        + sa.literal(f":{day.isoformat()}", sa.String)
    )
    return (
        sa.select(
            Suspension.id.label("suspension_id"),
            Suspension.account_id,
            Suspension.daily_fee,
            key.label("idempotency_key"),
        )
        .join(Account, Account.id == Suspension.account_id)
        .where(
            charges.paused_on(day, Suspension.account_id),
            Suspension.daily_fee > 0,
            sa.or_(
                Account.status == AccountStatus.SUSPENDED,
                sa.and_(
                    Suspension.resumed_at.is_not(None),
                    Account.status.in_([AccountStatus.ACTIVE, AccountStatus.BLOCKED]),
                ),
            ),
        )
    )


def paused_ranges(suspensions: list[Suspension]) -> list[tuple[date, date]]:
    """The ranges the forecast leaves uncharged."""
    return [(s.starts_on, s.ends_on) for s in suspensions]
