"""The history as read: a day's charges as one line, pages never splitting a day."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from portal.domain import billing, history, ledger, promised
from portal.domain.errors import InvalidInput
from portal.models import EntryKind, LedgerEntry
from tests.domain.test_promised import DAY, blocked_subscriber, run, take
from tests.factories import (
    create_payment,
    create_service,
    create_subscriber,
    create_tariff,
    pay,
)

TZ = "Europe/Simferopol"


def subscriber_with_days(session, days: int):
    """Three subscriptions (three charges a day), paid in, charged for `days` days."""
    tariffs = [create_tariff(session, price=310_00), create_tariff(session, price=155_00)]
    addon = create_service(session, price=31_00)
    new = create_subscriber(
        session, balance=10_000_00, tariffs=tariffs, services=[addon], start=date(2026, 12, 1)
    )
    for day in range(1, days + 1):
        billing.run_day(session, date(2026, 12, day), block_threshold=0)
    return new.account


def test_a_days_charges_are_one_line_with_their_parts(session):
    account = subscriber_with_days(session, 2)
    found = history.page(session, account.id, tz=TZ)
    kinds = [(line.kind, line.when, line.amount, len(line.entries)) for line in found.lines]
    assert kinds == [
        (EntryKind.CHARGE, date(2026, 12, 2), -16_00, 3),
        (EntryKind.CHARGE, date(2026, 12, 1), -16_00, 3),
        (EntryKind.PAYMENT, kinds[2][1], 10_000_00, 1),
    ]
    assert found.next_before is None


def test_pages_never_split_a_day_and_cover_every_entry_once(session):
    account = subscriber_with_days(session, 10)  # 30 charges + the payment
    seen, before, pages = [], None, 0
    while True:
        found = history.page(session, account.id, tz=TZ, size=4, before=before)
        pages += 1
        for line in found.lines:
            if line.is_daily_charges:
                assert len(line.entries) == 3, line.when
            seen += [e.id for e in line.entries]
        if found.next_before is None:
            break
        before = found.next_before
    assert pages > 2
    assert len(seen) == len(set(seen)) == 31
    assert seen == sorted(seen, reverse=True)


def test_an_entry_between_a_days_charges_is_never_skipped(session):
    account = subscriber_with_days(session, 1)
    ledger.post(session, account.id, EntryKind.CORRECTION, -1, key="between")
    billing.run_day(session, date(2026, 12, 2), block_threshold=0)
    # Same-day charges that are not next to each other stay separate lines.
    credit = ledger.post(
        session, account.id, EntryKind.CREDIT, 5, key="after", description="credit"
    )
    seen, before = [], None
    while True:
        found = history.page(session, account.id, tz=TZ, size=2, before=before)
        seen += [e.id for line in found.lines for e in line.entries]
        if found.next_before is None:
            break
        before = found.next_before
    assert credit.entry.id in seen
    assert len(seen) == len(set(seen)) == 1 + 3 + 1 + 3 + 1


def test_a_days_monthly_fee_is_the_subscriptions_charges_alone(session, frozen_clock):
    """The run writes a promised payment's credit taken back with the day's charges (a
    charge for that day too), and taking the promise charges its fee for the day: each
    is a line of its own under its own name, never part of "Monthly fee for the day"."""
    frozen_clock.set(at(2026, 12, 5, 6))
    account = blocked_subscriber(session)  # 10 roubles a day, charged on DAY
    promise = take(session, account)  # 300 roubles from DAY to its 5th day, a fee of 10
    closed_on = promise.ends_on + timedelta(days=1)
    day = DAY
    while day < closed_on:  # each day's run on its morning
        day += timedelta(days=1)
        frozen_clock.set(datetime.combine(day, time(3, 0), UTC))
        run(session, day)
    found = history.page(session, account.id, tz=TZ)
    lines = [
        (line.is_daily_charges, line.when, line.amount, line.entries[0].description)
        for line in found.lines
    ]
    assert lines[:2] == [
        (True, closed_on, -10_00, lines[0][3]),
        (False, closed_on, -300_00, promised.BACK_DESCRIPTION),
    ]
    assert (False, DAY, -10_00, "Плата за обещанный платёж") in lines
    assert {line.amount for line in found.lines if line.is_daily_charges} == {-10_00}


def test_a_promise_taken_back_after_midnight_is_on_the_providers_day(session, frozen_clock):
    """A payment that covers a promise takes its credit back at once: at 00:30 in Yalta
    (21:30 UTC the day before) both lines are on the provider's day, the new one."""
    account = blocked_subscriber(session)
    take(session, account)
    frozen_clock.set(datetime.combine(DAY, time(21, 30), UTC))  # 00:30 the next day
    pay(session, create_payment(session, account, amount=300_00))
    found = history.page(session, account.id, tz=TZ)
    assert [(line.kind, line.when, line.amount) for line in found.lines[:2]] == [
        (EntryKind.CHARGE, DAY + timedelta(days=1), -300_00),
        (EntryKind.PAYMENT, DAY + timedelta(days=1), 300_00),
    ]


# --- months, filters, pages while entries arrive, the picture ----------------------------


def post_at(session, clock_, account, moment, kind, amount, key, **more):
    """An entry booked at `moment` (the clock is set there first)."""
    clock_.set(moment)
    return ledger.post(session, account.id, kind, amount, key=key, **more).entry


def at(year, month, day, hour=12, minute=0):
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tz", "months"),
    [
        # 21:30 UTC on 31 December is already 00:30 on 1 January in Yalta (UTC+3).
        ("Europe/Simferopol", [date(2027, 1, 1), date(2026, 12, 1)]),
        ("UTC", [date(2026, 12, 1)]),
        # 14:30 on 31 December in Alaska (UTC-9) still.
        ("America/Anchorage", [date(2026, 12, 1)]),
    ],
)
def test_months_follow_the_providers_time_zone_across_the_year_end(
    session, frozen_clock, tz, months
):
    account = create_subscriber(session).account
    post_at(session, frozen_clock, account, at(2026, 12, 31, 20), EntryKind.PAYMENT, 300_00, "a")
    post_at(session, frozen_clock, account, at(2026, 12, 31, 21, 30), EntryKind.PAYMENT, 5_00, "b")
    found = history.page(session, account.id, tz=tz)
    assert [group.month for group in found.groups] == months
    assert sum(len(group.lines) for group in found.groups) == 2
    newest = found.groups[0].totals
    assert newest.closing == 305_00  # the balance after both, whichever month they fell in


def test_each_month_has_its_totals_and_closing_balance(session, frozen_clock):
    account = create_subscriber(session).account
    post_at(session, frozen_clock, account, at(2026, 10, 5), EntryKind.PAYMENT, 1000_00, "p1")
    post_at(session, frozen_clock, account, at(2026, 10, 6), EntryKind.CHARGE, -200_00, "c1")
    post_at(session, frozen_clock, account, at(2026, 11, 2), EntryKind.CHARGE, -300_00, "c2")
    post_at(session, frozen_clock, account, at(2026, 11, 3), EntryKind.CREDIT, 50_00, "k1")
    post_at(session, frozen_clock, account, at(2026, 11, 4), EntryKind.CORRECTION, -1_00, "x1")
    post_at(session, frozen_clock, account, at(2026, 12, 1), EntryKind.PAYMENT, 100_00, "p2")
    found = history.page(session, account.id, tz=TZ)
    totals = {group.month: group.totals for group in found.groups}
    assert totals[date(2026, 10, 1)] == history.MonthTotals(
        date(2026, 10, 1), paid=1000_00, charged=200_00, other=0, closing=800_00, entries=2
    )
    assert totals[date(2026, 11, 1)] == history.MonthTotals(
        date(2026, 11, 1), paid=0, charged=300_00, other=49_00, closing=549_00, entries=3
    )
    assert totals[date(2026, 12, 1)].closing == 649_00 == account.balance


def test_pages_have_no_gaps_or_repeats_while_new_entries_arrive(session, frozen_clock):
    account = create_subscriber(session).account
    for n in range(25):
        post_at(
            session, frozen_clock, account, at(2026, 11, 1 + n), EntryKind.CHARGE, -1_00, f"c{n}"
        )
    original = {
        e.id for e in session.scalars(sa.select(LedgerEntry).filter_by(account_id=account.id))
    }
    seen, before, arrived = [], None, 0
    while True:
        found = history.page(session, account.id, tz=TZ, size=4, before=before)
        seen += [e.id for line in found.lines for e in line.entries]
        # Money keeps moving while the subscriber scrolls.
        arrived += 1
        post_at(
            session,
            frozen_clock,
            account,
            at(2026, 12, 1, arrived),
            EntryKind.PAYMENT,
            1,
            f"new{arrived}",
        )
        if found.next_before is None:
            break
        before = found.next_before
    assert len(seen) == len(set(seen))
    assert set(seen) == original
    assert seen == sorted(seen, reverse=True)


def test_a_page_takes_the_totals_it_is_given_and_reads_the_rest(session, frozen_clock):
    account = create_subscriber(session).account
    post_at(session, frozen_clock, account, at(2026, 10, 5), EntryKind.PAYMENT, 100_00, "p1")
    post_at(session, frozen_clock, account, at(2026, 11, 5), EntryKind.CHARGE, -30_00, "c1")
    post_at(session, frozen_clock, account, at(2026, 12, 5), EntryKind.CHARGE, -20_00, "c2")
    read = history.page(session, account.id, tz=TZ)
    picture = history.last_months(session, account.id, date(2026, 12, 5), tz=TZ, count=2)
    given = history.page(session, account.id, tz=TZ, known={m.month: m for m in picture})
    assert [m.month for m in picture] == [date(2026, 11, 1), date(2026, 12, 1)]
    assert [g.totals for g in given.groups] == [g.totals for g in read.groups]
    assert given.groups[-1].totals.closing == 100_00  # October's, read for the page


def test_a_page_that_continues_a_month_says_so(session, frozen_clock):
    account = create_subscriber(session).account
    post_at(session, frozen_clock, account, at(2026, 10, 30), EntryKind.PAYMENT, 10_00, "oct")
    for n in range(6):
        post_at(
            session, frozen_clock, account, at(2026, 11, 1 + n), EntryKind.CHARGE, -1_00, f"c{n}"
        )
    first = history.page(session, account.id, tz=TZ, size=4)
    second = history.page(session, account.id, tz=TZ, size=4, before=first.next_before)
    assert [g.continued for g in first.groups] == [False]
    assert [(g.month, g.continued) for g in second.groups] == [
        (date(2026, 11, 1), True),
        (date(2026, 10, 1), False),
    ]
    assert second.groups[0].totals == first.groups[0].totals  # the whole month's


def test_filters_by_period_and_kind(session, frozen_clock):
    account = create_subscriber(session).account
    post_at(session, frozen_clock, account, at(2026, 9, 30, 21, 30), EntryKind.PAYMENT, 9_00, "a")
    post_at(session, frozen_clock, account, at(2026, 10, 15), EntryKind.CHARGE, -2_00, "b")
    post_at(session, frozen_clock, account, at(2026, 10, 31, 20, 59), EntryKind.PAYMENT, 3_00, "c")
    post_at(session, frozen_clock, account, at(2026, 10, 31, 21, 0), EntryKind.PAYMENT, 4_00, "d")
    october = history.bounds(date(2026, 10, 1), date(2026, 10, 31), tz=TZ)
    found = history.page(session, account.id, october, tz=TZ)
    # 21:30 UTC on 30 September is 1 October in Yalta; 21:00 on 31 October is November.
    assert [line.amount for line in found.lines] == [3_00, -2_00, 9_00]
    payments = history.Filters(october.since, october.until, frozenset({EntryKind.PAYMENT}))
    found = history.page(session, account.id, payments, tz=TZ)
    assert [line.amount for line in found.lines] == [3_00, 9_00]
    assert [e.amount for e in history.entries(session, account.id, payments, batch=1)] == [
        3_00,
        9_00,
    ]


def test_named_periods_are_whole_months_up_to_today():
    today = date(2027, 2, 14)
    assert history.period_days("month", today) == (date(2027, 2, 1), today)
    assert history.period_days("3m", today) == (date(2026, 12, 1), today)
    assert history.period_days("12m", today) == (date(2026, 3, 1), today)
    with pytest.raises(InvalidInput):
        history.period_days("week", today)
    with pytest.raises(InvalidInput):
        history.bounds(date(2027, 2, 2), date(2027, 2, 1), tz=TZ)


def test_the_picture_has_no_months_without_entries(session):
    account = create_subscriber(session).account
    assert history.last_months(session, account.id, date(2026, 12, 1), tz=TZ) == []


def test_the_picture_of_a_new_account_has_its_one_month(session, frozen_clock):
    account = create_subscriber(session).account
    post_at(session, frozen_clock, account, at(2026, 12, 1), EntryKind.PAYMENT, 500_00, "p")
    post_at(session, frozen_clock, account, at(2026, 12, 2), EntryKind.CHARGE, -20_00, "c")
    months = history.last_months(session, account.id, date(2026, 12, 2), tz=TZ)
    assert [(m.month, m.paid, m.charged, m.closing) for m in months] == [
        (date(2026, 12, 1), 500_00, 20_00, 480_00)
    ]


def test_the_picture_shows_twelve_months_and_carries_the_balance_over_quiet_ones(
    session, frozen_clock
):
    account = create_subscriber(session).account
    # Fourteen months back, then monthly payments except in March and April 2026.
    post_at(session, frozen_clock, account, at(2025, 10, 10), EntryKind.PAYMENT, 70_00, "old")
    for month in range(1, 13):
        if month not in (3, 4):
            post_at(
                session,
                frozen_clock,
                account,
                at(2026, month, 10),
                EntryKind.PAYMENT,
                10_00,
                f"m{month}",
            )
    months = history.last_months(session, account.id, date(2026, 12, 20), tz=TZ)
    assert [m.month for m in months] == [date(2026, m, 1) for m in range(1, 13)]
    assert [m.paid for m in months] == [10_00, 10_00, 0, 0] + [10_00] * 8
    assert [m.closing for m in months][:5] == [80_00, 90_00, 90_00, 90_00, 100_00]
    assert months[-1].closing == account.balance == 170_00


def test_the_export_reads_a_batch_at_a_time_and_keeps_none_of_it(session, frozen_clock):
    account = create_subscriber(session).account
    for n in range(7):
        post_at(session, frozen_clock, account, at(2026, 11, 1 + n), EntryKind.CHARGE, -1, f"e{n}")
    session.expunge_all()
    read = []
    for entry in history.entries(session, account.id, history.Filters(), batch=3):
        read.append(entry.idempotency_key)
    assert read == [f"e{n}" for n in range(6, -1, -1)]
    assert not [obj for obj in session if isinstance(obj, LedgerEntry)]
