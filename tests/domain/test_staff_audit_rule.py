"""The check behind issue 9's audit rule (tests/staff_audit.py), which the `app` fixture
runs after every test: it finds a staff change without `before` and `after`, and lets
through what records access only and what others did."""

from portal.domain import audit
from tests import staff_audit


def test_a_staff_change_without_before_and_after_is_found(app, session):
    first = staff_audit.last_event_id(session.connection())
    actor = audit.staff_actor(7)
    audit.record(session, "thing.changed", actor=actor, before={"a": 1}, after={"a": 2})
    audit.record(session, "thing.renamed", actor=actor, name="new")
    audit.record(session, "thing.moved", actor=actor, after={"place": "here"})
    audit.record(session, "staff.signed_in", actor=actor)  # access, not a change
    audit.record(session, "thing.charged", actor="billing", amount=5)  # not the staff's
    session.flush()
    found = staff_audit.events_without_changes(session.connection(), first)
    assert found == ["thing.renamed", "thing.moved"]
    session.rollback()  # so the fixture's own check finds none of these
