"""How a subscriber hears about their visit: the one place every visit message leaves.

Web push does not exist yet, so every message goes by SMS through the outbox (queued in
the caller's transaction, sent after it commits). When push lands, it plugs in here:
push where the subscriber allowed it, SMS otherwise.
"""

from sqlalchemy.orm import Session

from portal.domain import sms
from portal.models import VisitRequest


def notify(db: Session, visit: VisitRequest, text: str, *, purpose: str) -> None:
    """Tell the subscriber of `visit` `text` (to the phone given for this visit)."""
    sms.queue(
        db,
        to_phone=visit.phone,
        text=text,
        purpose=purpose,
        person_id=visit.account.person_id,
    )
