"""Text messages: written to the outbox in the caller's transaction, sent later by a job.

Nothing is sent inside a web request: `queue` only adds a row and asks the job queue to
deliver it once the caller's transaction commits; delivery (with retries, backoff and a
final failed state) is portal.domain.sms.delivery. The gateway is chosen by
PORTAL_SMS_BACKEND: `outbox` (the default: kept and logged only) or `smpp`.
"""

from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock, jobs
from portal.domain import secretbox
from portal.domain.sms.base import SmsGateway
from portal.models import SmsMessage, SmsStatus

REDACTED = "[erased after sending]"
BACKENDS = ("outbox", "smpp")


def queue(
    db: Session,
    *,
    to_phone: str,
    text: str,
    purpose: str,
    person_id: int | None = None,
    sensitive: bool = False,
    secret_key: str | None = None,
) -> SmsMessage:
    """Add a message to the outbox; it leaves when the transaction commits. A
    `sensitive` text is stored sealed with `secret_key` (the app's SECRET_KEY)."""
    if sensitive and not secret_key:
        raise ValueError("a sensitive text needs the key to seal it")
    moment = clock.now()
    message = SmsMessage(
        to_phone=to_phone,
        purpose=purpose,
        sensitive=sensitive,
        body=secretbox.seal(text, secret_key) if sensitive else text,
        status=SmsStatus.PENDING,
        attempts=0,
        next_attempt_at=moment,
        parts={},
        gateway_ids=[],
        created_at=moment,
        person_id=person_id,
    )
    db.add(message)
    db.flush()
    # After the commit only: a job started earlier could not see the row yet, and a
    # rolled-back request must send nothing.
    jobs.enqueue_after_commit(db, "portal.domain.sms.delivery:deliver_job", message.id)
    return message


def text_of(message: SmsMessage, secret_key: str | None = None) -> str:
    """The message's text as it is to be sent (sensitive ones opened with `secret_key`)."""
    if message.sensitive:
        return (secret_key and secretbox.unseal(message.body, secret_key)) or REDACTED
    return message.body


def make_gateway(config: Mapping) -> SmsGateway:
    """The gateway PORTAL_SMS_BACKEND names."""
    backend = config["PORTAL_SMS_BACKEND"]
    if backend == "smpp":
        from portal.domain.sms.smpp import SmppGateway, settings_from

        return SmppGateway(settings_from(config))
    if backend == "outbox":
        from portal.domain.sms.outbox import OutboxGateway

        return OutboxGateway()
    raise ValueError(f"unknown PORTAL_SMS_BACKEND {backend!r}")


def configuration_problems(config: Mapping) -> list[str]:
    """What is wrong with the SMS settings; an empty list when nothing is."""
    backend = config["PORTAL_SMS_BACKEND"]
    if backend not in BACKENDS:
        return [f"PORTAL_SMS_BACKEND must be one of {', '.join(BACKENDS)}, not {backend!r}"]
    problems = []
    if backend == "smpp":
        for name in ("HOST", "SYSTEM_ID", "PASSWORD", "SOURCE_ADDR"):
            if not str(config.get(f"PORTAL_SMPP_{name}") or "").strip():
                problems.append(f"PORTAL_SMPP_{name} must be set for the smpp backend")
        try:
            if not 0 < int(config["PORTAL_SMPP_PORT"]) < 65536:
                raise ValueError
        except (TypeError, ValueError):
            problems.append("PORTAL_SMPP_PORT must be a port number")
    if int(config["PORTAL_SMS_MAX_ATTEMPTS"]) < 1:
        problems.append("PORTAL_SMS_MAX_ATTEMPTS must be at least 1")
    return problems


def latest_to(db: Session, person_id: int, limit: int) -> list[SmsMessage]:
    """The newest messages to a person, newest first (the staff's card); a secret's
    text is never shown (it is sealed, then erased)."""
    return list(
        db.scalars(
            sa.select(SmsMessage)
            .where(SmsMessage.person_id == person_id)
            .order_by(SmsMessage.id.desc())
            .limit(limit)
        )
    )
