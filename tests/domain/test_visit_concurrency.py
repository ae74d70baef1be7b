"""The last place of a window, taken by two subscribers at the same moment, in real
transactions on a database of its own (the billing concurrency tests' one).

On PostgreSQL the second booking is seen waiting for the first one's row lock, then
finds the window full. SQLite has one writer at a time, so the bookings queue and the
outcome must be the same: never more bookings than places.
"""

import threading
from datetime import time

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.domain.visits import requests, schedule
from portal.domain.visits.errors import WindowFull
from portal.models import Account, VisitRequest, VisitWindow
from tests.domain import test_billing_concurrency as billing_concurrency
from tests.domain.test_billing_concurrency import in_thread, wait_until_someone_waits_for_a_lock
from tests.domain.test_visits import POLICY, WEDNESDAY, booking
from tests.factories import create_subscriber

# A migrated database of this module's own, on each backend.
engine = billing_concurrency.engine


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
