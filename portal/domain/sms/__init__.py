"""Text messages: written to the outbox in the caller's transaction, sent later by a job.

Nothing is sent inside a web request: `queue` only adds a row; delivery (with retries,
backoff and a final failed state) happens in portal.domain.sms.delivery, started by the
job queue after the transaction commits.
"""

from sqlalchemy.orm import Session

from portal.domain import clock, secretbox
from portal.models import SmsMessage, SmsStatus

REDACTED = "[erased after sending]"


def queue(
    db: Session,
    *,
    to_phone: str,
    text: str,
    purpose: str,
    person_id: int | None = None,
    sensitive: bool = False,
) -> SmsMessage:
    """Add a message to the outbox; it leaves when the transaction commits."""
    moment = clock.now()
    message = SmsMessage(
        to_phone=to_phone,
        purpose=purpose,
        sensitive=sensitive,
        body=secretbox.seal(text) if sensitive else text,
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
    return message


def text_of(message: SmsMessage) -> str:
    """The message's text as it is to be sent (sensitive ones are decrypted)."""
    if message.sensitive:
        return secretbox.unseal(message.body) or REDACTED
    return message.body
