"""Billing runs and payments at the same time, in real transactions on a database of
this module's own: a day is charged once however many runs start for it (two cron
hosts), and a payment that arrives during a run is neither lost nor counted twice.

Each test charges days of its own month, for subscriptions that end with it, so the
tests do not charge each other's accounts. On PostgreSQL each test also waits until
the second transaction is seen waiting for the first one's lock, so the interleaving
is the one named; SQLite has one writer at a time, and the outcome must be the same.
"""

import os
import threading
import time
import uuid
from datetime import date

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy.orm import Session

from portal.db import make_engine
from portal.domain import billing, ledger
from portal.domain.billing import debt
from portal.extensions import db
from portal.models import (
    Account,
    AccountStatus,
    AuditEvent,
    BillingDay,
    EntryKind,
    LedgerEntry,
    Payment,
)
from tests.conftest import BACKENDS, make_test_app
from tests.factories import create_payment, create_subscriber, create_tariff, pay

PRICE = 310_00  # 10 roubles a day: each test charges days of a 31-day month


@pytest.fixture(scope="module", params=BACKENDS)
def engine(request, tmp_path_factory):
    """A migrated database of this module's own, whose commits the tests share."""
    admin, name = None, None
    if request.param == "postgres":
        server = os.environ.get("TEST_DATABASE_URL")
        if not server:
            if os.environ.get("CI"):
                pytest.fail("TEST_DATABASE_URL is not set: CI must run the PostgreSQL tests")
            pytest.skip("PostgreSQL tests need TEST_DATABASE_URL")
        name = f"portal_billing_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = (
            sa.engine.make_url(server)
            .set(drivername="postgresql+psycopg", database=name)
            .render_as_string(hide_password=False)
        )
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('billing') / 'runs.db'}"
    app = make_test_app(url, tmp_path_factory.mktemp("instance"))
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        db.engine.dispose()
    engine = make_engine(url)
    yield engine
    engine.dispose()
    if admin is not None:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def subscribers(engine, balances: list[int], month: date) -> list[int]:
    """Committed accounts with one tariff each, charged in `month` only."""
    with Session(engine) as setup:
        tariff = create_tariff(setup, price=PRICE)
        ids = []
        for balance in balances:
            new = create_subscriber(setup, balance=balance, tariffs=[tariff], start=month)
            for subscription in new.account.subscriptions:
                subscription.ended_on = month.replace(day=31)
            ids.append(new.account.id)
        setup.commit()
    return ids


def in_thread(work, errors: list) -> threading.Thread:
    def target():
        try:
            work()
        except Exception as exc:  # pragma: no cover - reported by the test's assert
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def wait_until_someone_waits_for_a_lock(engine) -> None:
    """PostgreSQL: until a transaction of this database waits for a lock (SQLite can't
    tell; its writers simply queue)."""
    if engine.dialect.name != "postgresql":
        return
    deadline = time.monotonic() + 60
    with engine.connect() as connection:
        while True:
            waiting = connection.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            connection.rollback()  # the statistics are read once per transaction
            if waiting:
                return
            if time.monotonic() > deadline:
                pytest.fail("the second transaction never waited for the first")
            time.sleep(0.01)


def run_and_pay(engine, day: date, payment_id: int, *, payment_first: bool) -> None:
    """The run of `day` and the payment's settling in two transactions, the first
    holding its locks until the second is seen waiting for them; both commit."""
    holding, finish = threading.Event(), threading.Event()
    errors = []

    def run() -> None:
        with Session(engine) as session:
            billing.run_day(session, day, block_threshold=0)
            if not payment_first:
                holding.set()
                finish.wait()
            session.commit()

    def paying() -> None:
        with Session(engine) as session:
            pay(session, session.get(Payment, payment_id))
            if payment_first:
                holding.set()
                finish.wait()
            session.commit()

    first = in_thread(paying if payment_first else run, errors)
    holding.wait()
    second = in_thread(run if payment_first else paying, errors)
    wait_until_someone_waits_for_a_lock(engine)
    finish.set()
    first.join()
    second.join()
    assert errors == []


def charges_on(session, account_id: int, day: date) -> list[LedgerEntry]:
    return list(
        session.scalars(
            sa.select(LedgerEntry).where(
                LedgerEntry.account_id == account_id,
                LedgerEntry.kind == EntryKind.CHARGE,
                LedgerEntry.service_date == day,
            )
        )
    )


def test_two_runs_of_a_day_at_once_charge_it_once(engine):
    day = date(2031, 1, 15)
    accounts = subscribers(engine, [100_00, 5_00, 0], day.replace(day=1))
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run() -> None:
        with Session(engine) as session:
            barrier.wait()
            results.append(billing.run_day(session, day, block_threshold=0, actor="cron"))
            session.commit()

    for thread in [in_thread(run, errors), in_thread(run, errors)]:
        thread.join()
    assert errors == []
    assert sorted(r.already_run for r in results) == [False, True]
    with Session(engine) as check:
        for account_id in accounts:
            assert len(charges_on(check, account_id, day)) == 1
        assert ledger.inconsistent_accounts(check) == []
        assert check.get(BillingDay, day).charges == 3


@pytest.mark.parametrize("first_commits", [True, False], ids=["commits", "rolls back"])
def test_a_run_started_during_another_waits_for_it(engine, first_commits):
    """The second run of a day waits for the first: finds the day charged when the first
    commits, charges it itself when the first rolls back."""
    day = date(2031, 3, 10) if first_commits else date(2031, 5, 10)
    (account_id,) = subscribers(engine, [100_00], day.replace(day=1))
    charged, finish = threading.Event(), threading.Event()
    results, errors = {}, []

    def first() -> None:
        with Session(engine) as session:
            results["first"] = billing.run_day(session, day, block_threshold=0, actor="one")
            charged.set()
            finish.wait()
            session.commit() if first_commits else session.rollback()

    def second() -> None:
        with Session(engine) as session:
            results["second"] = billing.run_day(session, day, block_threshold=0, actor="two")
            session.commit()

    one = in_thread(first, errors)
    charged.wait()
    two = in_thread(second, errors)
    wait_until_someone_waits_for_a_lock(engine)
    finish.set()
    one.join()
    two.join()
    assert errors == []
    assert results["first"].charges == 1
    assert results["second"].already_run is first_commits
    with Session(engine) as check:
        assert len(charges_on(check, account_id, day)) == 1
        assert check.get(BillingDay, day).actor == ("one" if first_commits else "two")
        assert ledger.inconsistent_accounts(check) == []


@pytest.mark.parametrize("payment_first", [False, True], ids=["run first", "payment first"])
def test_a_payment_during_a_run_is_neither_lost_nor_counted_twice(engine, payment_first):
    """The run takes each account's row lock when it moves the balance, as a payment
    does: whichever comes second waits, then reads the balance the first left. The
    account the run blocks for debt is unblocked by the payment that covers it."""
    day = date(2031, 7, 5) if payment_first else date(2031, 8, 5)
    poor, other = subscribers(engine, [5_00, 300_00], day.replace(day=1))
    with Session(engine) as setup:
        payment_id = create_payment(setup, setup.get(Account, poor), amount=50_00).id
        setup.commit()
    run_and_pay(engine, day, payment_id, payment_first=payment_first)
    with Session(engine) as check:
        account = check.get(Account, poor)
        assert account.balance == 5_00 - 10_00 + 50_00
        assert account.status is AccountStatus.ACTIVE
        (charge,) = charges_on(check, poor, day)
        # The charge's balance after is the one it met: before or after the payment.
        assert charge.balance_after == (45_00 if payment_first else -5_00)
        blocked = check.scalars(
            sa.select(AuditEvent.event)
            .where(AuditEvent.account_id == poor, AuditEvent.event.like("account.%"))
            .order_by(AuditEvent.id)
        ).all()
        assert blocked == ([] if payment_first else [debt.BLOCKED, debt.UNBLOCKED])
        assert check.get(Account, other).balance == 300_00 - 10_00
        assert ledger.inconsistent_accounts(check) == []


@pytest.mark.parametrize("payment_first", [False, True], ids=["run first", "payment first"])
def test_a_payment_covering_a_promise_the_run_expires_takes_its_credit_back_once(
    engine, payment_first
):
    """The promise's last day has passed and the payment that covers it arrives as the
    run closes it: one of them closes it (the other waits for its row), the credit goes
    back once, one audit event says how it closed."""
    from portal.domain import promised

    day = date(2031, 12, 6) if payment_first else date(2031, 10, 6)
    terms = promised.Terms(
        amount=100_00, days=3, fee=0, first_day=1, last_day=31, per_month=1, when_days_left=99
    )
    (account_id,) = subscribers(engine, [0], day.replace(day=1))
    with Session(engine) as setup:
        taken = promised.take(
            setup, account_id, day.replace(day=3), terms, block_threshold=0, actor="person:1"
        )
        promise_id = taken.id  # its last day is the 5th: the run of the 6th expires it
        payment_id = create_payment(setup, setup.get(Account, account_id), amount=100_00).id
        setup.commit()
    run_and_pay(engine, day, payment_id, payment_first=payment_first)
    with Session(engine) as check:
        back = check.scalars(
            sa.select(LedgerEntry).where(
                LedgerEntry.idempotency_key == promised.back_key(promise_id)
            )
        ).all()
        assert [e.amount for e in back] == [-100_00]
        closed = check.scalars(
            sa.select(AuditEvent).where(
                AuditEvent.account_id == account_id, AuditEvent.event == promised.CLOSED
            )
        ).all()
        state = "repaid" if payment_first else "expired"
        assert [e.data["after"] for e in closed] == [{"state": state}]
        assert check.get(promised.PromisedPayment, promise_id).state.value == state
        assert ledger.inconsistent_accounts(check) == []
