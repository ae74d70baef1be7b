"""Promised payments ("обещанный платёж"): a short credit when the money runs out.

The lifetime of one, and where its money goes (the ledger stays the only truth):

- taken: a `credit` entry of the amount (key promised:<account>:<day>) and, if the
  terms have one, a `charge` of the fee (key ...:fee), in the transaction that locks
  the account; a block for debt lifts at once (billing.debt.lift_debt_block), since the
  amount must bring the balance back to the block threshold (else it is refused);
- running, from the day taken to `ends_on` (taken_on + days - 1): the daily run does
  not block the account for debt (billing.debt.block_below: one rule);
- repaid, when the payments posted after its credit add up to its amount: the credit
  is taken back (a `charge` of the amount, key promised:<id>:back) and the promise
  closed at the moment the payment that covers it is credited, in that transaction
  (`repay_if_covered`, called by payments.settle.credit); the payments stay, less what
  repaid the promise. The run closes one repaid by a payment posted another way;
- expired, when its last day has passed unrepaid: the run takes the credit back the
  same way, and the usual rule blocks the account if the balance is below the
  threshold ("expiry with the debt still there blocks again").

Money is never made up: the credit in and the credit back are the same amount; only
the fee is the provider's. Closing is once per promise (the key of the credit back,
and the state moved from open): billing.run calls `close_due` (set-based), a payment
`repay_if_covered`. Both take the promise's row before the account's (the run moves
the states before the balances), so a payment and the run never wait for each other
the other way round.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.domain import audit, errors, ledger, suspension
from portal.domain.billing import charges, debt
from portal.models import (
    Account,
    AccountStatus,
    EntryKind,
    LedgerEntry,
    PromisedPayment,
    PromisedState,
)

TAKEN = "promised.taken"
CLOSED = "promised.closed"


@dataclass(frozen=True)
class Terms:
    """The provider's terms (PORTAL_PROMISED_* settings)."""

    amount: int  # kopecks credited
    days: int  # how long it runs, the day taken included
    fee: int  # kopecks charged for it (0: free)
    first_day: int  # the days of the month it may be taken on, first..last
    last_day: int
    per_month: int  # how many a calendar month
    when_days_left: int  # offered when the balance lasts fewer days than this

    @classmethod
    def from_config(cls, config) -> "Terms":
        return cls(
            amount=config["PORTAL_PROMISED_AMOUNT"],
            days=config["PORTAL_PROMISED_DAYS"],
            fee=config["PORTAL_PROMISED_FEE"],
            first_day=config["PORTAL_PROMISED_FIRST_DAY"],
            last_day=config["PORTAL_PROMISED_LAST_DAY"],
            per_month=config["PORTAL_PROMISED_PER_MONTH"],
            when_days_left=config["PORTAL_PROMISED_WHEN_DAYS_LEFT"],
        )


class Refused(errors.Refused):
    """A promised payment the terms do not allow (errors.Refused: reason and detail)."""


BACK_DESCRIPTION = "Возврат обещанного платежа"


# Built once (the home page runs it on every view): building a statement and its cache
# key costs SQLAlchemy more than running it; the account goes in as a parameter.
_RUNNING = sa.select(PromisedPayment).where(
    PromisedPayment.account_id == sa.bindparam("account_id"),
    PromisedPayment.state == PromisedState.OPEN,
)


def running(db: Session, account_id: int, *, lock: bool = False) -> PromisedPayment | None:
    """The account's open promised payment, if any (`lock`: its row locked until the
    transaction ends, read afresh: one the run closes meanwhile is not open any more)."""
    query = _RUNNING
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.scalar(query, {"account_id": account_id})


def latest(db: Session, account_id: int, limit: int) -> list[PromisedPayment]:
    """The account's promised payments, newest first (the staff's card)."""
    return list(
        db.scalars(
            sa.select(PromisedPayment)
            .where(PromisedPayment.account_id == account_id)
            .order_by(PromisedPayment.taken_on.desc(), PromisedPayment.id.desc())
            .limit(limit)
        )
    )


def repaid_so_far(db: Session, promise: PromisedPayment) -> int:
    """What the payments posted after the promise's credit add up to, kopecks."""
    return int(
        db.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0)).where(
                LedgerEntry.account_id == promise.account_id,
                LedgerEntry.kind == EntryKind.PAYMENT,
                LedgerEntry.id > promise.credit_entry_id,
            )
        )
    )


def is_repaid(db: Session, promise: PromisedPayment) -> bool:
    """Whether the payments since the promise cover it."""
    return repaid_so_far(db, promise) >= promise.amount


def repay_if_covered(
    db: Session, promise: PromisedPayment | None, today: date, *, actor: str, **why: object
) -> bool:
    """After a payment is posted to the account of `promise` (its row locked by
    `running(..., lock=True)` before the payment's posting): if the payments since its
    credit cover it, take the credit back and close it as repaid on `today`, with an
    audit event carrying `why` (e.g. payment_id). True if it closed."""
    if promise is None or not is_repaid(db, promise):
        return False
    back = ledger.post(
        db,
        promise.account_id,
        EntryKind.CHARGE,
        -promise.amount,
        key=back_key(promise.id),
        description=BACK_DESCRIPTION,
        service_date=today,
    )
    if not back.created:  # taken back already (a run closed it): nothing more to do
        return False
    promise.state = PromisedState.REPAID
    promise.closed_on = max(today, promise.taken_on)
    db.flush()
    audit.record(
        db,
        CLOSED,
        actor=actor,
        account_id=promise.account_id,
        promised_payment_id=promise.id,
        day=today.isoformat(),
        before={"state": PromisedState.OPEN.value},
        after={"state": PromisedState.REPAID.value},
        **why,
    )
    return True


def credit_back(
    db: Session, promise: PromisedPayment | None, today: date
) -> tuple[date, int] | None:
    """For the forecast: the day the run takes a running promise's credit back (the
    day after its last: a payment that covers it closes it at once; the next run
    if it is covered by other means), and the amount; None if none."""
    if promise is None:
        return None
    if is_repaid(db, promise):
        return today + timedelta(days=1), promise.amount
    return promise.ends_on + timedelta(days=1), promise.amount


def refusal(
    db: Session, account: Account, today: date, terms: Terms, *, block_threshold: int
) -> Refused | None:
    """Why the account may not take a promised payment today, or None if it may (read
    under the account's row lock when it is about to be taken)."""
    account_id = account.id
    if account.status not in (AccountStatus.ACTIVE, AccountStatus.BLOCKED):
        return Refused("status")
    open_one = running(db, account_id)
    if open_one is not None:
        return Refused("running", ends_on=open_one.ends_on)
    if not terms.first_day <= today.day <= terms.last_day:
        return Refused("day", first=terms.first_day, last=terms.last_day)
    month = today.replace(day=1)
    taken = db.scalar(
        sa.select(sa.func.count()).where(
            PromisedPayment.account_id == account_id, PromisedPayment.taken_on >= month
        )
    )
    if taken >= terms.per_month:
        return Refused("month", per_month=terms.per_month)
    if db.scalar(
        sa.select(
            sa.exists().where(
                PromisedPayment.account_id == account_id, PromisedPayment.taken_on == today
            )
        )
    ):
        # One a day (the promises' unique key), even where the terms allow more a month
        # and a payment has repaid today's already.
        return Refused("today")
    if account.status is AccountStatus.ACTIVE and not debt.is_below(
        account.balance, block_threshold
    ):
        # Needed only if the balance lasts fewer days than the terms say.
        first, last = today + timedelta(days=1), today + timedelta(days=terms.when_days_left)
        paused = suspension.paused_ranges(suspension.of_account(db, account_id))
        coming = charges.charged_between(account.subscriptions, first, last, paused=paused)
        if not debt.is_below(account.balance - coming, block_threshold):
            return Refused("not_needed")
    short = block_threshold - (account.balance + terms.amount - terms.fee)
    if short > 0:
        return Refused("too_little", missing=short)
    return None


def take(
    db: Session,
    account_id: int,
    today: date,
    terms: Terms,
    *,
    block_threshold: int,
    actor: str,
) -> PromisedPayment:
    """Take a promised payment: the credit and its fee in the ledger, the promise, a
    block for debt lifted, an audit event. Raises Refused when the terms say no."""
    account = ledger.lock_account(db, account_id)
    why_not = refusal(db, account, today, terms, block_threshold=block_threshold)
    if why_not is not None:
        raise why_not
    key = credit_key(account_id, today)
    before = account.balance
    credit = ledger.post(
        db, account_id, EntryKind.CREDIT, terms.amount, key=key, description="Обещанный платёж"
    )
    if not credit.created:  # the same day's promise, posted by a second click
        raise Refused("running", ends_on=today + timedelta(days=terms.days - 1))
    if terms.fee:
        ledger.post(
            db,
            account_id,
            EntryKind.CHARGE,
            -terms.fee,
            key=fee_key(account_id, today),
            description="Плата за обещанный платёж",
            service_date=today,
        )
    promise = PromisedPayment(
        account_id=account_id,
        amount=terms.amount,
        fee=terms.fee,
        taken_on=today,
        ends_on=today + timedelta(days=terms.days - 1),
        credit_entry_id=credit.entry.id,
        state=PromisedState.OPEN,
        created_at=clock.now(),
    )
    db.add(promise)
    db.flush()
    after = ledger.lock_account(db, account_id).balance
    audit.record(
        db,
        TAKEN,
        actor=actor,
        account_id=account_id,
        promised_payment_id=promise.id,
        amount=terms.amount,
        fee=terms.fee,
        ends_on=promise.ends_on.isoformat(),
        **audit.changes(
            {"balance": before, "promised": None},
            {"balance": after, "promised": promise.ends_on.isoformat()},
        ),
    )
    debt.lift_debt_block(
        db,
        account_id,
        block_threshold=block_threshold,
        actor=actor,
        promised_payment_id=promise.id,
    )
    return promise


def credit_key(account_id: int, day: date) -> str:
    """The ledger key of the promise an account takes on a day: one a day."""
    return f"promised:{account_id}:{day.isoformat()}"


def fee_key(account_id: int, day: date) -> str:
    """The ledger key of that promise's fee."""
    return f"{credit_key(account_id, day)}:fee"


def back_key(promise_id: int) -> str:
    """The ledger key of a promise's credit taken back: taken back once."""
    return f"promised:{promise_id}:back"


def back_key_sql(promise_id: sa.ColumnElement[int]) -> sa.ColumnElement[str]:
    """`back_key` in SQL."""
    return (
        sa.literal("promised:", sa.String)
        + sa.cast(promise_id, sa.String)
        + sa.literal(":back", sa.String)
    )


def close_due(db: Session, day: date, *, actor: str) -> sa.Select:
    """Close, set-based, the promises repaid by now or whose last day is before `day`
    (the run, before it charges the day), each with an audit event; returns what the
    run stages as the credits taken back: a select of (promise_id, account_id, amount)
    of every closed promise whose credit has not been taken back yet."""
    paid = (
        sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0))
        .where(
            LedgerEntry.account_id == PromisedPayment.account_id,
            LedgerEntry.kind == EntryKind.PAYMENT,
            LedgerEntry.id > PromisedPayment.credit_entry_id,
        )
        .scalar_subquery()
    )
    table = PromisedPayment.__table__
    for state, condition in [
        (PromisedState.REPAID, paid >= PromisedPayment.amount),
        (PromisedState.EXPIRED, PromisedPayment.ends_on < day),
    ]:
        due = sa.and_(PromisedPayment.state == PromisedState.OPEN, condition)
        # Updated first, then audited from what the UPDATE returns: a promise that a
        # payment closed meanwhile (it waits for its row lock) is neither closed nor
        # audited again.
        closed = db.execute(
            sa.update(table)
            .where(due)
            .values(state=state, closed_on=day)
            .returning(table.c.id, table.c.account_id)
        ).all()
        audit.record_rows(
            db,
            CLOSED,
            [{"account_id": account_id, "promised_payment_id": id_} for id_, account_id in closed],
            actor=actor,
            day=day.isoformat(),
            before={"state": PromisedState.OPEN.value},
            after={"state": state.value},
        )
    return sa.select(
        PromisedPayment.id.label("promise_id"),
        PromisedPayment.account_id,
        PromisedPayment.amount,
    ).where(
        PromisedPayment.state != PromisedState.OPEN,
        ~sa.exists().where(LedgerEntry.idempotency_key == back_key_sql(PromisedPayment.id)),
    )
