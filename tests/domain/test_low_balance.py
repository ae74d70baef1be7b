"""Low-balance warnings from the daily run: by the forecast's rule, once per occasion (a new
one only after the balance recovered), in the centre and pushed; the set-based
pre-selection never misses an account the forecast would warn."""

import itertools
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from portal import clock
from portal.domain import billing, ledger, promised
from portal.domain.billing import low_balance
from portal.domain.push import subscriptions
from portal.models import (
    Account,
    AccountStatus,
    EntryKind,
    LowBalanceWarning,
    Notification,
    NotificationKind,
    PushDelivery,
    PushSubscription,
    Suspension,
)
from tests.factories import create_service, create_subscriber, create_tariff

TODAY = date(2026, 12, 1)  # December: 31 days, a 600-rouble tariff costs 19.35 or 19.36 a day


def warn(app, session, *, days: int = 3, threshold: int = 0, today: date = TODAY):
    with app.app_context():
        return low_balance.warn(session, today, days=days, block_threshold=threshold)


def warnings_of(session, person_id: int) -> list[Notification]:
    return list(
        session.scalars(
            sa.select(Notification)
            .where(Notification.person_id == person_id)
            .order_by(Notification.id)
        )
    )


def subscriber(session, balance: int, price: int = 600_00):
    return create_subscriber(
        session, balance=balance, tariffs=[create_tariff(session, price=price)]
    )


def move(session, account: Account, amount: int, key: str) -> None:
    kind = EntryKind.PAYMENT if amount > 0 else EntryKind.CORRECTION
    ledger.post(session, account.id, kind, amount, key=key)
    session.flush()


def days_left(session, account: Account, threshold: int = 0) -> int | None:
    session.refresh(account)
    return billing.account_forecast(session, account, TODAY, block_threshold=threshold).days_left


def test_a_balance_that_lasts_three_days_is_warned_once_per_occasion(app, session):
    new = subscriber(session, balance=50_00)
    account, person = new.account, new.person
    assert days_left(session, account) == 2

    warn(app, session)
    [first] = warnings_of(session, person.id)
    assert first.kind == NotificationKind.PAYMENTS
    assert first.url == "pay/"
    assert account.contract_number in first.body and "2" in first.body
    assert session.get(LowBalanceWarning, account.id).days_left == 2

    # Still low the next runs (the same day again, the next day): the same occasion.
    warn(app, session)
    warn(app, session, today=TODAY + timedelta(days=1))
    assert len(warnings_of(session, person.id)) == 1

    # Topped up: the occasion ends, nothing is sent.
    move(session, account, 1000_00, "test:top-up")
    warn(app, session)
    assert session.get(LowBalanceWarning, account.id) is None
    assert len(warnings_of(session, person.id)) == 1

    # Low again: a new occasion, a new warning.
    move(session, account, -1000_00, "test:spent")
    warn(app, session)
    assert len(warnings_of(session, person.id)) == 2


@pytest.mark.parametrize(("days", "warned"), [(2, True), (1, False)])
def test_the_days_are_the_setting_and_the_forecast_decides(app, session, days, warned):
    new = subscriber(session, balance=50_00)
    assert days_left(session, new.account) == 2
    warn(app, session, days=days)
    assert len(warnings_of(session, new.person.id)) == int(warned)


def test_a_balance_that_lasts_longer_is_not_warned(app, session):
    new = subscriber(session, balance=100_00)
    assert days_left(session, new.account) == 5
    warn(app, session)
    assert warnings_of(session, new.person.id) == []
    assert session.get(LowBalanceWarning, new.account.id) is None


def test_a_balance_that_has_run_out_says_so(app, session):
    new = subscriber(session, balance=-10_00)
    warn(app, session)
    [warning] = warnings_of(session, new.person.id)
    assert warning.title == "Средства на счёте закончились"
    assert "пополните" in warning.body.lower()


def test_the_warning_speaks_the_persons_language(app, session):
    new = subscriber(session, balance=50_00)
    new.person.locale = "en"
    warn(app, session)
    [warning] = warnings_of(session, new.person.id)
    assert warning.title == "Low balance"
    assert warning.body.startswith(
        f"The balance of account {new.account.contract_number} will last 2 more days: "
        "the services stop on 4 December."
    )
    assert "Top up with 1," in warning.body  # the recommended top-up


def test_a_providers_block_is_not_warned(app, session):
    new = subscriber(session, balance=10_00)
    new.account.status = AccountStatus.BLOCKED_BY_PROVIDER
    session.flush()
    warn(app, session)
    assert warnings_of(session, new.person.id) == []


def test_two_runs_at_once_warn_once(app, session):
    """The occasion's key decides, not a look-up: a row already there is no new one."""
    new = subscriber(session, balance=50_00)
    session.add(LowBalanceWarning(account_id=new.account.id, warned_on=TODAY, days_left=2))
    session.flush()
    warn(app, session)
    assert warnings_of(session, new.person.id) == []
    assert session.get(LowBalanceWarning, new.account.id) is not None


def test_the_warning_is_pushed_after_the_commit(app, session, monkeypatch):
    sent = []
    monkeypatch.setattr(
        "portal.domain.notifications.jobs.enqueue_after_commit",
        lambda db, job, *args: sent.append((job, args)),
    )
    new = subscriber(session, balance=50_00)
    device(session, new.person.id, "new")
    deviceless = subscriber(session, balance=50_00)
    warn(app, session)
    [warning] = warnings_of(session, new.person.id)
    [unpushed] = warnings_of(session, deviceless.person.id)
    assert ("portal.domain.push.sending:send_job", (warning.id,)) in sent
    # No device, nothing to push: no job (the daily pass warns thousands, most with none).
    assert ("portal.domain.push.sending:send_job", (unpushed.id,)) not in sent


def test_the_preselection_holds_every_account_the_forecast_warns(app, session):
    """The SQL bound is only a filter: across prices, balances, thresholds, month ends,
    pauses with a fee and promised payments, every account whose forecast says `days`
    or fewer is among the candidates (and the well-funded ones are not)."""
    accounts = []
    cases = itertools.product(
        [1, 30_00, 600_00, 3100_00],  # monthly prices
        [-500_00, 0, 5_00, 60_00, 200_00, 5000_00],  # balances
    )
    for price, balance in cases:
        accounts.append(subscriber(session, balance=balance, price=price).account)
    paused = subscriber(session, balance=20_00).account
    session.add(
        Suspension(
            account_id=paused.id,
            starts_on=TODAY + timedelta(days=1),
            ends_on=TODAY + timedelta(days=20),
            daily_fee=5_00,
            activation_fee=0,
            created_at=session.get(Account, paused.id).created_at,
        )
    )
    accounts.append(paused)
    with app.app_context():
        terms = promised.Terms.from_config({**app.config, "PORTAL_PROMISED_WHEN_DAYS_LEFT": 99})
        owing = subscriber(session, balance=-50_00).account
        promised.take(session, owing.id, TODAY, terms, block_threshold=0, actor="test")
    accounts.append(owing)
    session.flush()
    for today, days, threshold in [
        (TODAY, 3, 0),
        (date(2026, 11, 29), 5, -100_00),
        (TODAY, 0, 10_00),
    ]:
        found = set(
            session.scalars(low_balance.candidates(today, days=days, block_threshold=threshold))
        )
        for account in accounts:
            session.refresh(account)
            left = billing.account_forecast(
                session, account, today, block_threshold=threshold
            ).days_left
            if left is not None and left <= days:
                assert account.id in found, (account.balance, today, days, threshold)
        rich = [a.id for a in accounts if a.balance >= 5000_00]
        assert not found & set(rich)


def pause(session, account: Account, first: date, last: date, fee: int = 0, **fields) -> None:
    session.add(
        Suspension(
            account_id=account.id,
            starts_on=first,
            ends_on=last,
            daily_fee=fee,
            activation_fee=0,
            created_at=clock.now(),
            **fields,
        )
    )
    session.flush()


def varied_accounts(app, session) -> list[Account]:
    """Accounts whose forecasts differ in every way the pass reads: several
    subscriptions and add-ons (ended, not started yet, at a promotional price), pauses
    (with a fee, over, cancelled), promised payments (running, covered), blocked and
    suspended accounts, balances from debt to plenty."""
    net, tv = create_tariff(session, price=600_00), create_tariff(session, price=250_00)
    addon, cheap = create_service(session, price=150_00), create_service(session, price=31_00)
    accounts = [
        create_subscriber(session, balance=balance, tariffs=[net, tv], services=[addon]).account
        for balance in (-300_00, 0, 10_00, 45_00, 120_00, 900_00, 4000_00)
    ]
    ending = create_subscriber(session, balance=80_00, tariffs=[net], services=[addon, cheap])
    ending.account.subscriptions[1].ended_on = TODAY + timedelta(days=2)
    ending.account.subscriptions[2].started_on = TODAY + timedelta(days=3)
    promo = create_subscriber(session, balance=70_00, tariffs=[net]).account
    promo.subscriptions[0].price_override = 100_00
    promo.subscriptions[0].price_override_until = TODAY + timedelta(days=4)
    paused = create_subscriber(session, balance=60_00, tariffs=[net, tv]).account
    pause(session, paused, TODAY + timedelta(days=2), TODAY + timedelta(days=9), fee=3_00)
    pause(session, paused, TODAY - timedelta(days=20), TODAY - timedelta(days=10), fee=9_00)
    pause(
        session,
        paused,
        TODAY + timedelta(days=1),
        TODAY + timedelta(days=30),
        fee=50_00,
        cancelled_at=clock.now(),
    )
    blocked = create_subscriber(session, balance=-20_00, tariffs=[net]).account
    blocked.status = AccountStatus.BLOCKED
    suspended = create_subscriber(session, balance=30_00, tariffs=[tv]).account
    suspended.status = AccountStatus.SUSPENDED
    pause(session, suspended, TODAY - timedelta(days=3), TODAY + timedelta(days=5), fee=1_00)
    bare = create_subscriber(session, balance=-1_00).account  # no subscription at all
    # A year of the tariff costs less than the balance, but less than the SQL bound too.
    lasting = create_subscriber(session, balance=7500_00, tariffs=[net]).account
    with app.app_context():
        terms = promised.Terms.from_config({**app.config, "PORTAL_PROMISED_WHEN_DAYS_LEFT": 99})
        owing = create_subscriber(session, balance=-50_00, tariffs=[net, tv]).account
        promised.take(session, owing.id, TODAY, terms, block_threshold=0, actor="test")
        covered = create_subscriber(session, balance=-40_00, tariffs=[net]).account
        promised.take(session, covered.id, TODAY, terms, block_threshold=0, actor="test")
    move(session, covered, 600_00, "test:covers-the-promise")
    session.flush()
    accounts += [ending.account, promo, paused, blocked, suspended, bare, lasting, owing, covered]
    for account in accounts:
        session.refresh(account)
    return accounts


@pytest.mark.parametrize(
    ("today", "threshold"),
    [(TODAY, 0), (date(2026, 11, 28), -100_00), (date(2027, 1, 31), 10_00)],
)
def test_the_pass_forecasts_each_account_as_the_pages_do(app, session, today, threshold):
    """The pass reads thousands of accounts at once (rows, not models); each one's
    forecast is still billing.account_forecast's, to the day and the kopeck."""
    accounts = varied_accounts(app, session)
    with app.app_context():
        read = low_balance.outlooks(
            session, today, days=billing.FORECAST_HORIZON_DAYS, block_threshold=threshold
        )
        assert any(outlook.subscriptions is None for outlook in read)  # run out: not read
        found = {outlook.account_id: outlook for outlook in read}
        whole = {o.account_id: o for o in low_balance.with_subscriptions(session, read)}
        kinds = set()
        for account in accounts:
            expected = billing.account_forecast(session, account, today, block_threshold=threshold)
            if account.id not in found:  # no candidate: it lasts longer than the horizon
                assert expected.days_left is None
                continue
            assert whole[account.id].forecast(today, block_threshold=threshold) == expected
            assert found[account.id].lasts(today, block_threshold=threshold) == (
                expected.days_left,
                expected.runs_out_on,
            )
            kinds.add(expected.days_left if expected.days_left in (0, None) else "some")
    assert kinds == {0, None, "some"}  # run out, lasting for ever, and in between


def test_one_pass_warns_each_person_in_their_language(app, session):
    people = []
    for locale in ("en", "ru", None, "en"):
        new = subscriber(session, balance=50_00)
        new.person.locale = locale
        people.append(new)
    session.flush()
    warn(app, session)
    titles = [[w.title for w in warnings_of(session, new.person.id)] for new in people]
    assert titles == [
        ["Low balance"],
        ["Средства заканчиваются"],
        ["Средства заканчиваются"],
        ["Low balance"],
    ]
    for new in people:
        [warning] = warnings_of(session, new.person.id)
        assert new.account.contract_number in warning.body


def device(session, person_id: int, name: str) -> PushSubscription:
    found = PushSubscription(
        person_id=person_id,
        endpoint=f"https://push.example.com/{name}",
        p256dh="key",
        auth="secret",
        created_at=clock.now(),
    )
    session.add(found)
    session.flush()
    return found


def test_the_warning_is_staged_for_each_device_that_wants_it(app, session):
    two = subscriber(session, balance=50_00).person
    devices = {device(session, two.id, "two-a").id, device(session, two.id, "two-b").id}
    refusing = subscriber(session, balance=50_00).person
    device(session, refusing.id, "refusing")
    subscriptions.set_preferences(session, refusing.id, {NotificationKind.VISITS})
    none = subscriber(session, balance=50_00).person
    warn(app, session)

    def staged(person) -> set[int]:
        [warning] = warnings_of(session, person.id)
        return set(
            session.scalars(
                sa.select(PushDelivery.subscription_id).where(
                    PushDelivery.notification_id == warning.id
                )
            )
        )

    assert staged(two) == devices
    assert staged(refusing) == set()
    assert staged(none) == set()


def test_a_pass_that_fails_midway_leaves_every_account_to_the_next(app, session, monkeypatch):
    """Everything is in the caller's transaction: a pass that dies after writing the
    occasions leaves none of them, and the next one warns the same accounts once."""
    new = subscriber(session, balance=50_00)
    session.commit()

    def crash(*args):
        raise RuntimeError("the process died")

    monkeypatch.setattr("portal.domain.push.sending.stage_many", crash)
    with pytest.raises(RuntimeError):
        warn(app, session)
    session.rollback()
    assert session.get(LowBalanceWarning, new.account.id) is None
    assert warnings_of(session, new.person.id) == []

    monkeypatch.undo()
    warn(app, session)
    warn(app, session)
    assert len(warnings_of(session, new.person.id)) == 1


def test_many_accounts_are_read_a_few_thousand_at_a_time(app, session, monkeypatch):
    """The ids go to the database in slices (a statement takes so many): the pass is the
    same whatever the slices."""
    monkeypatch.setattr(low_balance, "_IDS_AT_ONCE", 2)
    low = [subscriber(session, balance=50_00) for _ in range(5)]
    paused = low[0].account
    pause(session, paused, TODAY + timedelta(days=1), TODAY + timedelta(days=1), fee=1_00)
    assert warn(app, session).warned == 5
    for new in low:
        assert len(warnings_of(session, new.person.id)) == 1
    for new in low[1:]:
        move(session, new.account, 1000_00, f"test:top-up:{new.account.id}")
    assert warn(app, session).recovered == 4


def count_statements(app, session, work) -> int:
    statements = []
    connection = session.connection()

    def count(*args):
        statements.append(args[2])

    sa.event.listen(connection, "before_cursor_execute", count)
    try:
        work()
    finally:
        sa.event.remove(connection, "before_cursor_execute", count)
    return len(statements)


def test_a_pass_takes_as_many_statements_for_many_accounts_as_for_few(app, session):
    """Set-based: the statements do not grow with the accounts warned or already warned
    (a pass that writes nothing is reads only)."""
    few = [subscriber(session, balance=50_00) for _ in range(2)]
    device(session, few[0].person.id, "few")
    first = count_statements(app, session, lambda: warn(app, session))
    again = count_statements(app, session, lambda: warn(app, session))
    many = [subscriber(session, balance=50_00) for _ in range(12)]
    device(session, many[0].person.id, "many")
    more = count_statements(app, session, lambda: warn(app, session))
    more_again = count_statements(app, session, lambda: warn(app, session))
    assert all(len(warnings_of(session, new.person.id)) == 1 for new in few + many)
    assert more == first
    assert more_again == again < first
