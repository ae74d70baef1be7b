"""Issue 9's rule: every staff action is in the audit log with who, when, from where and
what changed, before and after. The `app` fixture (tests/conftest.py) hands what each
test wrote to `events_without_changes` before rolling it back, so a staff change that
some test makes without both `before` and `after` fails that test, whatever the area."""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from portal.models import AuditEvent

STAFF_ACTOR = "staff:"
# Events with a staff member as the actor that record access, not a change, and why.
ACCESS_EVENTS = {
    "staff.password_accepted": "the first step of a sign-in: the code is still to come",
    "staff.signed_in": "a sign-in opens a session and changes nothing else",
    "staff.code_failed": "a wrong code: counted, and the count is the lock-out's event",
    "staff.totp_enrol_failed": "a wrong code at enrolment: nothing is turned on",
    "staff.signed_out": "a sign-out ends the member's own session",
    "subscriber.view_started": "the read-only view of the subscriber's pages changes nothing",
    "subscriber.view_ended": "the end of that view",
}


def last_event_id(connection: Connection) -> int:
    """The newest audit event's id before a test (events after it are the test's)."""
    return connection.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.id), 0)))


def events_without_changes(connection: Connection, after_id: int) -> list[str]:
    """Staff events newer than `after_id` that change something but do not say what it
    was and what it is: their names, each once."""
    rows = connection.execute(
        sa.select(AuditEvent.event, AuditEvent.data)
        .where(AuditEvent.id > after_id, AuditEvent.actor.startswith(STAFF_ACTOR))
        .order_by(AuditEvent.id)
    )
    missing = []
    for event, data in rows:
        if event in ACCESS_EVENTS or event in missing:
            continue
        if not isinstance(data, dict) or "before" not in data or "after" not in data:
            missing.append(event)
    return missing
