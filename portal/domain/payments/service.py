"""Payment operations: start a payment, finish it, handle a notification, reconcile.

`finish_payment` is the one function that settles a payment: the acquirer's
notification, the page the payer comes back to and the reconciler all call it. It asks
the acquirer (never trusting a notification's content), moves the payment through the
state machine and, on success, credits the account with one ledger entry keyed by the
payment, in the same transaction, so any number of concurrent or repeated calls credit
it exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import clock
from portal.domain import audit, ledger
from portal.domain.errors import NotFound
from portal.domain.payments import states
from portal.domain.payments.base import (
    AmountMismatch,
    BadNotification,
    CreationKeyReused,
    ForgedNotification,
    NewPayment,
    NotificationNoted,
    PaymentProvider,
    ProviderUnavailable,
    RemoteNotFound,
    RemotePayment,
    RemoteStatus,
    UnknownPayment,
)
from portal.models import (
    Account,
    AccountStatus,
    EntryKind,
    Payment,
    PaymentMethod,
    PaymentStatus,
)

log = logging.getLogger(__name__)

# A payment the acquirer never registered (it did not answer) is given up after this.
NOT_STARTED_AFTER = timedelta(hours=1)
# A fiscal receipt still being registered when its payment succeeded is asked about
# again by reconcile for this long (a cash register's registration takes minutes).
FISCAL_RECEIPT_RECHECK_FOR = timedelta(days=3)

_DESCRIPTIONS = {
    PaymentMethod.CARD: "Онлайн-оплата картой",
    PaymentMethod.SBP: "Онлайн-оплата через СБП",
}


def ledger_key(payment: Payment) -> str:
    """The ledger entry of a payment: unique, so it is credited once whatever happens."""
    return f"payment:{payment.id}"


# --- starting ---------------------------------------------------------------------------


def create_payment(
    db: Session,
    account: Account,
    *,
    amount: int,
    method: PaymentMethod,
    creation_key: str,
    provider: str,
    actor: str,
    address: str | None = None,
) -> tuple[Payment, bool]:
    """The payment row for one submitted Pay form, written before the payer leaves.

    The same form sent again (a double tap, a reload) finds the row it made the first
    time: (payment, False). The unique creation key decides, not a look-up in Python.
    """
    existing = _by_creation_key(db, creation_key)
    if existing is None:
        moment = clock.now()
        payment = Payment(
            account_id=account.id,
            amount=amount,
            currency="RUB",
            method=method,
            provider=provider,
            status=PaymentStatus.CREATED,
            creation_key=creation_key,
            fiscal_receipt={},
            created_at=moment,
            updated_at=moment,
        )
        try:
            with db.begin_nested():
                db.add(payment)
                db.flush()
        except IntegrityError:
            existing = _by_creation_key(db, creation_key)
            if existing is None:
                raise
        else:
            audit.record(
                db,
                "payment.created",
                actor=actor,
                account_id=account.id,
                address=address,
                payment_id=payment.id,
                amount=amount,
                method=method.value,
                provider=provider,
            )
            return payment, True
    if (existing.account_id, existing.amount, existing.method) != (account.id, amount, method):
        raise CreationKeyReused(creation_key)
    return existing, False


def register(
    db: Session,
    payment: Payment,
    provider: PaymentProvider,
    *,
    description: str,
    return_url: str,
    notify_url: str,
    actor: str,
) -> Payment:
    """Register the payment with the acquirer; afterwards it has a confirmation_url.

    Raises ProviderUnavailable (recorded) when the acquirer does not answer: the row
    stays as it was, and the same form can be sent again. Registering twice is harmless:
    the acquirer gets our row's id as the idempotence key.
    """
    if payment.provider_payment_id and payment.confirmation_url:
        return payment
    account = db.get(Account, payment.account_id)
    request = NewPayment(
        payment_id=payment.id,
        idempotence_key=f"{payment.id}-{int(payment.created_at.timestamp() * 1000)}",
        amount=payment.amount,
        currency=payment.currency,
        method=payment.method.value,
        description=description,
        return_url=return_url,
        notify_url=notify_url,
        contract=account.contract_number,
        customer_phone=account.person.phone or None,
    )
    try:
        remote = provider.create(request)
    except ProviderUnavailable as exc:
        audit.record(
            db,
            "payment.provider_unavailable",
            actor=actor,
            account_id=payment.account_id,
            payment_id=payment.id,
            step="create",
            reason=str(exc)[:200],
        )
        raise
    payment = _lock(db, payment.id)
    if payment.provider_payment_id is None:
        payment.provider_payment_id = remote.provider_payment_id
    payment.confirmation_url = remote.confirmation_url
    payment.updated_at = clock.now()
    _record(
        db, "payment.registered", payment, actor, provider_payment_id=remote.provider_payment_id
    )
    _apply(db, payment, remote, actor=actor)
    return payment


# --- finishing --------------------------------------------------------------------------


def finish_payment(
    db: Session, payment_id: int, provider: PaymentProvider, *, actor: str
) -> Payment:
    """Settle a payment from what the acquirer says about it now.

    A final payment is returned as it is. Otherwise the acquirer is asked (a
    ProviderUnavailable leaves everything as it was), the row is locked, and the state
    machine applies the answer: succeeded credits the account (one ledger entry, key
    `payment:<id>`) and lifts a block for debt; canceled records why; another amount or
    currency puts the payment on review, records it and raises AmountMismatch — the
    caller commits that record. The caller commits.
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
    payment = _lock(db, payment_id)
    if payment.status.is_final:
        return payment  # someone settled it while we were asking
    _apply(db, payment, remote, actor=actor)
    return payment


def _apply(db: Session, payment: Payment, remote: RemotePayment, *, actor: str) -> None:
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
            _record(db, "payment.pending", payment, actor)
    elif remote.status is RemoteStatus.WAITING:
        if states.move(payment, PaymentStatus.WAITING):
            _record(db, "payment.waiting", payment, actor)
    elif remote.status is RemoteStatus.SUCCEEDED:
        states.move(payment, PaymentStatus.SUCCEEDED)
        _credit(db, payment, actor)
    elif remote.status is RemoteStatus.CANCELED:
        states.move(payment, PaymentStatus.CANCELED)
        payment.cancel_reason = (remote.cancel_reason or "canceled")[:64]
        _record(db, "payment.canceled", payment, actor, reason=payment.cancel_reason)
    db.flush()


def record_refund(
    db: Session, provider: PaymentProvider, refund_id: str, *, address: str | None
) -> Payment:
    """A refund made at the acquirer (e.g. in its dashboard): read it back and, once it
    has succeeded, debit it from the balance with one ledger entry keyed by the refund,
    so a repeated notification moves nothing more. What cannot be matched to a credited
    payment of ours is recorded for the staff and acknowledged (NotificationNoted)."""
    actor = f"acquirer:{provider.name}"
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
    payment = _lock(db, payment.id)
    acceptable = (
        payment.status is PaymentStatus.SUCCEEDED
        and refund.currency == payment.currency
        and 0 < refund.amount <= payment.amount
    )
    if not acceptable:
        _record(
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
        key=f"refund:{provider.name}:{refund_id}",
        description=f"Возврат оплаты №{payment.id}",
    )
    if posted.created:
        _record(
            db, "payment.refunded", payment, actor, refund_id=refund_id[:64], amount=refund.amount
        )
    return payment


def _credit(db: Session, payment: Payment, actor: str) -> None:
    posted = ledger.post(
        db,
        payment.account_id,
        EntryKind.PAYMENT,
        payment.amount,
        key=ledger_key(payment),
        description=_DESCRIPTIONS[payment.method],
    )
    if not posted.created:
        return
    _record(db, "payment.credited", payment, actor, amount=payment.amount)
    account = db.get(Account, payment.account_id)
    db.refresh(account, ["balance", "status"])
    if account.status == AccountStatus.BLOCKED and account.balance >= 0:
        account.status = AccountStatus.ACTIVE
        audit.record(
            db,
            "account.unblocked",
            actor=actor,
            account_id=account.id,
            balance=account.balance,
            payment_id=payment.id,
        )


# --- notifications ----------------------------------------------------------------------


def handle_notification(
    db: Session,
    provider: PaymentProvider,
    body: bytes,
    headers: Mapping[str, str],
    remote_addr: str | None,
) -> Payment:
    """An acquirer's notification: authenticate it, find the payment, finish it.

    Raises NotificationNoted for an authentic notification not about a payment's state
    (a refund: recorded for the staff), ForgedNotification / BadNotification (nothing
    recorded but the refusal),
    UnknownPayment, AmountMismatch when the notification claims another sum than the
    row (recorded, nothing else changes), ProviderUnavailable when the acquirer cannot
    be asked back. The caller commits, also after a refusal (to keep its record).
    """
    actor = f"acquirer:{provider.name}"

    def record(event: str, **data) -> None:
        audit.record(db, event, actor=actor, address=remote_addr, **data)

    try:
        note = provider.parse_notification(body, headers, remote_addr)
    except (ForgedNotification, BadNotification) as exc:
        record(
            "payment.notification_refused",
            reason=f"{type(exc).__name__}: {exc}"[:200],
        )
        raise
    if note.refund_id:
        return record_refund(db, provider, note.refund_id, address=remote_addr)
    if not note.about_payment:
        record(
            "payment.notification_noted",
            notification=note.event[:64],
            object_id=note.provider_payment_id[:64],
            amount=note.claimed_amount,
            currency=note.claimed_currency,
        )
        raise NotificationNoted(note.event)
    payment = db.scalar(
        sa.select(Payment).where(
            Payment.provider == provider.name,
            Payment.provider_payment_id == note.provider_payment_id,
        )
    )
    if payment is None:
        payment = _adopt(db, provider, note.provider_payment_id)
    if payment is None:
        record(
            "payment.notification_unknown",
            provider_payment_id=note.provider_payment_id[:64],
            notification=note.event[:64],
        )
        raise UnknownPayment(note.provider_payment_id)
    claimed = (note.claimed_amount, note.claimed_currency)
    if note.claimed_amount is not None and claimed != (payment.amount, payment.currency):
        record(
            "payment.notification_mismatch",
            account_id=payment.account_id,
            payment_id=payment.id,
            expected=[payment.amount, payment.currency],
            claimed=list(claimed),
        )
        raise AmountMismatch(f"payment {payment.id}")
    try:
        return finish_payment(db, payment.id, provider, actor=actor)
    finally:
        # Recorded after the payment row is settled: an audit row refers to the account
        # (a key-share lock on it), so writing it before would invert the lock order of
        # finish_payment (payment, then account) and deadlock concurrent copies.
        record(
            "payment.notified",
            account_id=payment.account_id,
            payment_id=payment.id,
            notification=note.event[:64],
        )


def _adopt(db: Session, provider: PaymentProvider, provider_payment_id: str) -> Payment | None:
    """A notification about a payment whose registration answer we lost (a crash after
    the acquirer registered it): the acquirer's own record names our row in its metadata."""
    try:
        remote = provider.fetch(provider_payment_id)
    except RemoteNotFound:
        return None
    if remote.our_payment_id is None:
        return None
    payment = db.get(Payment, remote.our_payment_id)
    if payment is None or payment.provider != provider.name or payment.provider_payment_id:
        return None
    payment.provider_payment_id = remote.provider_payment_id
    db.flush()
    return payment


# --- reconciling ------------------------------------------------------------------------


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
    db: Session, payment_id: int, provider: PaymentProvider, result: ReconcileResult
) -> None:
    """Read a credited payment's fiscal receipt again; money is not touched."""
    payment = db.get(Payment, payment_id)
    remote = provider.fetch(payment.provider_payment_id)
    if remote.fiscal_receipt and remote.fiscal_receipt != payment.fiscal_receipt:
        payment.fiscal_receipt = dict(remote.fiscal_receipt)
        _record(
            db,
            "payment.fiscal_receipt_updated",
            payment,
            "reconcile",
            registration=remote.fiscal_receipt.get("registration"),
        )
        result.receipts_updated += 1


def reconcile_one(
    db: Session,
    payment_id: int,
    provider_for: Callable[[str], PaymentProvider],
    result: ReconcileResult,
) -> Payment:
    """Ask the acquirer about one unfinished payment and settle it like a notification
    would. A payment the acquirer never registered is given up after NOT_STARTED_AFTER."""
    payment = db.get(Payment, payment_id)
    result.checked += 1
    if payment.provider_payment_id is None:
        if clock.now() - payment.created_at >= NOT_STARTED_AFTER:
            payment = _lock(db, payment_id)
            if states.move(payment, PaymentStatus.CANCELED):
                payment.cancel_reason = "not_started"
                _record(db, "payment.canceled", payment, "reconcile", reason="not_started")
            result.canceled += 1
        else:
            result.still_open += 1
        return payment
    try:
        payment = finish_payment(db, payment_id, provider_for(payment.provider), actor="reconcile")
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


# --- reading ----------------------------------------------------------------------------


def payment_of(db: Session, account_ids: list[int], payment_id: int) -> Payment:
    """A payment of one of these accounts; NotFound for anyone else's."""
    payment = db.get(Payment, payment_id)
    if payment is None or payment.account_id not in account_ids:
        raise NotFound(f"payment {payment_id}")
    return payment


def _by_creation_key(db: Session, key: str) -> Payment | None:
    return db.scalar(sa.select(Payment).where(Payment.creation_key == key))


def _lock(db: Session, payment_id: int) -> Payment:
    return db.scalar(
        sa.select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _record(db: Session, event: str, payment: Payment, actor: str, **data) -> None:
    audit.record(
        db,
        event,
        actor=actor,
        account_id=payment.account_id,
        payment_id=payment.id,
        provider=payment.provider,
        **data,
    )
