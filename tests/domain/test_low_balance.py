"""Low-balance warnings from the daily run: by the forecast's rule, once per occasion (a new
one only after the balance recovered), in the centre and pushed; the set-based
pre-selection never misses an account the forecast would warn."""

import itertools
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from portal.domain import billing, ledger, promised
from portal.domain.billing import low_balance
from portal.models import (
    Account,
    AccountStatus,
    EntryKind,
    LowBalanceWarning,
    Notification,
    NotificationKind,
    Suspension,
)
from tests.factories import create_subscriber, create_tariff

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
    warn(app, session)
    [warning] = warnings_of(session, new.person.id)
    assert ("portal.domain.push.sending:send_job", (warning.id,)) in sent


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
