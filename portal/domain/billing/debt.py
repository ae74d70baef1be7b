"""Blocks for debt: the one rule, and the only code that sets or lifts such a block.

An account is blocked for debt when the daily run leaves its balance below the block
threshold (PORTAL_BLOCK_THRESHOLD, kopecks: 0 by default; a negative threshold lets a
debt run up to it before services stop, a positive one asks for a reserve), and the
block lifts the moment money coming in brings the balance back to the threshold: a
payment (payments.settle.credit), a correction (ledger.correct), or the run itself,
which first lifts every block the rule no longer holds (after the threshold was
lowered, or money that came in by another way). Each change is an audit event.

A running promised payment (portal.domain.promised) holds the block off: the run
does not block an account that has one open (`block_below`), and taking one lifts a
block at once (its amount brings the balance back to the threshold, or it is refused).
When it closes, the rule applies to the balance without it.

Blocked accounts are not charged (charges.billable_on), so the forecast
(days_left.forecast) says the balance has run out on the day it falls below the
threshold.
"""

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.domain import audit
from portal.models import Account, AccountStatus, PromisedPayment, PromisedState

BLOCKED = "account.blocked_for_debt"
UNBLOCKED = "account.unblocked"

# What the events say changed.
_ACTIVE = {"status": AccountStatus.ACTIVE.value}
_BLOCKED = {"status": AccountStatus.BLOCKED.value}
_BLOCK = {"before": _ACTIVE, "after": _BLOCKED}
_LIFT = {"before": _BLOCKED, "after": _ACTIVE}


def is_below(balance: int, block_threshold: int) -> bool:
    """Whether a balance is one the run blocks an account for."""
    return balance < block_threshold


def missing_for(balance: int, fee: int, block_threshold: int) -> int:
    """What the balance lacks to carry `fee` (0: it carries it): after a fee the
    balance stays at the block threshold or above, so the next run does not block the
    account for it (a tariff change's fee, a pause's). No fee needs nothing."""
    if fee == 0:
        return 0
    return max(0, fee + block_threshold - balance)


def lift_debt_block(
    db: Session, account_id: int, *, block_threshold: int, actor: str, **why: object
) -> bool:
    """After money came in to the account (in the transaction that holds its row lock,
    as ledger.post leaves it): lift its block for debt if the balance is back at the
    threshold, with an audit event carrying `why` (e.g. payment_id). True if lifted."""
    balance = db.execute(
        sa.update(Account)
        .where(
            Account.id == account_id,
            Account.status == AccountStatus.BLOCKED,
            Account.balance >= block_threshold,
        )
        .values(status=AccountStatus.ACTIVE)
        .returning(Account.balance)
        .execution_options(synchronize_session="fetch")
    ).scalar_one_or_none()
    if balance is None:
        return False
    audit.record(
        db,
        UNBLOCKED,
        actor=actor,
        account_id=account_id,
        balance=balance,
        threshold=block_threshold,
        **_LIFT,
        **why,
    )
    return True


def lift_covered_blocks(db: Session, day: date, *, block_threshold: int, actor: str) -> int:
    """Lift every block for debt whose balance is back at the threshold (the run, before
    charging `day`), each with its audit event. How many."""
    lifted = db.execute(
        sa.update(Account.__table__)
        .where(
            Account.status == AccountStatus.BLOCKED,
            Account.balance >= block_threshold,
        )
        .values(status=AccountStatus.ACTIVE)
        .returning(Account.id, Account.balance)
    ).all()
    # Returned by the UPDATE rather than selected beside it: exactly the blocks this
    # statement lifted, whatever a payment lifted meanwhile.
    audit.record_rows(
        db,
        UNBLOCKED,
        [{"account_id": account_id, "balance": balance} for account_id, balance in lifted],
        actor=actor,
        threshold=block_threshold,
        day=day.isoformat(),
        **_LIFT,
    )
    return len(lifted)


def block_below(
    db: Session, charged: sa.Select, day: date, *, block_threshold: int, actor: str
) -> int:
    """Block every active account among `charged` (a select of account_id, whose rows
    the run has locked by moving their balances) that is below the threshold, with an
    audit event each, in one UPDATE ... RETURNING. How many."""
    blocked = db.execute(
        sa.update(Account.__table__)
        .where(
            Account.id.in_(charged),
            Account.status == AccountStatus.ACTIVE,
            Account.balance < block_threshold,
            ~sa.exists().where(
                PromisedPayment.account_id == Account.id,
                PromisedPayment.state == PromisedState.OPEN,
            ),
        )
        .values(status=AccountStatus.BLOCKED)
        .returning(Account.id, Account.balance)
    ).all()
    # As lift_covered_blocks: the events name exactly the rows the UPDATE changed.
    audit.record_rows(
        db,
        BLOCKED,
        [{"account_id": account_id, "balance": balance} for account_id, balance in blocked],
        actor=actor,
        day=day.isoformat(),
        threshold=block_threshold,
        **_BLOCK,
    )
    return len(blocked)
