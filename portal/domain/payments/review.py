"""The staff's queues of payments: payments on review and refunds noted but not applied.

A payment lands on review when the acquirer reports another amount or currency than
its row (settle.apply_remote records `payment.amount_mismatch`, credits nothing); a
refund made at the acquirer that the portal could not match, or that was pending, in
another currency or larger than its payment, is recorded as `payment.refund_noted` /
`payment.refund_mismatch` and moves nothing. Here the staff resolve each item once,
with a reason and an audit event:

- a payment on review: credit the amount actually received (one ledger entry keyed
  `payment:<id>`, as finish_payment's, so nothing credits it twice), refuse it
  (canceled, nothing credited) or mark it handled;
- a noted refund: apply it (one ledger entry keyed as record_refund's,
  `refund:<acquirer>:<refund id>`) or mark it handled.

Each item has one `queue_resolutions` row (its unique item key decides): the same form
sent twice resolves once, another form finds it resolved (AlreadyResolved).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from portal import clock
from portal.domain import audit, ledger
from portal.domain.errors import InvalidInput, NotFound
from portal.domain.payments import settle, states
from portal.domain.payments.errors import (
    AlreadyResolved,
    NotCreditable,
    NotOnReview,
    RefundNotApplicable,
)
from portal.models import (
    Account,
    AuditEvent,
    EntryKind,
    LedgerEntry,
    Payment,
    PaymentStatus,
    QueueResolution,
    ResolutionOutcome,
)

MISMATCH_EVENT = "payment.amount_mismatch"
REFUND_EVENTS = ("payment.refund_noted", "payment.refund_mismatch")
ACQUIRER_PREFIX = "acquirer:"
REASON_MAX = 300
REFUSED = "refused_by_staff"  # the cancel reason of a refused payment
OPEN = "open"  # an item in its queue, before it is resolved (audit events' `before`)
Outcome = ResolutionOutcome
PAYMENT_OUTCOMES = frozenset({Outcome.CREDITED, Outcome.REFUSED, Outcome.HANDLED})
REFUND_OUTCOMES = frozenset({Outcome.APPLIED, Outcome.HANDLED})


@dataclass(frozen=True)
class Resolved:
    resolution: QueueResolution
    repeated: bool  # the same form again: nothing happened this time


# --- payments on review ------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewItem:
    """A payment on review with what the acquirer reported (None: no record of it)."""

    payment: Payment
    received: int | None
    received_currency: str | None
    remote_status: str | None
    noted_at: datetime | None

    @property
    def creditable(self) -> bool:
        return _why_not_creditable(self) is None


def _open_review():
    resolved = sa.exists().where(
        # The item is named as the payment's ledger entry (settle.ledger_key).
        QueueResolution.item == sa.literal("payment:", sa.String) + sa.cast(Payment.id, sa.String)
    )
    return sa.and_(Payment.status == PaymentStatus.REVIEW, ~resolved)


def payments_on_review(db: Session, limit: int = 200) -> list[ReviewItem]:
    """The payments on review nobody has resolved yet, newest first."""
    payments = list(
        db.scalars(
            sa.select(Payment)
            .options(joinedload(Payment.account).joinedload(Account.person))
            .where(_open_review())
            .order_by(Payment.id.desc())
            .limit(limit)
        )
    )
    reported = _mismatches(db, [p.id for p in payments], [p.account_id for p in payments])
    return [_review_item(payment, reported.get(payment.id)) for payment in payments]


def review_count(db: Session) -> int:
    """How many payments wait on review (one query)."""
    return db.scalar(sa.select(sa.func.count(Payment.id)).where(_open_review()))


def _mismatches(db: Session, payment_ids: list[int], account_ids: list[int]) -> dict:
    """The latest amount_mismatch event of each payment (found through the indexed
    account, then matched by the payment id it names)."""
    if not payment_ids:
        return {}
    events = db.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.event == MISMATCH_EVENT, AuditEvent.account_id.in_(set(account_ids)))
        .order_by(AuditEvent.id)
    )
    wanted = set(payment_ids)
    return {e.data.get("payment_id"): e for e in events if e.data.get("payment_id") in wanted}


def _review_item(payment: Payment, event: AuditEvent | None) -> ReviewItem:
    amount, currency = _reported(event)
    return ReviewItem(
        payment=payment,
        received=amount,
        received_currency=currency,
        remote_status=event.data.get("remote_status") if event else None,
        noted_at=event.at if event else None,
    )


def _why_not_creditable(item: ReviewItem) -> str | None:
    if item.received is None or item.received_currency is None:
        return "unknown"
    if item.remote_status != "succeeded" or item.received <= 0:
        return "not_paid"
    if item.received_currency != item.payment.currency:
        return "currency"
    return None


def resolve_payment(
    db: Session,
    payment_id: int,
    outcome: ResolutionOutcome,
    *,
    reason: str,
    form_key: str,
    staff_id: int,
    block_threshold: int,
    address: str | None = None,
) -> Resolved:
    """Resolve a payment on review: credit what was received (lifting a block for debt
    at `block_threshold`), refuse it, or mark it handled. The payment row is locked
    first (the order finish_payment takes: payment, then account). NotFound,
    NotOnReview, AlreadyResolved, NotCreditable; the caller commits."""
    if outcome not in PAYMENT_OUTCOMES:
        raise InvalidInput(f"outcome {outcome}")
    reason = _reason(reason)
    if db.get(Payment, payment_id) is None:
        raise NotFound(f"payment {payment_id}")
    payment = settle.lock(db, payment_id)
    item = settle.ledger_key(payment)  # the item is named as its ledger entry
    earlier = _resolution(db, item)
    if earlier is not None:
        return _repeated(earlier, form_key, item)
    if payment.status is not PaymentStatus.REVIEW:
        raise NotOnReview(f"payment {payment.id} is {payment.status.value}")
    review = _review_item(
        payment, _mismatches(db, [payment.id], [payment.account_id]).get(payment.id)
    )
    if outcome is Outcome.CREDITED and (why := _why_not_creditable(review)) is not None:
        raise NotCreditable(why)
    actor = audit.staff_actor(staff_id)
    resolution = _claim(db, item, outcome, reason, form_key, staff_id, payment.account_id)
    if isinstance(resolution, Resolved):
        return resolution
    before, after, credited = None, None, None
    if outcome is Outcome.CREDITED:
        states.move(payment, PaymentStatus.SUCCEEDED)
        posted = settle.credit(
            db, payment, actor, amount=review.received, block_threshold=block_threshold
        )
        resolution.ledger_entry_id = posted.entry.id
        credited = posted.entry.amount
        after = posted.entry.balance_after
        before = after - credited
    elif outcome is Outcome.REFUSED:
        states.move(payment, PaymentStatus.CANCELED)
        payment.cancel_reason = REFUSED
    settle.record(
        db,
        "payment.review_resolved",
        payment,
        actor,
        address=address,
        outcome=outcome.value,
        reason=reason,
        expected=[payment.amount, payment.currency],
        received=[review.received, review.received_currency],
        credited=credited,
        **audit.changes(
            {"queue": OPEN, "status": PaymentStatus.REVIEW.value, "balance": before},
            {"queue": outcome.value, "status": payment.status.value, "balance": after},
        ),
    )
    db.flush()
    return Resolved(resolution, repeated=False)


# --- refunds noted but not applied -------------------------------------------------------


@dataclass(frozen=True)
class NotedRefund:
    """A refund made at the acquirer that moved nothing, from its latest audit event."""

    event: AuditEvent
    item: str  # the key its ledger entry would have
    provider: str
    refund_id: str
    refund_status: str | None  # what the acquirer said (noted ones)
    payment: Payment | None
    amount: int | None
    currency: str | None

    @property
    def applicable(self) -> bool:
        return self.payment is not None and self.amount is not None


def _refund_item_sql():
    """The item key of a refund event in SQL (the same on SQLite and PostgreSQL)."""
    provider = sa.func.substr(AuditEvent.actor, len(ACQUIRER_PREFIX) + 1, type_=sa.String)
    return (
        sa.literal("refund:", sa.String)
        + provider
        + sa.literal(":", sa.String)
        + AuditEvent.data["refund_id"].as_string()
    )


def _open_refunds():
    """The latest event of each refund nobody resolved and nothing debited since."""
    item = _refund_item_sql()
    latest = (
        sa.select(sa.func.max(AuditEvent.id).label("id"), item.label("item"))
        .where(AuditEvent.event.in_(REFUND_EVENTS), AuditEvent.actor.startswith(ACQUIRER_PREFIX))
        .group_by(item)
        .subquery()
    )
    return sa.select(latest.c.id).where(
        ~sa.exists().where(QueueResolution.item == latest.c.item),
        ~sa.exists().where(LedgerEntry.idempotency_key == latest.c.item),
    )


def noted_refunds(db: Session, limit: int = 200) -> list[NotedRefund]:
    """The refunds noted but not applied nor resolved, newest first."""
    events = db.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.id.in_(_open_refunds()))
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    return [_noted(db, event) for event in events]


def noted_refund_count(db: Session) -> int:
    """How many noted refunds wait (one query)."""
    return db.scalar(sa.select(sa.func.count()).select_from(_open_refunds().subquery()))


def _noted(db: Session, event: AuditEvent) -> NotedRefund:
    provider = event.actor.removeprefix(ACQUIRER_PREFIX)
    refund_id = str(event.data.get("refund_id") or "")
    payment_id = event.data.get("payment_id")
    payment = db.get(Payment, payment_id) if isinstance(payment_id, int) else None
    amount, currency = _reported(event)
    return NotedRefund(
        event=event,
        item=settle.refund_key(provider, refund_id),
        provider=provider,
        refund_id=refund_id,
        refund_status=event.data.get("refund_status"),
        payment=payment,
        amount=amount,
        currency=currency,
    )


def noted_refund(db: Session, event_id: int) -> NotedRefund:
    """The noted refund an audit event records; NotFound for any other event."""
    event = db.get(AuditEvent, event_id)
    if (
        event is None
        or event.event not in REFUND_EVENTS
        or not event.actor.startswith(ACQUIRER_PREFIX)
        or not event.data.get("refund_id")
    ):
        raise NotFound(f"noted refund {event_id}")
    return _noted(db, event)


def resolve_refund(
    db: Session,
    event_id: int,
    outcome: ResolutionOutcome,
    *,
    reason: str,
    form_key: str,
    staff_id: int,
    address: str | None = None,
) -> Resolved:
    """Resolve a noted refund: debit it once (the key record_refund would use), or mark
    it handled. Only a refund whose payment and sum are known is applied, and at most
    what that payment credited, in its currency. NotFound, AlreadyResolved,
    RefundNotApplicable; the caller commits."""
    if outcome not in REFUND_OUTCOMES:
        raise InvalidInput(f"outcome {outcome}")
    reason = _reason(reason)
    noted = noted_refund(db, event_id)
    payment = settle.lock(db, noted.payment.id) if noted.payment is not None else None
    earlier = _resolution(db, noted.item)
    if earlier is not None:
        return _repeated(earlier, form_key, noted.item)
    if ledger.entry_by_key(db, noted.item) is not None:
        raise AlreadyResolved(noted.item)  # the acquirer's notice debited it meanwhile
    if outcome is Outcome.APPLIED:
        _check_applicable(db, noted, payment)
    account_id = payment.account_id if payment is not None else None
    actor = audit.staff_actor(staff_id)
    resolution = _claim(db, noted.item, outcome, reason, form_key, staff_id, account_id)
    if isinstance(resolution, Resolved):
        return resolution
    before = after = None
    if outcome is Outcome.APPLIED:
        posted = ledger.post(
            db,
            payment.account_id,
            EntryKind.REFUND,
            -noted.amount,
            key=noted.item,
            description=f"Возврат оплаты №{payment.id}",
        )
        resolution.ledger_entry_id = posted.entry.id
        if posted.created:  # else the acquirer's notice debited it, and tied it, meanwhile
            settle.tie_refund(db, payment, posted.entry)
        after = posted.entry.balance_after
        before = after - posted.entry.amount
    audit.record(
        db,
        "payment.refund_resolved",
        actor=actor,
        account_id=account_id,
        address=address,
        payment_id=payment.id if payment is not None else None,
        provider=noted.provider,
        refund_id=noted.refund_id,
        noted_event_id=noted.event.id,
        outcome=outcome.value,
        reason=reason,
        amount=noted.amount if outcome is Outcome.APPLIED else None,
        **audit.changes(
            {"queue": OPEN, "balance": before}, {"queue": outcome.value, "balance": after}
        ),
    )
    db.flush()
    return Resolved(resolution, repeated=False)


def _check_applicable(db: Session, noted: NotedRefund, payment: Payment | None) -> None:
    if payment is None or noted.amount is None or noted.currency is None:
        raise RefundNotApplicable("unknown")
    credited = ledger.entry_by_key(db, settle.ledger_key(payment))
    if payment.status is not PaymentStatus.SUCCEEDED or credited is None:
        raise RefundNotApplicable("not_credited")
    if noted.currency != payment.currency:
        raise RefundNotApplicable("currency")
    if not 0 < noted.amount <= credited.amount:
        raise RefundNotApplicable("amount")
    if noted.amount > settle.left_to_refund(db, payment):
        raise RefundNotApplicable("left")


# --- shared ------------------------------------------------------------------------------


def _reported(event: AuditEvent | None) -> tuple[int | None, str | None]:
    """The sum and currency an event says the acquirer reported (None where it does not)."""
    reported = event.data.get("reported") if event is not None else None
    if not isinstance(reported, list) or len(reported) != 2:
        return None, None
    amount, currency = reported
    amount = amount if isinstance(amount, int) and not isinstance(amount, bool) else None
    return amount, currency if isinstance(currency, str) else None


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason or len(reason) > REASON_MAX:
        raise InvalidInput(f"reason: 1 to {REASON_MAX} characters")
    return reason


def _resolution(db: Session, item: str) -> QueueResolution | None:
    return db.scalar(sa.select(QueueResolution).where(QueueResolution.item == item))


def _repeated(earlier: QueueResolution, form_key: str, item: str) -> Resolved:
    """The same form again is its own answer; any other form finds the item resolved."""
    if earlier.form_key == form_key:
        return Resolved(earlier, repeated=True)
    raise AlreadyResolved(item, earlier)


def _claim(
    db: Session,
    item: str,
    outcome: ResolutionOutcome,
    reason: str,
    form_key: str,
    staff_id: int,
    account_id: int | None,
) -> QueueResolution | Resolved:
    """The item's one resolution row; a concurrent writer of the same item makes the
    unique key refuse ours (then its row answers, as a repeat or as AlreadyResolved)."""
    resolution = QueueResolution(
        item=item,
        outcome=outcome,
        reason=reason,
        staff_id=staff_id,
        form_key=form_key,
        account_id=account_id,
        at=clock.now(),
    )
    try:
        with db.begin_nested():
            db.add(resolution)
            db.flush()
    except IntegrityError:
        winner = _resolution(db, item)
        if winner is None:
            raise
        return _repeated(winner, form_key, item)
    return resolution
