"""Billing runs and payments at the same time, in real transactions on a database of
this module's own: a day is charged once however many runs start for it (two cron
hosts), and a payment that arrives during a run is neither lost nor counted twice.

Each test charges days of its own month, for subscriptions that end with it, so the
tests do not charge each other's accounts. On PostgreSQL each test also waits until
the second transaction is seen waiting for the first one's lock, so the interleaving
is the one named; SQLite has one writer at a time, and the outcome must be the same.
"""

import dataclasses
import itertools
import os
import threading
import time
import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy.orm import Session

from portal.db import make_engine
from portal.domain import addons, billing, imports, ledger, suspension, tariff_change
from portal.domain import subscribers as subscribers_domain
from portal.domain.billing import debt
from portal.domain.billing import run as billing_run
from portal.extensions import db
from portal.models import (
    Account,
    AccountStatus,
    AddonStart,
    AuditEvent,
    BillingDay,
    EntryKind,
    ImportState,
    LedgerEntry,
    Payment,
    SubscriberImport,
    TakesEffect,
)
from tests.conftest import BACKENDS, make_test_app
from tests.factories import (
    create_group,
    create_payment,
    create_service,
    create_staff,
    create_subscriber,
    create_tariff,
    pay,
)

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


def someone_waits_for_a_lock(connection) -> bool:
    """PostgreSQL: whether a transaction of this database waits for a lock now."""
    waiting = connection.scalar(
        sa.text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
    )
    connection.rollback()  # the statistics are read once per transaction
    return bool(waiting)


def wait_until_someone_waits_for_a_lock(engine) -> None:
    """PostgreSQL: until a transaction of this database waits for a lock (SQLite can't
    tell; its writers simply queue)."""
    if engine.dialect.name != "postgresql":
        return
    deadline = time.monotonic() + 60
    with engine.connect() as connection:
        while True:
            if someone_waits_for_a_lock(connection):
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


def wait_until_waiting_or_done(engine, thread: threading.Thread) -> None:
    """PostgreSQL: until `thread` waits for a lock, or has finished without waiting for
    one; SQLite can't tell, so a moment for its writer to reach the write lock."""
    if engine.dialect.name != "postgresql":
        thread.join(0.5)
        return
    deadline = time.monotonic() + 60
    with engine.connect() as connection:
        while thread.is_alive():
            if someone_waits_for_a_lock(connection):
                return
            if time.monotonic() > deadline:
                pytest.fail("the second transaction neither waited nor finished")
            time.sleep(0.01)


def run_paused_at(monkeypatch, engine, day: date, module, step: str, second) -> None:
    """The run of `day`, stopped just after (step ends with "+") or before `step` of
    `module` (patched) until `second` runs in a transaction of its own and either waits
    for a lock or commits; then both finish."""
    after = step.endswith("+")
    name = step.rstrip("+")
    real = getattr(module, name)
    paused, go = threading.Event(), threading.Event()
    errors = []

    def pausing(*args, **kwargs):
        if not after:
            paused.set()
            go.wait()
        result = real(*args, **kwargs)
        if after:
            paused.set()
            go.wait()
        return result

    monkeypatch.setattr(module, name, pausing)

    def run() -> None:
        with Session(engine) as session:
            billing.run_day(session, day, block_threshold=0, actor="cron")
            session.commit()

    def other() -> None:
        with Session(engine) as session:
            second(session)
            session.commit()

    running = in_thread(run, errors)
    wait_for_the_pause(paused, running, errors)
    later = in_thread(other, errors)
    wait_until_waiting_or_done(engine, later)
    go.set()
    running.join()
    later.join()
    monkeypatch.setattr(module, name, real)
    assert errors == []


def wait_for_the_pause(paused: threading.Event, running: threading.Thread, errors: list) -> None:
    """Until the run stops where the test stops it: a run that fails before (or never
    gets there) fails the test instead of hanging it."""
    while not paused.wait(0.1):
        if not running.is_alive():
            pytest.fail(f"the run ended before its pause: {errors}")


def net_on(session, account_id: int, day: date) -> int:
    """What the account was charged for `day`, less what was given back for it."""
    return int(
        session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0)).where(
                LedgerEntry.account_id == account_id,
                LedgerEntry.service_date == day,
                LedgerEntry.kind.in_([EntryKind.CHARGE, EntryKind.CREDIT]),
            )
        )
    )


PAUSE = suspension.Terms(
    min_days=1,
    max_days=90,
    daily_fee=3_00,
    activation_fee=0,
    year_days=90,
    min_interval_days=0,
    ahead_days=30,
)
FREE = dataclasses.replace(PAUSE, daily_fee=0)


@pytest.mark.parametrize("action", ["tariff", "pause", "addon"])
def test_a_change_of_today_made_while_todays_run_is_charging_counts_today_once(
    engine, monkeypatch, action
):
    """A tariff change, a pause or an add-on from today, made while the run of today is
    charging (it has read what to charge and not yet moved the balances): the day is
    charged as it is after the change, whichever commits first — the new tariff, the
    pause's fee, the add-on's share — never the old tariff, nor nothing."""
    day = {"tariff": date(2033, 2, 10), "pause": date(2033, 3, 10), "addon": date(2033, 4, 10)}[
        action
    ]
    with Session(engine) as setup:
        group = create_group(setup)
        base = create_tariff(setup, price=PRICE, group=group, takes_effect=TakesEffect.TODAY)
        fast = create_tariff(setup, price=2 * PRICE, group=group, takes_effect=TakesEffect.TODAY)
        tv = create_service(setup, price=PRICE // 2, starts=AddonStart.TODAY)
        new = create_subscriber(setup, balance=1000_00, tariffs=[base], start=day.replace(day=1))
        account_id, person_id, tv_id, fast_id = new.account.id, new.person.id, tv.id, fast.id
        setup.commit()

    def act(session) -> None:
        if action == "tariff":
            tariff_change.change(
                session, account_id, fast_id, day,
                person_id=person_id, form_key=uuid.uuid4().hex, block_threshold=0,
            )  # fmt: skip
        elif action == "pause":
            suspension.request(
                session, account_id, day, day + timedelta(days=3), day, PAUSE,
                actor=f"person:{person_id}",
            )  # fmt: skip
        else:
            addons.connect(session, account_id, tv_id, day, person_id=person_id)

    run_paused_at(monkeypatch, engine, day, billing_run, "_move_balances", act)
    expected = {
        "tariff": -billing.daily_share(2 * PRICE, day),
        "pause": -PAUSE.daily_fee,
        "addon": -billing.daily_share(PRICE, day) - billing.daily_share(PRICE // 2, day),
    }[action]
    with Session(engine) as check:
        assert net_on(check, account_id, day) == expected
        assert ledger.inconsistent_accounts(check) == []


@pytest.mark.parametrize("starts", [True, False], ids=["pause starts", "pause ended"])
def test_a_payment_during_a_run_that_expires_the_promise_and_pauses_does_not_deadlock(
    engine, monkeypatch, starts
):
    """The run expires a promise and starts (or ends) the account's pause on one day,
    while a payment to that account is credited: both take the promise's row before the
    account's, so neither waits for the other the other way round."""
    from portal.domain import promised

    day = date(2033, 5, 10) if starts else date(2033, 7, 10)
    terms = promised.Terms(
        amount=100_00, days=3, fee=0, first_day=1, last_day=31, per_month=1, when_days_left=99
    )
    (account_id,) = subscribers(engine, [0], day.replace(day=1))
    with Session(engine) as setup:
        if starts:  # the promise runs to the eve of the pause
            taken_on, first, last = day - timedelta(days=3), day, day + timedelta(days=3)
        else:  # the pause ends on the promise's last day
            taken_on, first, last = day - timedelta(days=3), day - timedelta(days=2), day
            last -= timedelta(days=1)
        promise_id = promised.take(
            setup, account_id, taken_on, terms, block_threshold=0, actor="person:1"
        ).id
        suspension.request(setup, account_id, first, last, taken_on, FREE, actor="person:1")
        payment_id = create_payment(setup, setup.get(Account, account_id), amount=50_00).id
        setup.commit()
    if not starts:
        with Session(engine) as session:  # the pause's days, run before the test's
            for n in (2, 1):
                billing.run_day(session, day - timedelta(days=n), block_threshold=0)
            session.commit()

    run_paused_at(
        monkeypatch,
        engine,
        day,
        suspension,
        "start_and_end+",
        lambda session: pay(session, session.get(Payment, payment_id)),
    )
    with Session(engine) as check:
        back = check.scalars(
            sa.select(LedgerEntry.amount).where(
                LedgerEntry.idempotency_key == promised.back_key(promise_id)
            )
        ).all()
        assert back == [-100_00]
        assert check.get(promised.PromisedPayment, promise_id).state.value == "expired"
        assert ledger.inconsistent_accounts(check) == []


def run_paused_before_status_update(engine, day: date, nth: int, second) -> None:
    """The run of `day`, stopped just before its `nth` statement that sets accounts'
    statuses (1: the pauses that start, 2: those that end; run.py's order) until `second`
    runs in a transaction of its own and either waits for a lock or commits; then both
    finish. At the database's edge, so it stops the run wherever its code reads the
    accounts it changes."""
    paused, go = threading.Event(), threading.Event()
    seen, errors, the_run = [], [], []

    def pausing(conn, cursor, statement, parameters, context, executemany):
        if threading.get_ident() not in the_run:
            return
        if statement.startswith("UPDATE accounts SET status"):
            seen.append(statement)
            if len(seen) == nth:
                paused.set()
                go.wait()

    def run() -> None:
        the_run.append(threading.get_ident())
        with Session(engine) as session:
            billing.run_day(session, day, block_threshold=0, actor="cron")
            session.commit()

    def other() -> None:
        with Session(engine) as session:
            second(session)
            session.commit()

    sa.event.listen(engine, "before_cursor_execute", pausing)
    try:
        running = in_thread(run, errors)
        wait_for_the_pause(paused, running, errors)
        later = in_thread(other, errors)
        wait_until_waiting_or_done(engine, later)
        go.set()
        running.join()
        later.join()
    finally:
        sa.event.remove(engine, "before_cursor_execute", pausing)
    assert errors == []


def status_trail(session, account_id: int) -> list[tuple[str, str]]:
    """The account's status changes as its audit events tell them, oldest first."""
    found = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.account_id == account_id).order_by(AuditEvent.id)
    )
    return [
        (event.data["before"]["status"], event.data["after"]["status"])
        for event in found
        if "status" in event.data.get("after", {})
    ]


def assert_audited_exactly(session, account_id: int) -> None:
    """Each status change of the account has its event and each event its change: the
    events chain, from the account's first status to the one it has."""
    trail = status_trail(session, account_id)
    assert trail, "no status change audited"
    assert trail[0][0] == AccountStatus.ACTIVE.value  # the status a new account has
    for (_before, after), (before, _after) in itertools.pairwise(trail):
        assert after == before, trail
    assert trail[-1][1] == session.get(Account, account_id).status.value, trail


@pytest.mark.parametrize("step", ["start", "end"])
def test_a_status_changed_while_the_run_starts_and_ends_pauses_is_audited_as_changed(engine, step):
    """The provider blocks an account (or lifts its block) while the run starts the
    pauses of the day (or ends them): the run changes the statuses it finds when it
    writes them and audits exactly those, never an event without its change (blocked
    meanwhile, the account is not paused) nor a change without its event (unblocked
    meanwhile, it is)."""
    day = date(2034, 1, 10) if step == "start" else date(2034, 3, 10)
    leaving, entering = subscribers(engine, [100_00, 100_00], day.replace(day=1))
    with Session(engine) as setup:
        if step == "start":  # both asked for a pause from the day
            for account_id in (leaving, entering):
                suspension.request(
                    setup, account_id, day, day + timedelta(days=3), day - timedelta(days=1),
                    FREE, actor="person:1",
                )  # fmt: skip
            subscribers_domain.block(setup, entering, reason="проверка", actor="staff:1")
        else:  # paused up to the day before, suspended at once
            first = day - timedelta(days=2)
            suspension.request(
                setup, leaving, first, day - timedelta(days=1), first, FREE, actor="person:1"
            )
        setup.commit()

    def provider(session) -> None:
        subscribers_domain.block(
            session, leaving, reason="самовольное подключение", actor="staff:1"
        )
        if step == "start":
            subscribers_domain.unblock(
                session, entering, reason="разобрались", actor="staff:1", block_threshold=0
            )

    run_paused_before_status_update(engine, day, 1 if step == "start" else 2, provider)
    with Session(engine) as check:
        assert check.get(Account, leaving).status is AccountStatus.BLOCKED_BY_PROVIDER
        assert_audited_exactly(check, leaving)
        if step == "start":  # suspended or not, as the run found it (SQLite: not)
            assert_audited_exactly(check, entering)


def test_an_import_updating_accounts_while_the_run_charges_them_does_not_deadlock(
    engine, monkeypatch
):
    """An import batch updates existing accounts in the file's order while the run, in
    its own, holds one of them (its pause starts today) and has yet to charge another
    that the batch took first: the batch waits for the run before it takes any account,
    so neither waits for the other the other way round, and both do all their work."""
    day = date(2034, 5, 10)
    paused, charged = subscribers(engine, [100_00, 100_00], day.replace(day=1))
    with Session(engine) as setup:
        suspension.request(
            setup, paused, day, day + timedelta(days=3), day - timedelta(days=1), FREE,
            actor="person:1",
        )  # fmt: skip
        # The file names the charged account first: the batch updates it first.
        lines = ["Договор;ФИО;Телефон;Адрес;Район"] + [
            f"{setup.get(Account, id_).contract_number};Новое Имя;+7 978 600-00-0{n};"
            f"Ялта, ул. Новая, {n};Массандра"
            for n, id_ in enumerate([charged, paused], start=1)
        ]
        batch = imports.check(
            setup,
            imports.read("\r\n".join(lines).encode()),
            staff_id=create_staff(setup).id,
            file_name="billing.csv",
            districts=("Массандра",),
        )
        assert imports.start(setup, batch.id, actor="test")
        setup.commit()
        batch_id = batch.id

    run_paused_at(
        monkeypatch,
        engine,
        day,
        suspension,
        "start_and_end+",
        lambda session: imports.run(session, batch_id, districts=("Массандра",), today=day),
    )
    with Session(engine) as check:
        done = check.get(SubscriberImport, batch_id)
        assert (done.state, done.updated) == (ImportState.DONE, 2)
        assert [check.get(Account, id_).district for id_ in (charged, paused)] == ["Массандра"] * 2
        assert [len(charges_on(check, id_, day)) for id_ in (charged, paused)] == [1, 0]
        assert check.get(Account, paused).status is AccountStatus.SUSPENDED
        assert ledger.inconsistent_accounts(check) == []
