"""Today's figures on the console's start page, counted in the provider's day."""

import re
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from portal.domain import figures, ledger, sms
from portal.domain.visits import requests
from portal.models import AccountStatus, EntryKind, SmsStatus, StaffRole
from tests.domain import test_visits as visits_test
from tests.factories import create_subscriber, noted_refund, payment_on_review
from tests.web.test_staff_subscribers import signed_in_staff

TZ = "Europe/Simferopol"  # UTC+3 all year: the 24th runs from 23rd 21:00 to 24th 21:00 UTC
DAY = date(2026, 11, 24)


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def paid(session, frozen_clock, account, amount, moment):
    frozen_clock.set(moment)
    ledger.post(
        session, account.id, EntryKind.PAYMENT, amount, key=f"test:paid:{account.id}:{moment}"
    )


def failed_sms(session, frozen_clock, moment):
    frozen_clock.set(moment)
    message = sms.queue(session, to_phone="+79780001122", text="Текст", purpose="notice")
    message.status = SmsStatus.FAILED


@pytest.fixture
def day_of_rows(session, frozen_clock):
    """A known day: what falls inside the 24th (local) and what just outside."""
    frozen_clock.set(at(2026, 11, 23, 20, 59))  # 23:59 on the 23rd
    old = create_subscriber(session).account
    old.status = AccountStatus.BLOCKED
    frozen_clock.set(at(2026, 11, 23, 21, 0))  # 00:00 on the 24th
    new = create_subscriber(session).account
    frozen_clock.set(at(2026, 11, 24, 20, 59, 59))  # 23:59:59 on the 24th
    newer = create_subscriber(session).account
    newer.status = AccountStatus.BLOCKED
    create_subscriber(session).account.status = AccountStatus.BLOCKED_BY_PROVIDER
    frozen_clock.set(at(2026, 11, 24, 21, 0))  # 00:00 on the 25th
    create_subscriber(session)
    paid(session, frozen_clock, old, 100_00, at(2026, 11, 23, 20, 59, 59))  # the 23rd
    paid(session, frozen_clock, old, 250_00, at(2026, 11, 23, 21, 0, 1))  # 00:00:01
    paid(session, frozen_clock, new, 600_50, at(2026, 11, 24, 12, 0))
    paid(session, frozen_clock, new, 900_00, at(2026, 11, 24, 21, 0))  # the 25th
    ledger.post(session, new.id, EntryKind.CHARGE, -20_00, key="test:charge")  # no payment
    failed_sms(session, frozen_clock, at(2026, 11, 23, 20, 0))  # the 23rd
    failed_sms(session, frozen_clock, at(2026, 11, 24, 8, 0))
    frozen_clock.set(at(2026, 11, 24, 9, 0))
    payment_on_review(session, old)
    noted_refund(session, refund_id="rf-dashboard")
    noted_refund(session, refund_id="rf-dashboard")  # the same refund noted twice
    visits_test.week(session)
    old.district = new.district = visits_test.DISTRICT
    visits_test.book(session, old)  # open
    gone = visits_test.book(session, new)
    requests.cancel_by_subscriber(session, gone, visits_test.POLICY, address=None)  # not open
    session.commit()


def test_todays_figures_count_the_providers_day(session, day_of_rows):
    found = figures.today(session, DAY, tz=TZ)
    assert found.payments == 2 and found.paid == 850_50
    assert found.new_subscribers == 3
    assert found.blocked == 2 and found.blocked_by_provider == 1
    assert found.on_review == 1
    assert found.noted_refunds == 1
    assert found.sms_failed == 1
    assert found.open_visits == 1


def test_the_day_before_and_after(session, day_of_rows):
    before = figures.today(session, date(2026, 11, 23), tz=TZ)
    after = figures.today(session, date(2026, 11, 25), tz=TZ)
    assert (before.payments, before.paid, before.new_subscribers) == (1, 100_00, 1)
    assert (after.payments, after.paid, after.new_subscribers) == (1, 900_00, 1)


def test_each_figure_is_one_query_whatever_the_rows(session, day_of_rows, frozen_clock):
    def queries_of_figures() -> int:
        statements = []

        def count(conn, cursor, statement, *args):
            if statement.lstrip().upper().startswith("SELECT"):  # not the test's savepoints
                statements.append(statement)

        engine = session.get_bind()
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            figures.today(session, DAY, tz=TZ)
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    first = queries_of_figures()
    frozen_clock.set(at(2026, 11, 24, 10, 0))
    for _ in range(5):
        account = create_subscriber(session).account
        paid(session, frozen_clock, account, 10_00, at(2026, 11, 24, 10, 0))
        payment_on_review(session, account)
        noted_refund(session)
    session.commit()
    assert queries_of_figures() == first == 7


@pytest.mark.parametrize("role", list(StaffRole))
def test_every_role_sees_the_figures(client, session, day_of_rows, frozen_clock, role):
    frozen_clock.set(at(2026, 11, 24, 9, 0))
    signed_in_staff(client, session, role=role)
    html = client.get("/staff/").get_data(as_text=True)

    def figure(name: str) -> str:
        match = re.search(rf'id="figure-{name}"><dt>[^<]*</dt><dd>(?:<a [^>]*>)?([^<]*)<', html)
        assert match, name
        return match.group(1)

    assert figure("payments") == "2"
    assert figure("paid") == "850,50\u00a0₽"
    assert figure("new-subscribers") == "3"
    assert figure("blocked") == "2" and figure("blocked-by-provider") == "1"
    assert figure("review") == "1" and figure("refunds") == "1"
    assert figure("sms-failed") == "1"
    assert figure("visits") == "1"
    board = 'href="/staff/visits/?week=y"' in html
    assert board == (role in (StaffRole.DISPATCHER, StaffRole.ADMIN))
    links = 'href="/staff/payments/review"' in html
    assert links == (role in (StaffRole.OPERATOR, StaffRole.ACCOUNTANT, StaffRole.ADMIN))
