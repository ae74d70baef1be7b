"""The last place of a window, taken by two subscribers at the same moment; one
subscriber's two tabs opening the same category at once; one technician given two
overlapping requests by two dispatchers at once: in real transactions on a database of
its own (the billing concurrency tests' one).

On PostgreSQL the second booking is seen waiting for the first one's row lock, then
finds the window full. SQLite has one writer at a time, so the bookings queue and the
outcome must be the same: never more bookings than places.
"""

import threading
from datetime import time

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.domain.visits import requests, schedule
from portal.domain.visits.errors import (
    DuplicateOpen,
    InvalidTransition,
    TechnicianBusy,
    WindowFull,
)
from portal.models import Account, Technician, VisitRequest, VisitState, VisitWindow
from tests.domain import test_billing_concurrency as billing_concurrency
from tests.domain.test_billing_concurrency import in_thread, wait_until_someone_waits_for_a_lock
from tests.domain.test_visits import POLICY, WEDNESDAY, booking
from tests.factories import create_subscriber

# A migrated database of this module's own, on each backend.
engine = billing_concurrency.engine
STAFF = {"staff_id": 1, "address": None}


def setup(engine, district: str, capacity: int, accounts: int, concrete: bool) -> list[int]:
    """Committed accounts of a district of this test's own, and its weekly windows."""
    with Session(engine) as session:
        for weekday in range(7):
            schedule.set_template(session, district, weekday, time(9), time(12), capacity)
        if concrete:
            schedule.window_for(session, district, WEDNESDAY, time(9))
        ids = []
        for _ in range(accounts):
            account = create_subscriber(session).account
            account.district = district
            ids.append(account.id)
        session.commit()
    return ids


def book_in_own_session(engine, account_id: int, hold=None, release=None):
    with Session(engine) as session:
        account = session.get(Account, account_id)
        requests.book(session, account, booking(), POLICY, address=None)
        if hold is not None:
            hold.set()
            release.wait()
        session.commit()


def second_waits_for_first(engine, first, second) -> list:
    """`first(hold, release)` holds its transaction open until `second()` waits for its
    lock (PostgreSQL; SQLite queues writers), then both finish: the errors raised."""
    holding, release = threading.Event(), threading.Event()
    errors: list = []
    one = in_thread(lambda: first(holding, release), errors)
    holding.wait()
    two = in_thread(second, errors)
    try:
        wait_until_someone_waits_for_a_lock(engine)
    finally:
        release.set()  # a failed wait must not leave the first thread holding forever
    one.join()
    two.join()
    return errors


def booked(engine, district: str) -> tuple[int, int]:
    with Session(engine) as check:
        window = check.scalar(sa.select(VisitWindow).filter_by(district=district))
        count = check.scalar(
            sa.select(sa.func.count(VisitRequest.id)).where(VisitRequest.window_id == window.id)
        )
        return window.booked, count


def test_the_second_of_two_at_once_finds_the_last_place_taken(engine, frozen_clock):
    first_id, second_id = setup(engine, "Кореиз-1", capacity=1, accounts=2, concrete=True)
    holding, release = threading.Event(), threading.Event()
    errors: list = []
    one = in_thread(lambda: book_in_own_session(engine, first_id, holding, release), errors)
    holding.wait()
    two = in_thread(lambda: book_in_own_session(engine, second_id), errors)
    wait_until_someone_waits_for_a_lock(engine)
    release.set()
    one.join()
    two.join()
    assert [type(e) for e in errors] == [WindowFull]
    assert booked(engine, "Кореиз-1") == (1, 1)


def test_many_at_once_never_book_past_the_capacity(engine, frozen_clock):
    """Eight subscribers race for three places of a window no one has booked yet (its
    row is made by the first of them)."""
    ids = setup(engine, "Кореиз-2", capacity=3, accounts=8, concrete=False)
    barrier = threading.Barrier(len(ids))
    errors: list = []

    def race(account_id):
        barrier.wait()
        book_in_own_session(engine, account_id)

    threads = [in_thread(lambda a=a: race(a), errors) for a in ids]
    for thread in threads:
        thread.join()
    assert [type(e) for e in errors] == [WindowFull] * 5
    assert booked(engine, "Кореиз-2") == (3, 3)


def test_two_tabs_opening_one_category_at_once_make_one_request(engine, frozen_clock):
    """The second tab passes the check for an open request before the first commits;
    the unique open key refuses it, and its place goes back with its savepoint."""
    [account_id] = setup(engine, "Кореиз-3", capacity=5, accounts=1, concrete=True)
    errors = second_waits_for_first(
        engine,
        lambda hold, release: book_in_own_session(engine, account_id, hold, release),
        lambda: book_in_own_session(engine, account_id),
    )
    assert [type(e) for e in errors] == [DuplicateOpen]
    assert booked(engine, "Кореиз-3") == (1, 1)


def test_two_dispatchers_cannot_give_one_technician_overlapping_requests(engine, frozen_clock):
    """The technician's row is locked (FOR UPDATE) before the overlap is checked, so the
    second dispatcher's check runs after the first one's commit and sees it."""
    ids = setup(engine, "Кореиз-4", capacity=2, accounts=2, concrete=True)
    with Session(engine) as session:
        visits = [
            requests.book(session, session.get(Account, a), booking(), POLICY, address=None).id
            for a in ids
        ]
        who = Technician(name="Мастер Кореиза", districts=["Кореиз-4"])
        session.add(who)
        session.commit()
        technician_id = who.id

    def assign(visit_id, hold=None, release=None):
        with Session(engine) as session:
            visit = session.get(VisitRequest, visit_id)
            requests.assign(session, visit, technician_id, staff_id=1, address=None)
            if hold is not None:
                hold.set()
                release.wait()
            session.commit()

    errors = second_waits_for_first(
        engine,
        lambda hold, release: assign(visits[0], hold, release),
        lambda: assign(visits[1]),
    )
    assert [type(e) for e in errors] == [TechnicianBusy]
    with Session(engine) as check:
        assigned = check.scalars(
            sa.select(VisitRequest.id)
            .where(VisitRequest.technician_id == technician_id)
            .order_by(VisitRequest.id)
        ).all()
    assert assigned == visits[:1]


def booked_pair(engine, district: str) -> list[int]:
    """Two committed requests of two accounts in one window of two places."""
    ids = setup(engine, district, capacity=2, accounts=2, concrete=True)
    with Session(engine) as session:
        visits = [
            requests.book(session, session.get(Account, a), booking(), POLICY, address=None).id
            for a in ids
        ]
        session.commit()
    return visits


def places_taken(engine, window_id: int) -> int:
    with Session(engine) as check:
        return check.get(VisitWindow, window_id).booked


def change_in_own_session(engine, visit_id: int, change, hold=None, release=None):
    with Session(engine) as session:
        change(session, session.get(VisitRequest, visit_id))
        if hold is not None:
            hold.set()
            release.wait()
        session.commit()


def cancel(session, visit):
    requests.cancel_by_subscriber(session, visit, POLICY, address=None)


def test_two_cancels_at_once_give_the_place_back_once(engine, frozen_clock):
    """One request cancelled from two tabs at the same moment: the second finds it
    cancelled already, and the place of the window's other request stays taken."""
    first, _other = booked_pair(engine, "Кореиз-5")
    with Session(engine) as session:
        window_id = session.get(VisitRequest, first).window_id
    errors = second_waits_for_first(
        engine,
        lambda hold, release: change_in_own_session(engine, first, cancel, hold, release),
        lambda: change_in_own_session(engine, first, cancel),
    )
    assert [type(e) for e in errors] == [InvalidTransition]
    assert places_taken(engine, window_id) == 1


def test_a_cancel_during_a_move_gives_back_the_new_window(engine, frozen_clock):
    """The subscriber moves the request in one tab and cancels it in another at once:
    the cancel waits for the move and gives back the place of the window moved to; the
    window left keeps its other request's place."""
    first, _other = booked_pair(engine, "Кореиз-6")
    with Session(engine) as session:
        old_id = session.get(VisitRequest, first).window_id

    def move(session, visit):
        requests.move_by_subscriber(session, visit, "2026-11-26T09:00", POLICY, address=None)

    errors = second_waits_for_first(
        engine,
        lambda hold, release: change_in_own_session(engine, first, move, hold, release),
        lambda: change_in_own_session(engine, first, cancel),
    )
    assert errors == []
    with Session(engine) as check:
        visit = check.get(VisitRequest, first)
        assert visit.state is VisitState.CANCELLED
        assert visit.window.day.isoformat() == "2026-11-26"
        assert (visit.window.booked, places_taken(engine, old_id)) == (0, 1)


def test_a_move_and_a_confirmation_at_once_do_not_overlap_a_technician(engine, frozen_clock):
    """One dispatcher confirms a Thursday request with a technician while another moves
    the technician's Wednesday request to that Thursday window: the move waits for the
    technician's row, then finds them busy."""
    wednesday, thursday = booked_pair(engine, "Кореиз-7")
    with Session(engine) as session:
        who = Technician(name="Мастер Гаспры", districts=["Кореиз-7"])
        session.add(who)
        session.flush()
        requests.assign(session, session.get(VisitRequest, wednesday), who.id, **STAFF)
        requests.move_by_staff(
            session, session.get(VisitRequest, thursday), "2026-11-26T09:00", POLICY, **STAFF
        )
        session.commit()
        technician_id = who.id

    def confirm(hold, release):
        with Session(engine) as session:
            visit = session.get(VisitRequest, thursday)
            requests.advance(
                session,
                visit,
                VisitState.CONFIRMED,
                POLICY,
                technician_id=technician_id,
                **STAFF,
            )
            hold.set()
            release.wait()
            session.commit()

    def move():
        with Session(engine) as session:
            visit = session.get(VisitRequest, wednesday)
            requests.move_by_staff(session, visit, "2026-11-26T09:00", POLICY, **STAFF)
            session.commit()

    errors = second_waits_for_first(engine, confirm, move)
    assert [type(e) for e in errors] == [TechnicianBusy]
    with Session(engine) as check:
        days = check.scalars(
            sa.select(VisitWindow.day)
            .join(VisitRequest, VisitRequest.window_id == VisitWindow.id)
            .where(VisitRequest.technician_id == technician_id)
            .order_by(VisitWindow.day)
        ).all()
    assert [d.isoformat() for d in days] == ["2026-11-25", "2026-11-26"]
