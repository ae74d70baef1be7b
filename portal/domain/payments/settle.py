"""Settling a payment: the only place where a payment's money moves.

`finish_payment` is the one function that settles a payment: the acquirer's
notification (notifications.py), the page the payer comes back to and the reconciler
(reconcile.py) all call it. It asks the acquirer (never trusting a notification's
content), moves the payment through the state machine (states.py) and, on success,
credits the account with one ledger entry keyed by the payment, in the same
transaction, so any number of concurrent or repeated calls credit it exactly once.
`record_refund` is its opposite: a refund made at the acquirer, debited once.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.domain import audit, ledger, notifications, promised
from portal.domain.billing import debt
from portal.domain.errors import NotFound
from portal.domain.payments import receipts, states
from portal.domain.payments.acquirers.base import PaymentProvider, RemotePayment, RemoteStatus
from portal.domain.payments.errors import AmountMismatch, NotificationNoted, RemoteNotFound
from portal.models import (
    EntryKind,
    LedgerEntry,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
)

log = logging.getLogger(__name__)

_DESCRIPTIONS = {
    PaymentMethod.CARD: "Онлайн-оплата картой",
    PaymentMethod.SBP: "Онлайн-оплата через СБП",
}


def ledger_key(payment: Payment) -> str:
    """The ledger entry of a payment: unique, so it is credited once whatever happens."""
    return f"payment:{payment.id}"


def refund_key(provider: str, refund_id: str) -> str:
    """The ledger entry of a refund made at an acquirer: unique, so it is debited once."""
    return f"refund:{provider}:{refund_id}"


def acquirer_actor(provider: PaymentProvider) -> str:
    """How an audit event names an acquirer that acted (a notification)."""
    return f"acquirer:{provider.name}"


def payment_of(db: Session, account_ids: list[int], payment_id: int) -> Payment:
    """A payment of one of these accounts; NotFound for anyone else's."""
    payment = db.get(Payment, payment_id)
    if payment is None or payment.account_id not in account_ids:
        raise NotFound(f"payment {payment_id}")
    return payment


def credited_amount(db: Session, payment: Payment) -> int | None:
    """What the payment's ledger entry credited (its own amount, or what the staff
    credited from review instead); None if nothing was."""
    return db.scalar(
        sa.select(LedgerEntry.amount).where(LedgerEntry.idempotency_key == ledger_key(payment))
    )


def finish_payment(
    db: Session, payment_id: int, provider: PaymentProvider, *, actor: str, block_threshold: int
) -> Payment:
    """Settle a payment from what the acquirer says about it now.

    A final payment is returned as it is. Otherwise the acquirer is asked (a
    ProviderUnavailable leaves everything as it was), the row is locked, and the state
    machine applies the answer: succeeded credits the account (one ledger entry, key
    `payment:<id>`) and lifts a block for debt (at `block_threshold`, billing.debt);
    canceled records why; another amount or currency puts the payment on review,
    records it and raises AmountMismatch — the caller commits that record. The caller
    commits.
    """
    payment = db.get(Payment, payment_id)
    if payment is None:
        raise NotFound(f"payment {payment_id}")
    if payment.status.is_final:
        return payment
    if payment.provider_payment_id is None:
        return payment  # never registered: nothing to ask (reconcile gives it up later)
    try:
        remote = provider.fetch(payment.provider_payment_id)
    except RemoteNotFound:
        log.warning("payment %s unknown to %s", payment.id, provider.name)
        return payment
    payment = lock(db, payment_id)
    if payment.status.is_final:
        return payment  # someone settled it while we were asking
    apply_remote(db, payment, remote, actor=actor, block_threshold=block_threshold)
    return payment


def apply_remote(
    db: Session, payment: Payment, remote: RemotePayment, *, actor: str, block_threshold: int
) -> None:
    """Apply the acquirer's view of a locked, unfinished payment."""
    if (remote.amount, remote.currency) != (payment.amount, payment.currency):
        states.move(payment, PaymentStatus.REVIEW)
        audit.record(
            db,
            "payment.amount_mismatch",
            actor=actor,
            account_id=payment.account_id,
            payment_id=payment.id,
            expected=[payment.amount, payment.currency],
            reported=[remote.amount, remote.currency],
            remote_status=remote.status.value,
        )
        db.flush()
        raise AmountMismatch(f"payment {payment.id}")
    if remote.fiscal_receipt:
        payment.fiscal_receipt = dict(remote.fiscal_receipt)
    if remote.status is RemoteStatus.PENDING:
        if states.move(payment, PaymentStatus.PENDING):
            record(db, "payment.pending", payment, actor)
    elif remote.status is RemoteStatus.WAITING:
        if states.move(payment, PaymentStatus.WAITING):
            record(db, "payment.waiting", payment, actor)
    elif remote.status is RemoteStatus.SUCCEEDED:
        states.move(payment, PaymentStatus.SUCCEEDED)
        credit(db, payment, actor, block_threshold=block_threshold)
    elif remote.status is RemoteStatus.CANCELED:
        states.move(payment, PaymentStatus.CANCELED)
        payment.cancel_reason = (remote.cancel_reason or "canceled")[:64]
        record(db, "payment.canceled", payment, actor, reason=payment.cancel_reason)
    db.flush()


def credit(
    db: Session,
    payment: Payment,
    actor: str,
    *,
    block_threshold: int,
    amount: int | None = None,
) -> ledger.Posted:
    """Credit a payment (its own amount, or `amount` received instead: the staff's
    resolution of a payment on review) with its one ledger entry and its numbered
    receipt; close the account's promised payment if the payments since it now cover
    it (promised.repay_if_covered: its credit taken back at once); and lift a block for
    debt once the balance is back at `block_threshold` (billing.debt)."""
    amount = payment.amount if amount is None else amount
    # The promise's row before the account's (ledger.post), the order the run takes them.
    promise = promised.running(db, payment.account_id, lock=True)
    posted = ledger.post(
        db,
        payment.account_id,
        EntryKind.PAYMENT,
        amount,
        key=ledger_key(payment),
        description=_DESCRIPTIONS[payment.method],
    )
    if not posted.created:
        return posted
    receipts.issue(db, payment, posted.entry)  # numbered with the credit, once
    balance = posted.entry.balance_after
    record(
        db,
        "payment.credited",
        payment,
        actor,
        amount=amount,
        **audit.changes({"balance": balance - amount}, {"balance": balance}),
    )
    # The day the promise closes on: the payment's day in UTC (a record only: no rule
    # reads it; the settling paths do not carry the provider's day).
    if promised.repay_if_covered(
        db, promise, clock.now().date(), actor=actor, payment_id=payment.id
    ):
        balance -= promise.amount  # its credit went back with this payment
    debt.lift_debt_block(
        db,
        payment.account_id,
        block_threshold=block_threshold,
        actor=actor,
        payment_id=payment.id,
    )
    # Told once the promise is settled: the balance the subscriber is left with.
    notifications.payment_credited(db, payment, amount, balance)  # centre + push
    return posted


def record_refund(
    db: Session, provider: PaymentProvider, refund_id: str, *, address: str | None
) -> Payment:
    """A refund made at the acquirer (e.g. in its dashboard): read it back and, once it
    has succeeded, debit it from the balance with one ledger entry keyed by the refund,
    so a repeated notification moves nothing more. What cannot be matched to a credited
    payment of ours is recorded for the staff and acknowledged (NotificationNoted)."""
    actor = acquirer_actor(provider)
    try:
        refund = provider.fetch_refund(refund_id)
    except RemoteNotFound:
        refund = None
    payment = refund and db.scalar(
        sa.select(Payment).where(
            Payment.provider == provider.name,
            Payment.provider_payment_id == refund.provider_payment_id,
        )
    )
    if refund is None or payment is None or refund.status != "succeeded":
        audit.record(
            db,
            "payment.refund_noted",
            actor=actor,
            address=address,
            refund_id=refund_id[:64],
            refund_status=refund.status if refund else "unknown",
        )
        raise NotificationNoted(f"refund {refund_id}")
    payment = lock(db, payment.id)
    key = refund_key(provider.name, refund_id)
    reported_again = ledger.entry_by_key(db, key) is not None
    acceptable = (
        payment.status is PaymentStatus.SUCCEEDED
        and refund.currency == payment.currency
        and 0 < refund.amount <= payment.amount
        and (reported_again or refund.amount <= left_to_refund(db, payment))
    )
    if not acceptable:
        record(
            db,
            "payment.refund_mismatch",
            payment,
            actor,
            refund_id=refund_id[:64],
            reported=[refund.amount, refund.currency],
        )
        raise AmountMismatch(f"refund {refund_id} of payment {payment.id}")
    posted = ledger.post(
        db,
        payment.account_id,
        EntryKind.REFUND,
        -refund.amount,
        key=key,
        description=f"Возврат оплаты №{payment.id}",
    )
    if posted.created:
        tie_refund(db, payment, posted.entry)
        record(
            db, "payment.refunded", payment, actor, refund_id=refund_id[:64], amount=refund.amount
        )
    return payment


def left_to_refund(db: Session, payment: Payment) -> int:
    """Kopecks of the payment not given back yet: refunds in parts never add up to more
    than was paid (the caller holds the payment's lock, so two at once are counted)."""
    return payment.amount - sum(r.amount for r in receipts.refunds_of(db, payment.id))


def tie_refund(db: Session, payment: Payment, entry: LedgerEntry) -> Refund:
    """Tie a refund's ledger entry, just posted, to the payment it gives back (its
    receipt says so). The ledger is never changed: the tie is a row of its own."""
    refund = Refund(payment_id=payment.id, ledger_entry_id=entry.id)
    db.add(refund)
    db.flush()
    return refund


def lock(db: Session, payment_id: int) -> Payment:
    """The payment row, locked until the transaction ends, read afresh."""
    return db.scalar(
        sa.select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def record(db: Session, event: str, payment: Payment, actor: str, **data) -> None:
    """An audit event about a payment (its account, id and acquirer go with it)."""
    audit.record(
        db,
        event,
        actor=actor,
        account_id=payment.account_id,
        payment_id=payment.id,
        provider=payment.provider,
        **data,
    )
