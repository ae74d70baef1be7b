"""Delivering the outbox: claim a due message, send it through the gateway, record what
happened, each step in one transaction.

A message moves pending -> sent -> delivered, or pending -> failed. It is claimed by
counting the attempt and pushing `next_attempt_at` out by a claim timeout, in one short
transaction; the send happens outside any transaction; the outcome is recorded in the
next one. A crash in between therefore leaves the message pending, due again once the
claim times out; it is never lost. Parts the gateway acknowledged are recorded, so a
retry resends only the others (a part sent but not acknowledged may reach the phone
twice: SMPP gives at-least-once per part, and this is that boundary).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock, jobs
from portal.config import is_test_mode
from portal.domain import secretbox
from portal.domain.claims import claim_due
from portal.domain.sms import REDACTED, make_gateway
from portal.domain.sms.base import (
    GatewayError,
    OutgoingSms,
    PermanentGatewayError,
    Receipt,
    SendResult,
    SmsGateway,
    TemporaryGatewayError,
)
from portal.logs import event
from portal.models import SmsMessage, SmsStatus

log = logging.getLogger("portal.sms.delivery")


@dataclass(frozen=True)
class RetryPolicy:
    """How delivery behaves: retries, backoff, the claim, and what is kept; built from
    the app's settings by `policy_from` (the domain reads no app)."""

    max_attempts: int = 6
    base_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=1)
    # How long a claimed message is left alone; longer than any send can take, so that
    # only a crashed worker's message becomes due again.
    claim_timeout: timedelta = timedelta(minutes=5)
    # Keep sealed texts readable after sending (demo outbox only).
    keep_sensitive_text: bool = False
    batch_size: int = 100
    # The app's SECRET_KEY, which sealed texts are opened with.
    secret_key: str = field(default="", repr=False)

    def delay_after(self, attempts: int) -> timedelta:
        """Exponential backoff: base, 2*base, 4*base ... capped at max_delay."""
        return min(self.base_delay * 2 ** max(attempts - 1, 0), self.max_delay)


@dataclass(frozen=True)
class Outcome:
    status: SmsStatus | None  # None: not ours to send (not due, already done, or taken)
    next_attempt_at: datetime | None = None


NOT_CLAIMED = Outcome(status=None)
SENT_OR_DELIVERED = (SmsStatus.SENT, SmsStatus.DELIVERED)


def policy_from(config: Mapping, gateway: SmsGateway) -> RetryPolicy:
    """The policy the settings (PORTAL_SMS_*, PORTAL_MODE, SECRET_KEY) describe."""
    readable_outbox = is_test_mode(config)
    return RetryPolicy(
        max_attempts=int(config["PORTAL_SMS_MAX_ATTEMPTS"]),
        base_delay=timedelta(seconds=float(config["PORTAL_SMS_RETRY_DELAY"])),
        max_delay=timedelta(seconds=float(config["PORTAL_SMS_MAX_RETRY_DELAY"])),
        claim_timeout=timedelta(seconds=float(config["PORTAL_SMS_CLAIM_TIMEOUT"])),
        keep_sensitive_text=gateway.keeps_messages and readable_outbox,
        secret_key=config["SECRET_KEY"],
    )


def deliver(db: Session, message_id: int, *, gateway: SmsGateway, policy: RetryPolicy) -> Outcome:
    """Send one message if it is due and no one else is sending it; commits."""
    message = _claim(db, message_id, policy)
    if message is None:
        return NOT_CLAIMED
    attempt = message.attempts
    try:
        result = gateway.send(_outgoing(message, policy.secret_key))
    except GatewayError as exc:
        return _record_failure(db, message_id, attempt, exc, policy)
    except Exception as exc:  # a bug in a backend must not leave the message claimed
        log.exception("sms.gateway_crashed message_id=%s", message_id)
        failure = TemporaryGatewayError(f"unexpected {type(exc).__name__}")
        return _record_failure(db, message_id, attempt, failure, policy)
    return _record_sent(db, message_id, attempt, result, policy)


def deliver_due(db: Session, *, gateway: SmsGateway, policy: RetryPolicy) -> int:
    """Send every message that is due (also those whose worker crashed); how many were sent."""
    sent = 0
    while True:
        due = db.scalars(
            sa.select(SmsMessage.id)
            .where(SmsMessage.status == SmsStatus.PENDING)
            .where(SmsMessage.next_attempt_at <= clock.now())
            .order_by(SmsMessage.next_attempt_at, SmsMessage.id)
            .limit(policy.batch_size)
        ).all()
        db.rollback()  # end the read: each message is claimed in a transaction of its own
        outcomes = [deliver(db, message_id, gateway=gateway, policy=policy) for message_id in due]
        sent += sum(1 for outcome in outcomes if outcome.status in SENT_OR_DELIVERED)
        # A full batch may hide more; a batch with nothing claimed means others have them.
        if len(due) < policy.batch_size or all(o is NOT_CLAIMED for o in outcomes):
            return sent


def record_receipts(db: Session, receipts: Iterable[Receipt]) -> int:
    """Mark messages delivered by their gateway ids; the caller commits. How many changed."""
    changed = 0
    for receipt in receipts:
        message = db.scalar(
            sa.select(SmsMessage)
            .where(SmsMessage.status == SmsStatus.SENT)
            # The ids sit in a small JSON list; a text match works on SQLite and PostgreSQL.
            .where(
                sa.cast(SmsMessage.gateway_ids, sa.Text).contains(
                    f'"{receipt.gateway_id}"', autoescape=True
                )
            )
            .limit(1)
        )
        if message is None:
            continue
        if receipt.delivered:
            # A long message is delivered when its parts are; they travel together, so
            # the first part's receipt is taken for the whole.
            message.status = SmsStatus.DELIVERED
            message.delivered_at = clock.now()
        else:
            message.last_error = f"receipt: {receipt.state}"[:300]
        event(log, "sms.receipt", message_id=message.id, state=receipt.state)
        changed += 1
    return changed


def deliver_job(db: Session, config: Mapping, message_id: int) -> None:
    """The job `sms.queue` schedules: deliver, and schedule the retry if one is due."""
    gateway = make_gateway(config)
    outcome = deliver(db, message_id, gateway=gateway, policy=policy_from(config, gateway))
    if outcome.status == SmsStatus.PENDING and outcome.next_attempt_at is not None:
        jobs.enqueue(deliver_job, message_id, at=outcome.next_attempt_at)


def sweep_job(db: Session, config: Mapping) -> None:
    """The periodic sweep: anything due, whatever happened to its own job."""
    gateway = make_gateway(config)
    deliver_due(db, gateway=gateway, policy=policy_from(config, gateway))


# --- the steps ----------------------------------------------------------------------


def _claim(db: Session, message_id: int, policy: RetryPolicy) -> SmsMessage | None:
    """Count the attempt and hold the message for claim_timeout; None if not ours."""
    now = clock.now()
    pending = SmsMessage.status == SmsStatus.PENDING
    if not claim_due(
        db, SmsMessage, message_id, pending, now=now, hold_until=now + policy.claim_timeout
    ):
        return None
    message = db.get(SmsMessage, message_id, populate_existing=True)
    assert message is not None
    if message.attempts > policy.max_attempts:
        # The last attempt was claimed but never finished (the worker died).
        _fail(message, "the last attempt did not finish", policy)
        db.commit()
        event(log, "sms.failed", logging.WARNING, message_id=message.id, reason=message.last_error)
        return None
    db.commit()
    return message


def _outgoing(message: SmsMessage, secret_key: str) -> OutgoingSms:
    if message.sensitive:
        text = secretbox.unseal(message.body, secret_key)
        if text is None:
            raise PermanentGatewayError("the sealed text cannot be read (SECRET_KEY changed?)")
    else:
        text = message.body
    return OutgoingSms(
        message_id=message.id,
        to_phone=message.to_phone,
        text=text,
        sensitive=message.sensitive,
        acknowledged={int(number): gid for number, gid in (message.parts or {}).items()},
    )


def _locked_claimed_message(db: Session, message_id: int, attempt: int) -> SmsMessage | None:
    """The message, locked, if it is still the claim this worker made."""
    message = db.get(SmsMessage, message_id, with_for_update=True, populate_existing=True)
    if message is None or message.status != SmsStatus.PENDING or message.attempts != attempt:
        db.rollback()
        event(log, "sms.claim_lost", logging.WARNING, message_id=message_id, attempt=attempt)
        return None
    return message


def _record_sent(
    db: Session, message_id: int, attempt: int, result: SendResult, policy: RetryPolicy
) -> Outcome:
    message = _locked_claimed_message(db, message_id, attempt)
    if message is None:
        return NOT_CLAIMED
    _remember_parts(message, result.acknowledged)
    message.status = SmsStatus.SENT
    message.sent_at = clock.now()
    message.last_error = None
    _erase_secret(message, policy)
    record_receipts(db, result.receipts)
    db.commit()
    event(
        log,
        "sms.sent",
        message_id=message.id,
        purpose=message.purpose,
        parts=len(message.parts),
        attempt=attempt,
    )
    return Outcome(status=message.status)


def _record_failure(
    db: Session, message_id: int, attempt: int, error: GatewayError, policy: RetryPolicy
) -> Outcome:
    # Part of a message may have gone before the failure. Those parts are kept even if
    # the claim was lost meanwhile, so no one resends them.
    message = _locked_claimed_message(db, message_id, attempt)
    if message is None:
        return NOT_CLAIMED
    _remember_parts(message, error.acknowledged)
    record_receipts(db, error.receipts)
    final = isinstance(error, PermanentGatewayError) or attempt >= policy.max_attempts
    if final:
        _fail(message, error.reason, policy)
    else:
        message.last_error = error.reason[:300]
        message.next_attempt_at = clock.now() + policy.delay_after(attempt)
    db.commit()
    event(
        log,
        "sms.failed" if final else "sms.retry",
        logging.WARNING,
        message_id=message.id,
        attempt=attempt,
        reason=error.reason,
        next_attempt_at=None if final else message.next_attempt_at.isoformat(),
    )
    retry_at = None if final else message.next_attempt_at
    return Outcome(status=message.status, next_attempt_at=retry_at)


def _fail(message: SmsMessage, reason: str, policy: RetryPolicy) -> None:
    message.status = SmsStatus.FAILED
    message.last_error = reason[:300]
    _erase_secret(message, policy)  # a secret that will not be sent is not kept either


def _erase_secret(message: SmsMessage, policy: RetryPolicy) -> None:
    """A sealed text is erased once it is done with (but for the demo's readable outbox)."""
    if message.sensitive and not policy.keep_sensitive_text:
        message.body = REDACTED


def _remember_parts(message: SmsMessage, acknowledged: Mapping[int, str]) -> None:
    known = {int(number): gid for number, gid in (message.parts or {}).items()}
    known.update(acknowledged)
    parts = {str(number): gid for number, gid in sorted(known.items())}
    message.parts = parts
    message.gateway_ids = list(parts.values())
