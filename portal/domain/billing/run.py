"""The daily run: every running subscription charged its share of a day, set-based.

`run_day` charges one day with a handful of SQL statements whatever the number of
accounts, in the caller's transaction (the caller commits):

1. claim the day: its row in billing_days, keyed by the day. Another run of the same
   day finds the row and charges nothing; a run that starts while another is still
   charging waits for it (PostgreSQL: a lock on billing_days; SQLite: the write lock),
   then finds the row, or claims the day itself if the first rolled back;
1a. close the promised payments repaid or past their last day (promised.close_due),
   whose credits are taken back with the day's charges, then start and end the
   voluntary suspensions of the day (suspension.start_and_end: statuses suspended and
   active). In this order: closing locks promises' rows, the statuses lock accounts'
   rows, and a payment takes a promise's row before its account's (settle.credit);
2. lift the blocks for debt that the rule no longer holds (debt.lift_covered_blocks),
   so those accounts are charged like the others;
3. stage the day's charges in a temporary table: what charges.billable_on says, each
   at its daily share, leaving out those whose ledger key is there already (a day
   charged before the days were recorded); with them the promised payments' credits
   taken back and the suspensions' daily fees, which are no subscription's and carry
   a negative number in its place (-2 * promise, -2 * suspension - 1), so they sort
   first and never meet a subscription's id;
4. move the balances: one UPDATE adds each account's total for the day. It takes the
   row lock ledger.post takes (PostgreSQL), so a payment posted meanwhile either
   commits first (the UPDATE waits for it and adds to the balance it left) or waits
   for the run to commit (and then reads the balance after the charges): never lost,
   never counted twice;
5. write the entries in one INSERT ... SELECT: each charge's balance_after is the
   account's new balance less the day's charges after it (a window over the account's
   charges in subscription order, the order their ids are given in);
6. block the accounts left below the threshold (debt.block_below);
7. record what was done on the day's row.

`days_to_run` says which days a run up to some day has to charge: every day after the
last charged one, so a run missed (a host down, a cron line lost) is caught up.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal import clock
from portal.domain import promised, suspension
from portal.domain.billing import charges, debt
from portal.models import Account, BillingDay, EntryKind, LedgerEntry

# The day's charges before they are written: one row a subscription, in its own
# MetaData (not a table of the schema; created and dropped inside each run).
_staged = sa.Table(
    "billing_day_charges",
    sa.MetaData(),
    sa.Column("account_id", sa.Integer, primary_key=True),
    sa.Column("subscription_id", sa.Integer, primary_key=True),
    sa.Column("amount", sa.BigInteger, nullable=False),  # negative: money leaves
    sa.Column("idempotency_key", sa.String(128), nullable=False),
    sa.Column("description", sa.String(300), nullable=False),
    prefixes=["TEMPORARY"],
)


@dataclass(frozen=True)
class RunResult:
    day: date
    charged_accounts: int = 0
    charges: int = 0  # ledger entries written
    kopecks: int = 0  # charged in all
    blocked: int = 0  # accounts blocked for debt
    unblocked: int = 0  # blocks lifted before charging
    already_run: bool = False  # the day had been charged: nothing was done


def days_to_run(db: Session, through: date) -> list[date]:
    """The days a run up to `through` charges, oldest first: each day after the last
    one charged before it; just `through` when no earlier day was ever charged (a new
    installation starts from its first run), none when `through` is charged."""
    last = db.scalar(sa.select(sa.func.max(BillingDay.day)).where(BillingDay.day <= through))
    if last is None:
        return [through]
    return [last + timedelta(days=n) for n in range(1, (through - last).days + 1)]


def run_day(db: Session, day: date, *, block_threshold: int, actor: str = "billing") -> RunResult:
    """Charge every running subscription of every active account its share of `day`,
    then block the accounts left below `block_threshold` kopecks. A day is charged once:
    running it again, at once or later, does nothing (already_run)."""
    db.flush()
    if not _claim(db, day, actor):
        return RunResult(day, already_run=True)
    # The promises' rows before the accounts' (the order settle.credit takes them):
    # the other way round, a payment to an account whose pause starts or ends today
    # and whose promise closes deadlocks with the run.
    taken_back = promised.close_due(db, day, actor=actor)
    suspension.start_and_end(db, day, actor=actor)
    unblocked = debt.lift_covered_blocks(db, day, block_threshold=block_threshold, actor=actor)
    connection = db.connection()
    _staged.create(connection)
    _stage_others(db, day, taken_back)
    _stage(db, day, first_run=_is_first_run(db, day))
    accounts, entries, kopecks = db.execute(
        sa.select(
            sa.func.count(sa.distinct(_staged.c.account_id)),
            sa.func.count(),
            sa.func.coalesce(-sa.func.sum(_staged.c.amount), 0),
        )
    ).one()
    blocked = 0
    if entries:
        _move_balances(db)
        _write_entries(db, day)
        blocked = debt.block_below(
            db,
            sa.select(_staged.c.account_id),
            day,
            block_threshold=block_threshold,
            actor=actor,
        )
    _staged.drop(connection)
    result = RunResult(day, accounts, entries, int(kopecks), blocked, unblocked)
    db.execute(
        sa.update(BillingDay.__table__)
        .where(BillingDay.day == day)
        .values(
            accounts=accounts,
            charges=entries,
            kopecks=result.kopecks,
            blocked=blocked,
            unblocked=unblocked,
        )
    )
    # The statements went round the session: what it holds of accounts is stale.
    for item in list(db.identity_map.values()):
        if isinstance(item, Account):
            db.expire(item, ["balance", "status"])
    return result


def _claim(db: Session, day: date, actor: str) -> bool:
    """The day's row, unless another run has it: True when this run charges the day."""
    on_postgresql = db.get_bind().dialect.name == "postgresql"
    if on_postgresql:
        # One run at a time, whatever its day (SQLite has one writer anyway): two runs of
        # different days would move the same balances in different orders, and one of
        # them would deadlock. Readers of billing_days do not wait for it.
        db.execute(sa.text("LOCK TABLE billing_days IN SHARE ROW EXCLUSIVE MODE"))
    insert = postgresql.insert if on_postgresql else sqlite.insert
    claimed = db.execute(
        insert(BillingDay.__table__)
        .values(
            day=day,
            run_at=clock.now(),
            actor=actor,
            accounts=0,
            charges=0,
            kopecks=0,
            blocked=0,
            unblocked=0,
        )
        .on_conflict_do_nothing(index_elements=["day"])
        .returning(BillingDay.day)
    )
    return claimed.scalar_one_or_none() is not None


def _is_first_run(db: Session, day: date) -> bool:
    """No day before `day` was ever charged by a run that recorded its days."""
    return not db.scalar(sa.select(sa.exists().where(BillingDay.day < day)))


def _stage(db: Session, day: date, *, first_run: bool) -> None:
    """The day's charges into the staging table: the billable subscriptions at their
    daily share, but for a share of nothing and a charge already in the ledger.

    A charge of the day already there was written by a tariff change after the day's run
    (under the run's key), or by a run from before the days were recorded. Keys of the
    old shape (`charges.old_charge_key`) can only be among the latter: they are looked
    for on an installation's first recorded day only, as their lookups land all over the
    key index."""
    billable = charges.billable_on(day).subquery()
    shares = sa.select(
        billable.c.account_id,
        billable.c.subscription_id,
        (-charges.daily_share_sql(billable.c.monthly_price, day)).label("amount"),
        charges.charge_key_sql(billable.c.subscription_id, day).label("idempotency_key"),
        billable.c.description,
    ).subquery()
    new = sa.select(shares).where(
        shares.c.amount < 0,
        ~sa.exists().where(LedgerEntry.idempotency_key == shares.c.idempotency_key),
    )
    if first_run:
        old_key = charges.old_charge_key_sql(shares.c.subscription_id, day)
        new = new.where(~sa.exists().where(LedgerEntry.idempotency_key == old_key))
    db.execute(sa.insert(_staged).from_select(list(shares.c.keys()), new))
    if db.get_bind().dialect.name == "postgresql":
        # A new table has no statistics: without them the planner guesses its size.
        db.execute(sa.text(f"ANALYZE {_staged.name}"))


def _stage_others(db: Session, day: date, taken_back: sa.Select) -> None:
    """The promised payments' credits taken back (`taken_back`: promise_id, account_id,
    amount) and the daily fees of the suspensions paused on `day` into the staging
    table, each with its own ledger key, not staged again once in the ledger."""
    back = taken_back.subquery()
    db.execute(
        sa.insert(_staged).from_select(
            ["account_id", "subscription_id", "amount", "idempotency_key", "description"],
            sa.select(
                back.c.account_id,
                -2 * back.c.promise_id,
                -back.c.amount,
                promised.back_key_sql(back.c.promise_id),
                sa.literal(promised.BACK_DESCRIPTION, sa.String),
            ),
        )
    )
    fees = suspension.fees_on(day).subquery()
    db.execute(
        sa.insert(_staged).from_select(
            ["account_id", "subscription_id", "amount", "idempotency_key", "description"],
            sa.select(
                fees.c.account_id,
                -2 * fees.c.suspension_id - 1,
                -fees.c.daily_fee,
                fees.c.idempotency_key,
                sa.literal(suspension.FEE_DESCRIPTION, sa.String),
            ).where(~sa.exists().where(LedgerEntry.idempotency_key == fees.c.idempotency_key)),
        )
    )


def _move_balances(db: Session) -> None:
    """Each account's balance less its day's total, in one UPDATE."""
    accounts = Account.__table__
    totals = (
        sa.select(_staged.c.account_id, sa.func.sum(_staged.c.amount).label("total"))
        .group_by(_staged.c.account_id)
        .subquery()
    )
    db.execute(
        sa.update(accounts)
        .values(balance=accounts.c.balance + totals.c.total)
        .where(accounts.c.id == totals.c.account_id)
    )


def _write_entries(db: Session, day: date) -> None:
    """The day's ledger entries in one INSERT ... SELECT, with their balances after."""
    accounts, entries, staged = Account.__table__, LedgerEntry.__table__, _staged.c
    # The balance is already the one after the whole day (_move_balances): a charge
    # leaves it less the charges after it.
    after_it = sa.func.sum(staged.amount).over(
        partition_by=staged.account_id, order_by=staged.subscription_id, rows=(1, None)
    )
    rows = (
        sa.select(
            staged.account_id,
            sa.literal(EntryKind.CHARGE, entries.c.kind.type),
            staged.amount,
            accounts.c.balance - sa.func.coalesce(after_it, 0),
            staged.idempotency_key,
            staged.description,
            sa.literal(day, sa.Date),
            sa.literal(clock.now(), entries.c.created_at.type),
        )
        .join_from(_staged, accounts, accounts.c.id == staged.account_id)
        .order_by(staged.account_id, staged.subscription_id)
    )
    columns = [
        "account_id",
        "kind",
        "amount",
        "balance_after",
        "idempotency_key",
        "description",
        "service_date",
        "created_at",
    ]
    db.execute(sa.insert(entries).from_select(columns, rows))
