"""Audit events for everything that changes money or credentials."""

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.models import AuditEvent


def person_actor(person_id: int) -> str:
    """How an audit event names a subscriber who acted."""
    return f"person:{person_id}"


def staff_actor(staff_id: int) -> str:
    """How an audit event names a member of the provider's staff who acted."""
    return f"staff:{staff_id}"


def record(
    db: Session,
    event: str,
    /,
    *,
    actor: str,
    person_id: int | None = None,
    account_id: int | None = None,
    address: str | None = None,
    **data: object,
) -> AuditEvent:
    """Add one audit event to the current transaction (it commits with the change).

    `db` and `event` are positional-only, so the data may carry keys of those names."""
    entry = AuditEvent(
        at=clock.now(),
        event=event,
        actor=actor,
        person_id=person_id,
        account_id=account_id,
        address=address,
        data=data,
    )
    db.add(entry)
    return entry


def latest_about(db: Session, person_id: int, account_id: int, limit: int) -> list[AuditEvent]:
    """The newest events about a person or one of their accounts (the staff's card)."""
    return list(
        db.scalars(
            sa.select(AuditEvent)
            .where(sa.or_(AuditEvent.person_id == person_id, AuditEvent.account_id == account_id))
            .order_by(AuditEvent.id.desc())
            .limit(limit)
        )
    )
