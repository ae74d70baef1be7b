"""The embedded default backend: a message is "sent" by keeping it in the outbox table and
writing a log line, so the portal runs with no SMS contract at all. In demo and
development mode the texts can be read with `portal sms outbox` and on the demo page."""

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.domain.sms.base import OutgoingSms, SendResult, SmsGateway
from portal.logs import event
from portal.models import SmsMessage

log = logging.getLogger("portal.sms.outbox")
SENSITIVE_PLACEHOLDER = "[sensitive text not shown]"


class OutboxGateway(SmsGateway):
    name = "outbox"
    keeps_messages = True

    def send(self, sms: OutgoingSms) -> SendResult:
        event(
            log,
            "sms.outbox",
            message_id=sms.message_id,
            to=sms.to_phone,
            text=SENSITIVE_PLACEHOLDER if sms.sensitive else sms.text,
        )
        return SendResult(acknowledged={1: f"outbox-{sms.message_id}"})


@dataclass(frozen=True)
class ShownMessage:
    """A message as the demo outbox shows it."""

    id: int
    to_phone: str
    purpose: str
    status: str
    text: str
    created_at: datetime
    attempts: int
    last_error: str | None


def recent_messages(db: Session, *, limit: int = 50, reveal_with: str | None) -> list[ShownMessage]:
    """The newest messages first. Sealed texts are opened with `reveal_with` (the app's
    SECRET_KEY) when it is given, and stay hidden when it is None."""
    rows = db.scalars(
        sa.select(SmsMessage)
        .order_by(SmsMessage.created_at.desc(), SmsMessage.id.desc())
        .limit(limit)
    ).all()
    return [
        ShownMessage(
            id=row.id,
            to_phone=row.to_phone,
            purpose=row.purpose,
            status=row.status.value,
            text=_shown_text(row, reveal_with),
            created_at=row.created_at,
            attempts=row.attempts,
            last_error=row.last_error,
        )
        for row in rows
    ]


def _shown_text(message: SmsMessage, reveal_with: str | None) -> str:
    from portal.domain.sms import text_of

    if message.sensitive and reveal_with is None:
        return SENSITIVE_PLACEHOLDER
    return text_of(message, reveal_with)
