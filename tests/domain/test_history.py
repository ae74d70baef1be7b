"""The history as read: a day's charges as one line, pages never splitting a day."""

from datetime import date

from portal.domain import billing, history, ledger
from portal.models import EntryKind
from tests.factories import create_service, create_subscriber, create_tariff


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
    found = history.page(session, account.id)
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
        found = history.page(session, account.id, size=4, before_id=before)
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
        found = history.page(session, account.id, size=2, before_id=before)
        seen += [e.id for line in found.lines for e in line.entries]
        if found.next_before is None:
            break
        before = found.next_before
    assert credit.entry.id in seen
    assert len(seen) == len(set(seen)) == 1 + 3 + 1 + 3 + 1
