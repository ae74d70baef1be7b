"""An acquirer's notification: prove it is the acquirer's, find the payment it names,
and settle that payment by asking the acquirer (settle.finish_payment). Nothing in a
notification is believed but which payment (or refund) it is about.

Anyone can post to the notification URL, so what is refused there is recorded in a
bounded form: one counter row per acquirer, address and hour (its unique key decides),
and one audit event when a window's row is made (the web layer also limits the posts
per address).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal import clock
from portal.domain import audit
from portal.domain.payments.acquirers.base import PaymentProvider
from portal.domain.payments.errors import (
    AmountMismatch,
    BadNotification,
    ForgedNotification,
    NotificationNoted,
    RemoteNotFound,
    UnknownPayment,
)
from portal.domain.payments.settle import acquirer_actor, finish_payment, record_refund
from portal.models import Payment
from portal.models.payment import NotificationRefusal


def handle_notification(
    db: Session,
    provider: PaymentProvider,
    body: bytes,
    headers: Mapping[str, str],
    remote_addr: str | None,
    *,
    block_threshold: int,
) -> Payment:
    """An acquirer's notification: authenticate it, find the payment, finish it.

    Raises NotificationNoted for an authentic notification not about a payment's state
    (a refund: recorded for the staff), ForgedNotification / BadNotification (nothing
    recorded but the refusal, counted by count_refusal), UnknownPayment, AmountMismatch
    when the notification claims another sum than the row (recorded, nothing else
    changes), ProviderUnavailable when the acquirer cannot be asked back. A credit lifts
    a block for debt at `block_threshold`. The caller commits, also after a refusal (to
    keep its record).
    """
    actor = acquirer_actor(provider)

    def record(event: str, **data) -> None:
        audit.record(db, event, actor=actor, address=remote_addr, **data)

    try:
        note = provider.parse_notification(body, headers, remote_addr)
    except (ForgedNotification, BadNotification) as exc:
        reason = f"{type(exc).__name__}: {exc}"[:200]
        refused = count_refusal(db, provider.name, remote_addr, reason)
        if refused == 1:  # the window's first: one audit event per address and hour
            record("payment.notification_refused", reason=reason)
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
        return finish_payment(
            db, payment.id, provider, actor=actor, block_threshold=block_threshold
        )
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


def count_refusal(db: Session, provider: str, address: str | None, reason: str) -> int:
    """Count a refused notification in its window (acquirer, address, hour) and say how
    many the window has now: 1 means this one made the window's row. One statement
    (an upsert on the unique key), so concurrent refusals never make a second row."""
    moment = clock.now()
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(NotificationRefusal).values(
        provider=provider[:32],
        address=(address or "unknown")[:64],
        hour=_hour_of(moment),
        refused=1,
        last_reason=reason[:200],
        last_at=moment,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["provider", "address", "hour"],
        set_={
            "refused": NotificationRefusal.refused + 1,
            "last_reason": statement.excluded.last_reason,
            "last_at": statement.excluded.last_at,
        },
    ).returning(NotificationRefusal.refused)
    return db.execute(statement).scalar_one()


def _hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)
