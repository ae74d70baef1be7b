"""The daily run in the database: what it charges, once, with balances that add up,
the days it catches up, and blocks for debt set and lifted by one rule."""

import calendar
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from bench import billing as bench
from portal.domain import billing, ledger
from portal.domain.billing import charges, debt
from portal.models import Account, AccountStatus, AuditEvent, EntryKind, LedgerEntry
from tests.factories import create_payment, create_service, create_subscriber, create_tariff, pay


def charges_of(session, account_id: int) -> list[LedgerEntry]:
    return list(
        session.scalars(
            sa.select(LedgerEntry)
            .where(LedgerEntry.account_id == account_id, LedgerEntry.kind == EntryKind.CHARGE)
            .order_by(LedgerEntry.id)
        )
    )


def events(session, name: str, account_id: int) -> list[AuditEvent]:
    return list(
        session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.event == name, AuditEvent.account_id == account_id)
            .order_by(AuditEvent.id)
        )
    )


def run(session, first: date, last: date | None = None, *, threshold: int = 0) -> None:
    day = first
    while day <= (last or first):
        billing.run_day(session, day, block_threshold=threshold)
        day += timedelta(days=1)


PRICES = [1, 99, 450_00, 1_000_01, 99_999_99]


@pytest.mark.parametrize(
    ("year", "month"),
    [(2026, 2), (2028, 2), (2100, 2), (2026, 4), (2026, 12)],
    ids=["28 days", "leap 29 days", "2100: 28 days", "30 days", "31 days"],
)
def test_a_months_charges_add_up_to_the_monthly_price(session, year, month):
    tariffs = [create_tariff(session, price=price) for price in PRICES]
    first = date(year, month, 1)
    new = create_subscriber(session, balance=200_000_00, tariffs=tariffs, start=first)
    days = calendar.monthrange(year, month)[1]
    run(session, first, date(year, month, days))
    by_key = {e.idempotency_key: e for e in charges_of(session, new.account.id)}
    for subscription in new.account.subscriptions:
        price = subscription.tariff.monthly_price
        shares = [
            -by_key[key].amount
            if (key := charges.charge_key(subscription.id, day)) in by_key
            else 0
            for day in (date(year, month, d) for d in range(1, days + 1))
        ]
        # The database's shares are Python's, day by day, and add up to the price.
        assert shares == [
            billing.daily_share(price, date(year, month, d)) for d in range(1, days + 1)
        ]
        assert sum(shares) == price
    # A day whose share is 0 kopecks (1 or 99 kopecks a month) is not an entry.
    assert len(by_key) == sum(
        billing.daily_share(price, date(year, month, d)) > 0
        for price in PRICES
        for d in range(1, days + 1)
    )
    assert ledger.inconsistent_accounts(session) == []


def test_a_rerun_charges_nothing_and_says_so(session):
    tariff = create_tariff(session, price=310_00)
    new = create_subscriber(session, balance=100_00, tariffs=[tariff], start=date(2026, 12, 1))
    first = billing.run_day(session, date(2026, 12, 5), block_threshold=0)
    again = billing.run_day(session, date(2026, 12, 5), block_threshold=0)
    assert (first.charges, first.already_run) == (1, False)
    assert (again.charges, again.kopecks, again.already_run) == (0, 0, True)
    session.refresh(new.account)
    assert new.account.balance == 90_00


def test_a_charge_already_in_the_ledger_is_not_charged_again(session):
    """A day charged before its run was recorded (the loop this run replaced): each
    charge's key is looked for, and only what is missing is charged."""
    internet, tv = create_tariff(session, price=310_00), create_tariff(session, price=62_00)
    new = create_subscriber(
        session, balance=100_00, tariffs=[internet, tv], start=date(2026, 12, 1)
    )
    day = date(2026, 12, 5)
    first = new.account.subscriptions[0]
    ledger.post(
        session,
        new.account.id,
        EntryKind.CHARGE,
        -10_00,
        key=charges.charge_key(first.id, day),
        service_date=day,
    )
    result = billing.run_day(session, day, block_threshold=0)
    assert (result.charges, result.kopecks) == (1, 2_00)
    session.refresh(new.account)
    assert new.account.balance == 100_00 - 10_00 - 2_00
    assert ledger.inconsistent_accounts(session) == []


def test_a_charge_keyed_the_old_way_is_found_on_the_first_recorded_day(session):
    """Charges written before the keys put the day first keep their old keys: the first
    recorded day looks for both shapes and charges only what is missing."""
    internet, tv = create_tariff(session, price=310_00), create_tariff(session, price=62_00)
    new = create_subscriber(
        session, balance=100_00, tariffs=[internet, tv], start=date(2026, 12, 1)
    )
    day = date(2026, 12, 5)
    first = new.account.subscriptions[0]
    old_key = charges.old_charge_key(first.id, day)
    assert old_key != charges.charge_key(first.id, day)
    ledger.post(session, new.account.id, EntryKind.CHARGE, -10_00, key=old_key, service_date=day)
    result = billing.run_day(session, day, block_threshold=0)
    assert (result.charges, result.kopecks) == (1, 2_00)
    session.refresh(new.account)
    assert new.account.balance == 100_00 - 10_00 - 2_00
    assert ledger.inconsistent_accounts(session) == []


def test_each_entry_of_a_day_carries_the_balance_after_it(session):
    tariffs = [create_tariff(session, price=310_00), create_tariff(session, price=93_00)]
    addon = create_service(session, price=31_00)
    new = create_subscriber(
        session, balance=50_00, tariffs=tariffs, services=[addon], start=date(2026, 12, 1)
    )
    run(session, date(2026, 12, 1))
    ledger.post(session, new.account.id, EntryKind.PAYMENT, 7_00, key="between-days")
    run(session, date(2026, 12, 2))
    day_two = [e for e in charges_of(session, new.account.id) if e.service_date.day == 2]
    assert [e.amount for e in day_two] == [-10_00, -3_00, -1_00]
    assert [e.balance_after for e in day_two] == [33_00, 30_00, 29_00]
    assert ledger.inconsistent_accounts(session) == []


def test_balance_equals_the_sum_of_entries_for_every_account_after_a_run(session):
    tariff = create_tariff(session, price=450_00)
    addon = create_service(session, price=99_00)
    for n, balance in enumerate([0, 1, 14_00, 15_00, 1000_00, -20_00]):
        create_subscriber(
            session,
            balance=balance,
            tariffs=[tariff],
            services=[addon] * (n % 2),
            start=date(2026, 11, 28),
        )
    run(session, date(2026, 11, 28), date(2026, 12, 3))
    assert ledger.inconsistent_accounts(session) == []


def test_days_to_run_start_after_the_last_charged_day(session):
    day = date(2026, 12, 10)
    assert billing.days_to_run(session, day) == [day]  # a first run: that day only
    run(session, day)
    assert billing.days_to_run(session, day) == []
    assert billing.days_to_run(session, day + timedelta(days=3)) == [
        day + timedelta(days=n) for n in (1, 2, 3)
    ]
    # An earlier day than the last charged one is a day of its own.
    assert billing.days_to_run(session, day - timedelta(days=5)) == [day - timedelta(days=5)]


def test_catching_up_charges_every_missed_day_once(session):
    tariff = create_tariff(session, price=310_00)
    new = create_subscriber(session, balance=100_00, tariffs=[tariff], start=date(2026, 12, 1))
    run(session, date(2026, 12, 1))
    missed = billing.days_to_run(session, date(2026, 12, 4))
    assert missed == [date(2026, 12, d) for d in (2, 3, 4)]
    run(session, missed[0], missed[-1])
    run(session, date(2026, 12, 3))  # a late copy of a day already caught up
    session.refresh(new.account)
    assert new.account.balance == 100_00 - 4 * 10_00
    assert len(charges_of(session, new.account.id)) == 4


@pytest.mark.parametrize(
    ("threshold", "balance", "blocked_after_days"),
    [
        (0, 15_00, 2),
        (0, 10_00, 2),  # at the threshold exactly after a day: not below it
        (-10_00, 5_00, 2),
        (-10_00, -1, 1),
        (100_00, 125_00, 3),
        (100_00, 95_00, 1),
    ],
)
def test_the_run_blocks_below_the_threshold(session, threshold, balance, blocked_after_days):
    tariff = create_tariff(session, price=310_00)  # 10 roubles a day in December
    new = create_subscriber(session, balance=balance, tariffs=[tariff], start=date(2026, 12, 1))
    for n in range(1, 5):
        result = billing.run_day(session, date(2026, 12, n), block_threshold=threshold)
        session.refresh(new.account)
        blocked = new.account.status is AccountStatus.BLOCKED
        assert blocked == (n >= blocked_after_days), n
        assert result.blocked == (n == blocked_after_days)
    left = balance - blocked_after_days * 10_00
    assert new.account.balance == left  # not charged once blocked
    (event,) = events(session, debt.BLOCKED, new.account.id)
    assert event.actor == "billing"
    assert event.data == {
        "balance": left,
        "threshold": threshold,
        "day": date(2026, 12, blocked_after_days).isoformat(),
        "before": {"status": "active"},
        "after": {"status": "blocked"},
    }


def test_the_run_lifts_a_block_the_balance_covers_and_charges_the_account(session):
    """A block the rule no longer holds (the threshold was lowered, money came in some
    other way) is lifted by the next run, which then charges the account."""
    tariff = create_tariff(session, price=310_00)
    new = create_subscriber(session, balance=-5_00, tariffs=[tariff], start=date(2026, 12, 1))
    session.get(Account, new.account.id).status = AccountStatus.BLOCKED
    session.flush()
    result = billing.run_day(session, date(2026, 12, 1), block_threshold=-50_00)
    session.refresh(new.account)
    assert (result.unblocked, result.blocked, result.charges) == (1, 0, 1)
    assert new.account.status is AccountStatus.ACTIVE
    assert new.account.balance == -15_00
    (event,) = events(session, debt.UNBLOCKED, new.account.id)
    assert event.data["balance"] == -5_00 and event.data["after"] == {"status": "active"}


def blocked_subscriber(session, balance: int):
    tariff = create_tariff(session, price=310_00)
    new = create_subscriber(session, balance=balance, tariffs=[tariff], start=date(2026, 12, 1))
    session.get(Account, new.account.id).status = AccountStatus.BLOCKED
    session.flush()
    return new.account


def test_a_payment_lifts_the_block_once_the_balance_is_back_at_the_threshold(session):
    account = blocked_subscriber(session, -50_00)
    pay(session, create_payment(session, account, amount=30_00), block_threshold=-10_00)
    session.refresh(account)
    assert account.status is AccountStatus.BLOCKED  # -20 roubles: still below
    payment = create_payment(session, account, amount=15_00)
    pay(session, payment, block_threshold=-10_00)
    session.refresh(account)
    assert account.status is AccountStatus.ACTIVE and account.balance == -5_00
    (event,) = events(session, debt.UNBLOCKED, account.id)
    assert event.data["payment_id"] == payment.id
    assert event.data["threshold"] == -10_00


def test_a_correction_lifts_the_block_once_the_balance_is_back_at_the_threshold(session):
    account = blocked_subscriber(session, -50_00)
    for amount, key in [(20_00, "first"), (40_00, "second")]:
        ledger.correct(
            session,
            account.id,
            amount,
            reason="Перерасчёт",
            key=key,
            actor="staff:1",
            block_threshold=0,
        )
    session.refresh(account)
    assert account.status is AccountStatus.ACTIVE and account.balance == 10_00
    (event,) = events(session, debt.UNBLOCKED, account.id)
    assert event.actor == "staff:1"
    assert event.data["before"] == {"status": "blocked"}
    assert event.data["balance"] == 10_00


@pytest.mark.parametrize(
    ("threshold", "balance"),
    [(-30_00, -1), (-30_00, 95_00), (0, 0), (0, 200_01), (45_00, 0), (45_00, 95_00)],
)
def test_the_forecast_runs_out_on_the_day_the_run_blocks(session, threshold, balance):
    """What the home page says is what the run does."""
    tariff = create_tariff(session, price=310_00)
    addon = create_service(session, price=155_00)
    new = create_subscriber(
        session, balance=balance, tariffs=[tariff], services=[addon], start=date(2026, 12, 1)
    )
    today = date(2026, 11, 30)
    forecast = billing.forecast(
        balance, new.account.subscriptions, today, block_threshold=threshold
    )
    day = today
    while new.account.status is AccountStatus.ACTIVE and day < date(2027, 1, 31):
        day += timedelta(days=1)
        billing.run_day(session, day, block_threshold=threshold)
        session.refresh(new.account)
    if balance < threshold:  # run out already: the next run blocks it
        assert (forecast.days_left, forecast.runs_out_on) == (0, today)
        assert day == today + timedelta(days=1)
    else:
        assert forecast.runs_out_on == day
        assert forecast.days_left == (day - today).days - 1


def test_the_benchmark_builds_what_it_says(session):
    """bench/billing.py's subscribers: 2 or 3 subscriptions each, paid in through the
    ledger; a month's run charges each running subscription its monthly price."""
    bench.build(session, 60, bench.DAY)
    accounts = list(
        session.scalars(
            sa.select(Account).where(Account.contract_number.like("B%")).order_by(Account.id)
        )
    )
    assert len(accounts) == 60
    assert {len(a.subscriptions) for a in accounts} == {2, 3}
    assert {a.status for a in accounts} >= {AccountStatus.ACTIVE, AccountStatus.BLOCKED}
    assert ledger.inconsistent_accounts(session) == []

    december = [date(2026, 12, d) for d in range(1, 32)]
    expected = {}
    for account in accounts:  # what the run does to each, worked out in Python
        balance, status = account.balance, account.status
        for day in december:
            if status is AccountStatus.BLOCKED and balance >= 0:
                status = AccountStatus.ACTIVE
            if status is AccountStatus.ACTIVE:
                charged = billing.charge_for_day(account.subscriptions, day)
                balance -= charged
                if charged and balance < 0:
                    status = AccountStatus.BLOCKED
        expected[account.id] = (balance, status)
    run(session, december[0], december[-1])
    assert ledger.inconsistent_accounts(session) == []
    whole_months = 0
    for account in accounts:
        session.refresh(account)
        assert (account.balance, account.status) == expected[account.id]
        if account.status is not AccountStatus.ACTIVE:
            continue
        for subscription in account.subscriptions:
            charged = -sum(
                e.amount
                for e in charges_of(session, account.id)
                if e.idempotency_key == charges.charge_key(subscription.id, e.service_date)
            )
            assert charged == billing.charged_between([subscription], december[0], december[-1])
            if subscription.ended_on is None and subscription.started_on <= december[0]:
                assert charged == billing.monthly_price(subscription)
                whole_months += 1
    assert whole_months > 60
