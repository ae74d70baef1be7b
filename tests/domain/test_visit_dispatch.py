"""The dispatcher's rules: a move goes to a window with room, ahead of now and within
the days ahead; a technician is never in two overlapping windows; technicians are
changed and deactivated with audit events; their ratings are summed up."""

from datetime import date, time

import pytest
import sqlalchemy as sa

from portal.domain.errors import InvalidInput, NotFound
from portal.domain.visits import requests, schedule, technicians
from portal.domain.visits.errors import (
    TechnicianBusy,
    WindowBeyondHorizon,
    WindowFull,
    WindowPast,
)
from portal.models import AuditEvent, Technician, VisitState
from tests.domain.test_visits import DISTRICT, POLICY, book, subscriber, technician, week

STAFF = {"staff_id": 1}


@pytest.fixture(autouse=True)
def app_context(app):
    with app.app_context():
        yield


def confirm(session, visit, who):
    requests.advance(session, visit, VisitState.CONFIRMED, POLICY, technician_id=who.id, **STAFF)


def move(session, visit, key):
    requests.move_by_staff(session, visit, key, POLICY, **STAFF)


@pytest.mark.parametrize(
    ("key", "error"),
    [
        ("2026-11-24T09:00", WindowPast),  # today, started three hours ago
        ("2026-11-23T14:00", WindowPast),  # yesterday
        ("2026-12-08T09:00", WindowBeyondHorizon),  # the 15th day: one beyond 14
    ],
)
def test_the_dispatcher_cannot_move_into_the_past_or_beyond_the_days_ahead(
    session, frozen_clock, key, error
):
    week(session)
    visit = book(session, subscriber(session))
    with pytest.raises(error):
        move(session, visit, key)
    move(session, visit, "2026-12-07T09:00")  # the 14th day still is
    assert visit.window.day == date(2026, 12, 7)


def test_the_dispatcher_moves_into_a_window_with_room_only(session, frozen_clock):
    week(session, capacity=1)
    visit = book(session, subscriber(session))
    book(session, subscriber(session), key="2026-11-26T09:00")
    with pytest.raises(WindowFull):
        move(session, visit, "2026-11-26T09:00")
    choices = requests.move_choices(session, [visit], POLICY)[visit.id]
    keys = [s.key for s in choices]
    assert "2026-11-26T09:00" not in keys  # full
    assert "2026-11-25T09:00" not in keys  # its own
    assert "2026-11-24T09:00" not in keys  # started
    assert keys[0] == "2026-11-24T14:00" and all(s.free > 0 for s in choices)


def test_a_technician_is_not_given_two_overlapping_windows(session, frozen_clock):
    week(session, capacity=3)
    # A window of the same morning that overlaps 09:00–12:00 by an hour.
    schedule.set_day_window(session, DISTRICT, date(2026, 11, 25), time(11), time(13), 2)
    who = technician(session)
    first = book(session, subscriber(session))
    confirm(session, first, who)
    second = book(session, subscriber(session))
    # Each refusal is rolled back, as the view does.
    with pytest.raises(TechnicianBusy) as refused, session.begin_nested():
        confirm(session, second, who)
    assert refused.value.other_id == first.id
    overlapping = book(session, subscriber(session), key="2026-11-25T11:00")
    with pytest.raises(TechnicianBusy), session.begin_nested():
        requests.assign(session, overlapping, who.id, address=None, **STAFF)
    afternoon = book(session, subscriber(session), key="2026-11-25T14:00")
    confirm(session, afternoon, who)  # 14:00–17:00 does not overlap
    with pytest.raises(TechnicianBusy), session.begin_nested():
        move(session, afternoon, "2026-11-25T11:00")
    # A cancelled request frees the technician's time.
    requests.advance(session, first, VisitState.CANCELLED, POLICY, **STAFF)
    confirm(session, second, who)
    assert second.state is VisitState.CONFIRMED


def test_a_subscribers_move_is_never_refused_for_the_technician(session, frozen_clock):
    week(session, capacity=2)
    who = technician(session)
    busy = book(session, subscriber(session), key="2026-11-26T09:00")
    confirm(session, busy, who)
    visit = book(session, subscriber(session))
    confirm(session, visit, who)
    requests.move_by_subscriber(session, visit, "2026-11-26T09:00", POLICY, address=None)
    assert visit.state is VisitState.REQUESTED and visit.technician is None
    free = book(session, subscriber(session), key="2026-11-27T09:00")
    confirm(session, free, who)
    requests.move_by_subscriber(session, free, "2026-11-28T09:00", POLICY, address=None)
    assert free.technician is who  # free that day too: kept for the dispatcher


def test_a_technician_is_changed_and_deactivated(session, frozen_clock):
    week(session)
    who = technicians.add(
        session,
        "Анна",
        "",
        [DISTRICT],
        known_districts=(DISTRICT, "Ливадия"),
        staff_id=1,
        address=None,
    )
    technicians.update(
        session,
        who,
        " Анна Кабельная ",
        "+7 978 111-22-33",
        ["Ливадия", DISTRICT],
        known_districts=(DISTRICT, "Ливадия"),
        staff_id=1,
        address=None,
    )
    assert (who.name, who.phone, who.districts) == (
        "Анна Кабельная",
        "+79781112233",
        ["Ливадия", DISTRICT],
    )
    for bad in ({"name": ""}, {"districts": ["Атлантида"]}, {"districts": []}):
        values = {"name": "Анна", "phone": "", "districts": [DISTRICT]} | bad
        with pytest.raises(InvalidInput):
            technicians.update(
                session, who, **values, known_districts=(DISTRICT,), staff_id=1, address=None
            )
    visit = book(session, subscriber(session))
    confirm(session, visit, who)
    with pytest.raises(InvalidInput, match="technician_has_visits"), session.begin_nested():
        technicians.deactivate(session, who, staff_id=1, address=None)
    requests.advance(session, visit, VisitState.CANCELLED, POLICY, **STAFF)
    technicians.deactivate(session, who, staff_id=1, address=None)
    assert not who.active and who not in technicians.active(session)
    with pytest.raises(NotFound):
        technicians.get(session, who.id)
    events = session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.data["technician_id"].as_integer() == who.id)
        .order_by(AuditEvent.id)
    ).all()
    assert [e.event for e in events] == [
        "technician.added",
        "technician.changed",
        "technician.deactivated",
    ]
    assert events[1].data["after"]["name"] == "Анна Кабельная"
    assert events[2].data["before"] == {"active": True}
    assert events[2].data["after"] == {"active": False}


def test_ratings_are_summed_up_per_technician(session, frozen_clock):
    week(session, capacity=5)
    who, other = technician(session), technician(session)
    unrated = Technician(name="Новичок", districts=[DISTRICT])
    session.add(unrated)
    session.flush()
    for n, (stars, comment) in enumerate([(5, "Быстро"), (4, ""), (2, "Опоздал"), (5, "Ок")]):
        visit = book(session, subscriber(session), key=f"2026-11-{25 + n}T09:00")
        confirm(session, visit, who)
        requests.advance(session, visit, VisitState.ON_THE_WAY, POLICY, **STAFF)
        requests.advance(session, visit, VisitState.DONE, POLICY, **STAFF)
        frozen_clock.advance(minutes=1)
        requests.rate(session, visit, stars, comment, address=None)
    found = technicians.ratings(session, [who.id, other.id, unrated.id])
    assert (found[who.id].count, found[who.id].average) == (4, 4.0)
    assert [c.text for c in found[who.id].recent] == ["Ок", "Опоздал", "Быстро"]
    assert found[who.id].recent[0].at == frozen_clock()
    assert (found[unrated.id].count, found[unrated.id].average, found[unrated.id].recent) == (
        0,
        None,
        [],
    )
