"""Audit events for everything that changes money or credentials."""

from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.models import AuditEvent


def person_actor(person_id: int) -> str:
    """How an audit event names a subscriber who acted."""
    return f"person:{person_id}"


def by_person(
    db: Session,
    event: str,
    person_id: int,
    /,
    *,
    account_id: int,
    address: str | None = None,
    **data: object,
) -> AuditEvent:
    """`record` for a change a subscriber made on one of their accounts (a tariff, an
    add-on): the person is the actor."""
    return record(
        db,
        event,
        actor=person_actor(person_id),
        person_id=person_id,
        account_id=account_id,
        address=address,
        **data,
    )


def staff_actor(staff_id: int) -> str:
    """How an audit event names a member of the provider's staff who acted."""
    return f"staff:{staff_id}"


# What a password is in an event's `before` and `after`: never the secret itself.
PASSWORD_NONE = "none"  # no usable password (an imported subscriber before the sheet)
PASSWORD_PREVIOUS = "previous"
PASSWORD_CHANGED = "changed"


def changes(before: Mapping[str, object], after: Mapping[str, object]) -> dict[str, dict]:
    """An event's `before` and `after`: only the fields whose value differs, as plain
    JSON values (pass them on with `**`)."""
    changed = [key for key in {**before, **after} if before.get(key) != after.get(key)]
    return {
        "before": {key: before[key] for key in changed if key in before},
        "after": {key: after[key] for key in changed if key in after},
    }


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


def record_rows(
    db: Session, event: str, rows: list[Mapping[str, object]], /, *, actor: str, **data: object
) -> None:
    """One audit event per row of `rows` (each with its `account_id` and its own data;
    `data` goes with every one) in one INSERT: for the rows a set-based UPDATE ...
    RETURNING changed, so the events name exactly what it changed, whatever another
    transaction changed meanwhile."""
    if not rows:
        return
    now = clock.now()
    db.execute(
        sa.insert(AuditEvent.__table__),
        [
            {
                "at": now,
                "event": event,
                "actor": actor,
                "account_id": row["account_id"],
                "data": {**{k: v for k, v in row.items() if k != "account_id"}, **data},
            }
            for row in rows
        ],
    )


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
