"""Technician visits: booking, capacity, one open request per category, the state
machine, the subscriber's change deadline and the evening-before reminders.

Windows are the provider's local times (Europe/Simferopol, UTC+3 all year, no DST);
the database keeps UTC moments."""

from datetime import UTC, date, datetime, time

import pytest
import sqlalchemy as sa

from portal.domain.errors import InvalidInput, NotFound
from portal.domain.visits import VisitPolicy, reminders, requests, schedule
from portal.domain.visits.errors import (
    DuplicateOpen,
    InvalidTransition,
    TooLateToChange,
    WindowFull,
    WindowUnavailable,
)
from portal.models import AuditEvent, SmsMessage, Technician, VisitState, VisitWindow
from tests.factories import create_subscriber

POLICY = VisitPolicy(tz="Europe/Simferopol", change_hours=2, days_ahead=14, remind_hour=18)
DISTRICT = "Массандра"
# Tuesday 2026-11-24 12:00 local (09:00 UTC) is the frozen clock's moment.
TUESDAY = date(2026, 11, 24)
WEDNESDAY = date(2026, 11, 25)


@pytest.fixture(autouse=True)
def app_context(app):
    """Visit messages are written in the subscriber's language (Flask-Babel)."""
    with app.app_context():
        yield


def subscriber(session, district=DISTRICT, **fields):
    new = create_subscriber(session, **fields)
    new.account.district = district
    session.flush()
    return new.account


def week(session, capacity=2, district=DISTRICT):
    """Every day: 09:00–12:00 and 14:00–17:00."""
    for weekday in range(7):
        schedule.set_template(session, district, weekday, time(9), time(12), capacity)
        schedule.set_template(session, district, weekday, time(14), time(17), capacity)


def booking(key="2026-11-25T09:00", category="no_internet", **fields):
    data = {
        "category": category,
        "text": "Не горит лампочка",
        "window_key": key,
        "address": "Ялта, ул. Морская, 1",
        "phone": "+7 978 123-45-67",
    } | fields
    return requests.Booking(**data)


def book(session, account, **fields):
    return requests.book(session, account, booking(**fields), POLICY, address=None)


def technician(session):
    found = Technician(name="Пётр Мастеров", phone="+79780000001", districts=[DISTRICT])
    session.add(found)
    session.flush()
    return found


def test_the_schedule_offers_the_template_from_now_on(session, frozen_clock):
    week(session)
    offered = schedule.bookable(session, DISTRICT, POLICY)
    # Today's 09:00 window has begun (12:00 local now): today offers 14:00 only.
    assert offered[0].key == "2026-11-24T14:00"
    assert offered[0].starts_at == datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    assert len(offered) == 14 * 2 - 1
    assert schedule.bookable(session, "Ливадия", POLICY) == []


def test_booking_takes_a_place_and_a_full_window_is_refused(session, frozen_clock):
    week(session, capacity=1)
    first = book(session, subscriber(session))
    assert first.state is VisitState.REQUESTED and first.window.booked == 1
    with pytest.raises(WindowFull):
        book(session, subscriber(session))
    assert session.scalar(sa.select(VisitWindow.booked).filter_by(id=first.window_id)) == 1
    offered = {s.key for s in schedule.bookable(session, DISTRICT, POLICY)}
    assert "2026-11-25T09:00" not in offered and "2026-11-25T14:00" in offered


@pytest.mark.parametrize(
    "key",
    [
        "2026-11-24T09:00",  # begun already
        "2026-11-23T14:00",  # yesterday
        "2026-12-08T09:00",  # past the days ahead
        "2026-11-25T10:00",  # no such window
        "garbage",
    ],
)
def test_a_window_outside_the_schedule_is_refused(session, frozen_clock, key):
    week(session)
    with pytest.raises((WindowUnavailable, InvalidInput)):
        book(session, subscriber(session), key=key)


def test_a_holiday_closes_a_date(session, frozen_clock):
    week(session)
    schedule.set_day_window(session, DISTRICT, WEDNESDAY, time(9), time(12), 0)
    with pytest.raises(WindowUnavailable):
        book(session, subscriber(session))
    assert "2026-11-25T09:00" not in {s.key for s in schedule.bookable(session, DISTRICT, POLICY)}


def test_a_weekly_change_reaches_the_dates_already_booked(session, frozen_clock):
    """A booking made Wednesday's 09:00 window a row of its own; the template's new
    places reach it (never below the places taken), and its hours stay as agreed with
    those booked. A date with no booking takes the new hours too; a date set apart keeps
    what the dispatcher set; a day gone by is left as it was."""
    week(session, capacity=1)
    book(session, subscriber(session))  # Wednesday 25th 09:00, full now
    next_wednesday = date(2026, 12, 2)
    schedule.set_day_window(session, DISTRICT, next_wednesday, time(9), time(12), 5)
    last_wednesday = schedule.window_for(session, DISTRICT, date(2026, 11, 18), time(9))
    unbooked = schedule.window_for(session, DISTRICT, date(2026, 12, 9), time(9))
    schedule.set_template(session, DISTRICT, 2, time(9), time(13), 4, today=TUESDAY)
    slots = {s.key: s for s in schedule.bookable(session, DISTRICT, POLICY)}
    booked = slots["2026-11-25T09:00"]
    assert (booked.capacity, booked.booked, booked.ends) == (4, 1, time(12))
    book(session, subscriber(session))  # a place again
    assert (slots["2026-12-02T09:00"].capacity, slots["2026-12-02T09:00"].ends) == (5, time(12))
    for window in (last_wednesday, unbooked):
        session.refresh(window)
    assert (last_wednesday.capacity, last_wednesday.ends) == (1, time(12))
    assert (unbooked.capacity, unbooked.ends) == (4, time(13))


def test_a_weekly_window_taken_out_keeps_the_visits_booked_in_it(session, frozen_clock):
    week(session, capacity=2)
    visit = book(session, subscriber(session))
    schedule.set_template(session, DISTRICT, 2, time(9), time(12), 0, today=TUESDAY)
    assert "2026-11-25T09:00" not in {s.key for s in schedule.bookable(session, DISTRICT, POLICY)}
    session.refresh(visit.window)
    assert visit.window.capacity == 1 and visit.window.booked == 1
    with pytest.raises(WindowFull):
        book(session, subscriber(session))


def test_bad_input_is_refused(session, frozen_clock):
    week(session)
    account = subscriber(session)
    for fields in ({"text": "x" * 10_000}, {"category": "fire"}, {"address": " "}, {"phone": "1"}):
        with pytest.raises(InvalidInput):
            book(session, account, **fields)
    with pytest.raises(InvalidInput):
        book(session, subscriber(session, district=""))


def test_one_open_request_per_category(session, frozen_clock):
    week(session)
    account = subscriber(session)
    first = book(session, account)
    with pytest.raises(DuplicateOpen) as refused:
        book(session, account, key="2026-11-26T09:00")
    assert refused.value.existing_id == first.id
    # Another category is another problem; a closed one frees its category.
    book(session, account, category="no_tv")
    requests.cancel_by_subscriber(session, first, POLICY, address=None)
    assert book(session, account, key="2026-11-26T09:00").id != first.id


def test_a_request_whose_window_has_ended_no_longer_holds_its_category(session, frozen_clock):
    """Nobody closed it (the technician did not come, or staff did not mark it): the
    subscriber can still ask again, and the old request stays for staff to close."""
    week(session)
    account = subscriber(session)
    first = book(session, account)  # Wednesday 09:00-12:00
    frozen_clock.set(datetime(2026, 11, 25, 8, 59, tzinfo=UTC))  # 11:59, still in it
    with pytest.raises(DuplicateOpen):
        book(session, account, key="2026-11-26T09:00")
    frozen_clock.set(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))  # 12:00, it has ended
    second = book(session, account, key="2026-11-26T09:00")
    assert requests.open_request(session, account.id, first.category).id == second.id
    assert first.state is VisitState.REQUESTED and first.open_key is None
    with pytest.raises(DuplicateOpen):
        book(session, account, key="2026-11-26T14:00")


def test_a_released_request_moved_by_staff_takes_its_category_back(session, frozen_clock):
    """Moved to a new window it is waiting again, so it holds its category again: not
    while the subscriber's newer request of that kind is open (staff close one first)."""
    week(session)
    account = subscriber(session)
    first = book(session, account)
    frozen_clock.set(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    second = book(session, account, key="2026-11-26T09:00")
    with pytest.raises(DuplicateOpen) as refused:
        requests.move_by_staff(session, first, "2026-11-27T09:00", POLICY, staff_id=1)
    assert refused.value.existing_id == second.id
    requests.advance(session, second, VisitState.CANCELLED, POLICY, staff_id=1)
    requests.move_by_staff(session, first, "2026-11-27T09:00", POLICY, staff_id=1)
    assert requests.open_request(session, account.id, first.category).id == first.id


def test_a_technician_on_the_way_still_holds_the_category_after_the_window(session, frozen_clock):
    week(session)
    account = subscriber(session)
    first = book(session, account)
    who = technician(session)
    requests.advance(session, first, VisitState.CONFIRMED, POLICY, technician_id=who.id, staff_id=1)
    requests.advance(session, first, VisitState.ON_THE_WAY, POLICY, staff_id=1)
    frozen_clock.set(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
    with pytest.raises(DuplicateOpen):
        book(session, account, key="2026-11-26T09:00")


def test_the_open_key_is_unique_in_the_database(session, frozen_clock):
    week(session)
    account = subscriber(session)
    first = book(session, account)
    second = book(session, account, category="no_tv")
    second.open_key = first.open_key
    with pytest.raises(sa.exc.IntegrityError):
        session.flush()


def test_cancelling_gives_the_place_back_until_the_deadline(session, frozen_clock):
    week(session, capacity=1)
    visit = book(session, subscriber(session))
    # The window starts at 09:00 local on Wednesday (06:00 UTC): changes end at 07:00 local.
    frozen_clock.set(datetime(2026, 11, 25, 3, 59, tzinfo=UTC))
    assert requests.may_change(visit, POLICY)
    frozen_clock.set(datetime(2026, 11, 25, 4, 0, tzinfo=UTC))
    assert not requests.may_change(visit, POLICY)
    with pytest.raises(TooLateToChange):
        requests.cancel_by_subscriber(session, visit, POLICY, address=None)
    frozen_clock.set(datetime(2026, 11, 25, 3, 0, tzinfo=UTC))
    requests.cancel_by_subscriber(session, visit, POLICY, address=None)
    session.refresh(visit.window)
    assert visit.state is VisitState.CANCELLED and visit.cancelled_at == frozen_clock()
    assert visit.window.booked == 0 and visit.open_key is None


def test_moving_takes_the_new_place_and_frees_the_old(session, frozen_clock):
    week(session, capacity=1)
    visit = book(session, subscriber(session))
    old = visit.window
    requests.move_by_subscriber(session, visit, "2026-11-26T14:00", POLICY, address=None)
    session.refresh(old)
    assert old.booked == 0 and visit.window.booked == 1 and visit.window.day == date(2026, 11, 26)
    other = book(session, subscriber(session))  # the freed place
    with pytest.raises(WindowFull):
        requests.move_by_subscriber(session, other, "2026-11-26T14:00", POLICY, address=None)


def test_the_state_machine(session, frozen_clock):
    week(session)
    visit = book(session, subscriber(session))
    staff = {"staff_id": 1}
    with pytest.raises(InvalidTransition):
        requests.advance(session, visit, VisitState.DONE, POLICY, **staff)
    with pytest.raises(InvalidInput):  # no technician
        requests.advance(session, visit, VisitState.CONFIRMED, POLICY, **staff)
    who = technician(session)
    requests.advance(session, visit, VisitState.CONFIRMED, POLICY, technician_id=who.id, **staff)
    requests.advance(session, visit, VisitState.ON_THE_WAY, POLICY, **staff)
    with pytest.raises(InvalidTransition):  # on the way: the subscriber calls instead
        requests.cancel_by_subscriber(session, visit, POLICY, address=None)
    requests.advance(session, visit, VisitState.DONE, POLICY, **staff)
    assert visit.open_key is None and visit.window.booked == 1
    for to in VisitState:
        with pytest.raises(InvalidTransition):
            requests.advance(session, visit, to, POLICY, **staff)
    events = session.scalars(
        sa.select(AuditEvent.event)
        .where(AuditEvent.account_id == visit.account_id)
        .order_by(AuditEvent.id)
    ).all()
    assert events[-4:] == ["visit.requested", "visit.confirmed", "visit.on_the_way", "visit.done"]
    texts = session.scalars(
        sa.select(SmsMessage.body).where(SmsMessage.purpose.like("visit_%")).order_by(SmsMessage.id)
    ).all()
    assert len(texts) == 2 and "Пётр Мастеров" in texts[0]


def test_rating_after_done_only(session, frozen_clock):
    week(session)
    visit = book(session, subscriber(session))
    with pytest.raises(InvalidTransition):
        requests.rate(session, visit, 5, "", address=None)
    visit.state = VisitState.DONE
    for bad in (0, 6):
        with pytest.raises(InvalidInput):
            requests.rate(session, visit, bad, "", address=None)
    requests.rate(session, visit, 4, " Быстро ", address=None)
    assert (visit.rating, visit.rating_comment) == (4, "Быстро")


def test_another_accounts_request_is_not_found(session, frozen_clock):
    week(session)
    visit = book(session, subscriber(session))
    other = subscriber(session)
    with pytest.raises(NotFound):
        requests.of_account(session, other.id, visit.id)
    assert requests.of_account(session, visit.account_id, visit.id) is visit


def reminder_texts(session):
    return session.scalars(
        sa.select(SmsMessage.body).where(SmsMessage.purpose == "visit_reminder")
    ).all()


@pytest.mark.parametrize(
    ("now", "key", "due"),
    [
        # 17:59 local the evening before: not yet; 18:00: due.
        (datetime(2026, 11, 24, 14, 59, tzinfo=UTC), "2026-11-25T09:00", False),
        (datetime(2026, 11, 24, 15, 0, tzinfo=UTC), "2026-11-25T09:00", True),
        # After local midnight (21:30 UTC is 00:30 local), a morning visit still hears.
        (datetime(2026, 11, 24, 21, 30, tzinfo=UTC), "2026-11-25T09:00", True),
        # Month's end: 30 November evening for 1 December.
        (datetime(2026, 11, 30, 15, 0, tzinfo=UTC), "2026-12-01T09:00", True),
        (datetime(2026, 11, 30, 14, 0, tzinfo=UTC), "2026-12-01T09:00", False),
        # Two evenings before: not yet.
        (datetime(2026, 11, 24, 15, 0, tzinfo=UTC), "2026-11-26T09:00", False),
    ],
)
def test_the_reminder_is_due_the_evening_before(session, frozen_clock, now, key, due):
    week(session)
    book(session, subscriber(session), key=key)
    frozen_clock.set(now)
    assert len(reminders.due(session, POLICY)) == (1 if due else 0)


def test_each_reminder_is_sent_once(session, frozen_clock):
    week(session)
    visit = book(session, subscriber(session))
    cancelled = book(session, subscriber(session))
    requests.cancel_by_subscriber(session, cancelled, POLICY, address=None)
    session.commit()
    frozen_clock.set(datetime(2026, 11, 24, 16, 0, tzinfo=UTC))
    assert reminders.send_due(session, POLICY) == 1
    assert reminders.send_due(session, POLICY) == 0
    assert (
        len(reminder_texts(session)) == 1 and "25.11.2026 09:00–12:00" in reminder_texts(session)[0]
    )
    session.refresh(visit)
    assert visit.reminded_at == frozen_clock()


@pytest.mark.parametrize("by", ["subscriber", "staff"])
def test_a_visit_moved_after_its_reminder_is_reminded_of_its_new_window(session, frozen_clock, by):
    week(session)
    visit = book(session, subscriber(session))
    session.commit()
    frozen_clock.set(datetime(2026, 11, 24, 16, 0, tzinfo=UTC))  # 19:00 local, Tuesday
    assert reminders.send_due(session, POLICY) == 1  # of Wednesday 09:00
    session.refresh(visit)  # as a request reads it
    assert visit.reminded_at is not None
    if by == "subscriber":
        requests.move_by_subscriber(session, visit, "2026-11-26T09:00", POLICY, address=None)
    else:
        requests.move_by_staff(session, visit, "2026-11-26T09:00", POLICY, staff_id=1)
    session.commit()
    frozen_clock.set(datetime(2026, 11, 25, 15, 0, tzinfo=UTC))  # 18:00 local, Wednesday
    assert reminders.send_due(session, POLICY) == 1
    assert "26.11.2026 09:00–12:00" in reminder_texts(session)[-1]


def test_a_visit_cancelled_or_moved_during_the_run_is_not_reminded_now(
    session, frozen_clock, monkeypatch
):
    """The run lists the due visits, then sends them one by one: a visit the subscriber
    cancels meanwhile hears nothing, and one moved to Thursday is reminded on Wednesday
    evening (of Thursday), not tonight."""
    week(session, capacity=3)
    first, cancelled, moved = (book(session, subscriber(session)) for _ in range(3))
    session.commit()
    send = reminders.notify

    def others_change_while_the_first_is_sent(db, visit, event, policy):
        if visit.id == first.id:
            requests.cancel_by_subscriber(db, cancelled, POLICY, address=None)
            requests.move_by_subscriber(db, moved, "2026-11-26T09:00", POLICY, address=None)
        return send(db, visit, event, policy)

    monkeypatch.setattr(reminders, "notify", others_change_while_the_first_is_sent)
    frozen_clock.set(datetime(2026, 11, 24, 16, 0, tzinfo=UTC))  # 19:00 local, Tuesday
    assert reminders.send_due(session, POLICY) == 1
    assert len(reminder_texts(session)) == 1
    frozen_clock.set(datetime(2026, 11, 25, 15, 0, tzinfo=UTC))  # 18:00 local, Wednesday
    assert reminders.send_due(session, POLICY) == 1
    assert "26.11.2026 09:00–12:00" in reminder_texts(session)[-1]
    assert len(reminder_texts(session)) == 2


def test_the_remind_command_is_safe_to_repeat(runner, session, frozen_clock):
    week(session)
    book(session, subscriber(session))
    session.commit()
    frozen_clock.set(datetime(2026, 11, 24, 15, 5, tzinfo=UTC))
    first = runner.invoke(args=["visits", "remind"])
    again = runner.invoke(args=["visits", "remind"])
    assert first.exit_code == 0 and "Reminders sent: 1" in first.output
    assert "Reminders sent: 0" in again.output
    assert len(reminder_texts(session)) == 1
