"""Reconciling: asking the acquirer about every payment left unfinished (a lost
notification, a crash between steps) and settling it as a notification would, and
reading late fiscal receipts again. `portal payments reconcile` runs it; safe to repeat.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.domain.payments import states
from portal.domain.payments.acquirers.base import PaymentProvider
from portal.domain.payments.errors import AmountMismatch, ProviderUnavailable
from portal.domain.payments.settle import finish_payment, lock, record
from portal.models import Payment, PaymentStatus

ACTOR = "reconcile"
# A payment the acquirer never registered (it did not answer) is given up after this.
NOT_STARTED_AFTER = timedelta(hours=1)
# A fiscal receipt still being registered when its payment succeeded is asked about
# again by reconcile for this long (a cash register's registration takes minutes).
FISCAL_RECEIPT_RECHECK_FOR = timedelta(days=3)


@dataclass
class ReconcileResult:
    checked: int = 0
    succeeded: int = 0
    canceled: int = 0
    still_open: int = 0
    unavailable: int = 0
    review: int = 0
    receipts_updated: int = 0


def unfinished(db: Session) -> list[int]:
    """Ids of the payments not yet final, oldest first."""
    final = [s for s in PaymentStatus if s.is_final]
    return list(
        db.scalars(sa.select(Payment.id).where(Payment.status.not_in(final)).order_by(Payment.id))
    )


def awaiting_fiscal_receipt(db: Session) -> list[int]:
    """Ids of recent credited payments whose fiscal receipt was still being registered."""
    since = clock.now() - FISCAL_RECEIPT_RECHECK_FOR
    recent = db.scalars(
        sa.select(Payment).where(
            Payment.status == PaymentStatus.SUCCEEDED,
            Payment.finished_at >= since,
            Payment.provider_payment_id.is_not(None),
        )
    )
    return [p.id for p in recent if (p.fiscal_receipt or {}).get("registration") == "pending"]


def refresh_fiscal_receipt(
    db: Session,
    payment_id: int,
    provider_for: Callable[[str], PaymentProvider],
    result: ReconcileResult,
) -> None:
    """Read a credited payment's fiscal receipt again; money is not touched."""
    payment = db.get(Payment, payment_id)
    remote = provider_for(payment.provider).fetch(payment.provider_payment_id)
    if remote.fiscal_receipt and remote.fiscal_receipt != payment.fiscal_receipt:
        payment.fiscal_receipt = dict(remote.fiscal_receipt)
        record(
            db,
            "payment.fiscal_receipt_updated",
            payment,
            ACTOR,
            registration=remote.fiscal_receipt.get("registration"),
        )
        result.receipts_updated += 1


def reconcile_one(
    db: Session,
    payment_id: int,
    provider_for: Callable[[str], PaymentProvider],
    result: ReconcileResult,
    *,
    block_threshold: int,
) -> Payment:
    """Ask the acquirer about one unfinished payment and settle it like a notification
    would (a credit lifts a block for debt at `block_threshold`). A payment the acquirer
    never registered is given up after NOT_STARTED_AFTER."""
    payment = db.get(Payment, payment_id)
    result.checked += 1
    if payment.provider_payment_id is None:
        if clock.now() - payment.created_at < NOT_STARTED_AFTER:
            result.still_open += 1
            return payment
        payment = lock(db, payment_id)
        # Read again under the lock: registered meanwhile (the payer's form sent again,
        # or a notification adopting it), it is asked about below, never given up, or
        # what the payer pays there would not be credited.
        if payment.provider_payment_id is None:
            if states.move(payment, PaymentStatus.CANCELED):
                payment.cancel_reason = "not_started"
                record(db, "payment.canceled", payment, ACTOR, reason="not_started")
            result.canceled += 1
            return payment
    try:
        payment = finish_payment(
            db,
            payment_id,
            provider_for(payment.provider),
            actor=ACTOR,
            block_threshold=block_threshold,
        )
    except ProviderUnavailable:
        result.unavailable += 1
        return payment
    except AmountMismatch:
        result.review += 1
        return db.get(Payment, payment_id)
    if payment.status is PaymentStatus.SUCCEEDED:
        result.succeeded += 1
    elif payment.status is PaymentStatus.CANCELED:
        result.canceled += 1
    else:
        result.still_open += 1
    return payment
