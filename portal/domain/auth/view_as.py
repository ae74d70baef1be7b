"""A staff member's read-only view of a subscriber's pages ("view as the subscriber").

The view is a subscriber sign-in session flagged with the staff member who looks
(`LoginSession.viewer_staff_id`): the subscriber's pages open in it exactly as the
subscriber sees them, and the web layer refuses every change while it is in use. It is
not the subscriber's activity: it is never extended (its lifetime is short and fixed),
it writes nothing on the way (no "last seen"), the subscriber's "end other sessions"
leaves it alone, and its start and end are audit events in the staff member's name.
"""

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.domain import audit
from portal.domain.auth import credentials
from portal.models import Account, LoginSession


def start(
    db: Session,
    account: Account,
    *,
    staff_id: int,
    lifetime: timedelta,
    address: str | None,
    user_agent: str | None,
) -> credentials.NewSession:
    """A view of the account holder's pages for the staff member, over after `lifetime`.
    The caller commits and hands the token to the browser as the subscriber's cookie."""
    new = credentials.start_session(
        db,
        account.person,
        remember=False,
        lifetime=lifetime,
        address=address,
        user_agent=user_agent,
        viewer_staff_id=staff_id,
    )
    audit.record(
        db,
        "subscriber.view_started",
        actor=audit.staff_actor(staff_id),
        person_id=account.person_id,
        account_id=account.id,
        address=address,
        until=new.record.expires_at.isoformat(),
    )
    return new


def end_views_of(
    db: Session, staff_id: int, *, address: str | None, reason: str = "console_session"
) -> int:
    """End every open view of the staff member (their console session ended: signed
    out, switched off, or their credentials reset; or `reason` "role_changed": the new
    role may read no subscriber), each with its audit event; how many. The caller
    commits."""
    records = db.scalars(
        sa.select(LoginSession).where(
            LoginSession.viewer_staff_id == staff_id, LoginSession.ended_at.is_(None)
        )
    ).all()
    moment = clock.now()
    for record in records:
        expired = record.expires_at <= moment
        record.ended_at = record.expires_at if expired else moment
        audit.record(
            db,
            "subscriber.view_ended",
            actor=audit.staff_actor(staff_id),
            person_id=record.person_id,
            address=address,
            expired=expired,
            with_console_session=reason == "console_session",
            reason=reason,
        )
    return len(records)


def is_view(record: LoginSession | credentials.LiveSession | None) -> bool:
    """Whether a sign-in session is a staff member's view (not the subscriber's own)."""
    return record is not None and record.viewer_staff_id is not None


def end(
    db: Session, token: str, *, account_id: int | None, address: str | None
) -> LoginSession | None:
    """End the view this token opened (at "end view", or found run out): the audit event
    says which. None when the token opens no view, or it was ended already. The caller
    commits."""
    if not token or len(token) > 100:
        return None
    record = db.scalar(
        sa.select(LoginSession).where(
            LoginSession.token_hash == credentials.token_hash(token),
            LoginSession.viewer_staff_id.is_not(None),
        )
    )
    if record is None or record.ended_at is not None:
        return None
    moment = clock.now()
    expired = record.expires_at <= moment
    record.ended_at = record.expires_at if expired else moment
    audit.record(
        db,
        "subscriber.view_ended",
        actor=audit.staff_actor(record.viewer_staff_id),
        person_id=record.person_id,
        account_id=account_id,
        address=address,
        expired=expired,
    )
    db.flush()
    return record
