"""The ledger: the only way money moves.

Every payment, charge, refund, credit and correction is one append-only entry. The
account's cached balance changes only here, in the same transaction as the entry,
while the account row is locked, so `balance == sum(entries)` always holds.
"""

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import clock
from portal.domain import audit
from portal.domain.billing import debt
from portal.domain.errors import InvalidInput, NotFound
from portal.models import Account, EntryKind, LedgerEntry

# Which sign each kind of entry may carry.
_SIGNS = {
    EntryKind.PAYMENT: 1,
    EntryKind.CREDIT: 1,
    EntryKind.CHARGE: -1,
    EntryKind.REFUND: -1,
    EntryKind.CORRECTION: 0,  # either way
}


@dataclass(frozen=True)
class Posted:
    entry: LedgerEntry
    created: bool  # False when the key had already been posted: nothing moved this time


def post(
    db: Session,
    account_id: int,
    kind: EntryKind,
    amount: int,
    *,
    key: str,
    description: str = "",
    service_date=None,
) -> Posted:
    """Add one entry and move the balance by `amount` kopecks.

    Posting the same `key` twice moves money once: the unique constraint on the key
    refuses the copy, and the entry already there is returned.
    """
    _check_amount(kind, amount)
    existing = entry_by_key(db, key)
    if existing is not None:
        return Posted(existing, created=False)
    account = lock_account(db, account_id)
    entry = LedgerEntry(
        account_id=account.id,
        kind=kind,
        amount=amount,
        balance_after=account.balance + amount,
        idempotency_key=key,
        description=description,
        service_date=service_date,
        created_at=clock.now(),
    )
    try:
        with db.begin_nested():
            db.add(entry)
            db.flush()
    except IntegrityError:
        # A concurrent writer posted the same key between our look-up and insert.
        db.expire(account)
        winner = entry_by_key(db, key)
        if winner is None:
            raise
        return Posted(winner, created=False)
    db.execute(
        sa.update(Account).where(Account.id == account.id).values(balance=Account.balance + amount)
    )
    db.expire(account, ["balance"])
    return Posted(entry, created=True)


def balance_from_entries(db: Session, account_id: int) -> int:
    """The balance recomputed from the ledger (to check the cached one)."""
    total = db.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.account_id == account_id
        )
    )
    return int(total)


def inconsistent_accounts(db: Session) -> list[int]:
    """The accounts whose cached balance is not the sum of their entries, or whose
    entries' balances after do not follow one another in the order of their ids: none,
    ever. It reads the whole ledger: for tests and checks, not for pages."""
    entry = LedgerEntry
    before = sa.func.lag(entry.balance_after, 1, 0).over(
        partition_by=entry.account_id, order_by=entry.id
    )
    steps = sa.select(
        entry.account_id, (entry.balance_after - entry.amount - before).label("gap")
    ).subquery()
    totals = (
        sa.select(entry.account_id, sa.func.sum(entry.amount).label("total"))
        .group_by(entry.account_id)
        .subquery()
    )
    broken = sa.union(
        sa.select(steps.c.account_id).where(steps.c.gap != 0),
        sa.select(Account.id)
        .outerjoin(totals, totals.c.account_id == Account.id)
        .where(Account.balance != sa.func.coalesce(totals.c.total, 0)),
    )
    return sorted(db.scalars(broken))


def _check_amount(kind: EntryKind, amount: int) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise InvalidInput("amount must be an integer number of kopecks")
    if amount == 0:
        raise InvalidInput("amount must not be zero")
    sign = _SIGNS[kind]
    if sign and (amount > 0) != (sign > 0):
        raise InvalidInput(f"a {kind.value} entry cannot have amount {amount}")


def entry_by_key(db: Session, key: str) -> LedgerEntry | None:
    return db.scalar(sa.select(LedgerEntry).where(LedgerEntry.idempotency_key == key))


def lock_account(db: Session, account_id: int) -> Account:
    """The account row, read afresh and locked until the transaction ends: what every
    ledger posting takes first, and what a change of the account's status takes so that
    it never crosses a posting."""
    account = db.scalar(
        sa.select(Account)
        .where(Account.id == account_id)
        # NO KEY UPDATE (PostgreSQL): ledger writers still queue on the row, but rows
        # that merely reference the account (audit events, payments) take KEY SHARE
        # locks, which this does not conflict with: no deadlock between the two.
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    if account is None:
        raise NotFound(f"account {account_id}")
    return account


REASON_MAX = 300


def correct(
    db: Session,
    account_id: int,
    amount: int,
    *,
    reason: str,
    key: str,
    actor: str,
    block_threshold: int,
    address: str | None = None,
) -> Posted:
    """A correction by the provider's staff: one entry with its reason, never an edit,
    and an audit event with the balance before and after. The same `key` (one form)
    corrects once. One that brings the balance back to `block_threshold` lifts a
    block for debt (billing.debt)."""
    reason = reason.strip()
    if not reason or len(reason) > REASON_MAX:
        raise InvalidInput(f"reason: 1 to {REASON_MAX} characters")
    before = lock_account(db, account_id).balance
    posted = post(db, account_id, EntryKind.CORRECTION, amount, key=key, description=reason)
    if posted.created:
        audit.record(
            db,
            "balance.corrected",
            actor=actor,
            account_id=account_id,
            address=address,
            amount=amount,
            reason=reason,
            **audit.changes({"balance": before}, {"balance": posted.entry.balance_after}),
        )
        debt.lift_debt_block(
            db,
            account_id,
            block_threshold=block_threshold,
            actor=actor,
            ledger_entry_id=posted.entry.id,
        )
    return posted


def latest(db: Session, account_id: int, limit: int) -> list[LedgerEntry]:
    """The newest entries of an account, newest first (the staff's card)."""
    return list(
        db.scalars(
            sa.select(LedgerEntry)
            .where(LedgerEntry.account_id == account_id)
            .order_by(LedgerEntry.id.desc())
            .limit(limit)
        )
    )
