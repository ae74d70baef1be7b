"""Voluntary suspensions: the ranges and quotas the terms allow, no monthly charge on
a paused day (the daily fee instead), the status while paused, resume and cancel."""

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from portal.domain import billing, ledger, suspension
from portal.domain.billing import charges
from portal.models import AccountStatus, AuditEvent, EntryKind, LedgerEntry, Suspension
from tests.factories import create_subscriber, create_tariff

TERMS = suspension.Terms(
    min_days=7,
    max_days=30,
    daily_fee=0,
    activation_fee=0,
    year_days=40,
    min_interval_days=10,
    ahead_days=60,
)
TODAY = date(2026, 11, 30)


def subscriber(session, balance=1000_00, price=300_00):
    tariff = create_tariff(session, price=price)  # 10 roubles a day in a 30-day month
    return create_subscriber(
        session, balance=balance, tariffs=[tariff], start=date(2026, 11, 1)
    ).account


def ask(session, account, first, last, today=TODAY, terms=TERMS):
    return suspension.request(session, account.id, first, last, today, terms, actor="person:7")


def run(session, first: date, last: date) -> None:
    day = first
    while day <= last:
        billing.run_day(session, day, block_threshold=0)
        day += timedelta(days=1)


def charged(session, account_id: int) -> list[LedgerEntry]:
    return list(
        session.scalars(
            sa.select(LedgerEntry)
            .where(LedgerEntry.account_id == account_id, LedgerEntry.kind == EntryKind.CHARGE)
            .order_by(LedgerEntry.id)
        )
    )


def test_a_suspension_starting_today_suspends_at_once(session):
    account = subscriber(session)
    paused = ask(session, account, TODAY, TODAY + timedelta(days=9))
    assert account.status is AccountStatus.SUSPENDED
    (event,) = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == suspension.REQUESTED)
    ).all()
    assert event.actor == "person:7"
    assert event.data["after"] == {
        "suspension": {"starts_on": "2026-11-30", "ends_on": "2026-12-09"}
    }
    assert paused.id == event.data["suspension_id"]


def test_paused_days_are_not_charged_and_the_month_adds_up(session):
    account = subscriber(session, price=310_00)
    first, last = date(2026, 12, 10), date(2026, 12, 19)
    ask(session, account, first, last)
    run(session, date(2026, 12, 1), date(2026, 12, 31))
    days = {e.service_date for e in charged(session, account.id)}
    december = {date(2026, 12, d) for d in range(1, 32)}
    assert days == december - {first + timedelta(days=n) for n in range(10)}
    total = -sum(e.amount for e in charged(session, account.id))
    subscriptions = account.subscriptions
    # What is charged is the month's price less the paused days' shares, as the
    # forecast's arithmetic says.
    assert total == 310_00 - 10 * 10_00
    assert total == charges.charged_between(
        subscriptions, date(2026, 12, 1), date(2026, 12, 31), [(first, last)]
    )
    session.refresh(account)
    assert account.status is AccountStatus.ACTIVE
    statuses = [
        (e.event, e.data["day"])
        for e in session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.event.in_([suspension.STARTED, suspension.ENDED]))
            .order_by(AuditEvent.id)
        )
    ]
    assert statuses == [(suspension.STARTED, "2026-12-10"), (suspension.ENDED, "2026-12-20")]
    assert ledger.inconsistent_accounts(session) == []


def test_the_daily_fee_is_charged_instead(session):
    account = subscriber(session, price=310_00)
    terms = suspension.Terms(**{**TERMS.__dict__, "daily_fee": 3_00, "activation_fee": 50_00})
    ask(session, account, date(2026, 12, 3), date(2026, 12, 9), terms=terms)
    run(session, date(2026, 12, 1), date(2026, 12, 10))
    amounts = [e.amount for e in charged(session, account.id)]
    assert amounts == [-50_00] + [-10_00] * 2 + [-3_00] * 7 + [-10_00]
    run(session, date(2026, 12, 5), date(2026, 12, 5))  # charged once
    assert len(charged(session, account.id)) == 11
    assert ledger.inconsistent_accounts(session) == []


def test_resuming_early_releases_the_rest(session):
    account = subscriber(session, price=310_00)
    paused = ask(session, account, date(2026, 12, 1), date(2026, 12, 20))
    run(session, date(2026, 12, 1), date(2026, 12, 4))
    session.refresh(account)
    assert account.status is AccountStatus.SUSPENDED
    suspension.resume(
        session, account.id, paused.id, date(2026, 12, 5), block_threshold=0, actor="person:7"
    )
    assert account.status is AccountStatus.ACTIVE
    assert paused.ends_on == date(2026, 12, 5)
    run(session, date(2026, 12, 5), date(2026, 12, 8))
    assert [e.service_date.day for e in charged(session, account.id)] == [6, 7, 8]
    with pytest.raises(suspension.Refused):  # once
        suspension.resume(
            session, account.id, paused.id, date(2026, 12, 5), block_threshold=0, actor="x"
        )
    # The released days are free for the quota again.
    assert suspension.used_days(suspension.of_account(session, account.id), 2026) == 5
    (event,) = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == suspension.RESUMED)
    ).all()
    assert (event.data["before"], event.data["after"]) == (
        {"ends_on": "2026-12-20"},
        {"ends_on": "2026-12-05"},
    )


@pytest.mark.parametrize("run_first", [False, True], ids=["before the run", "after the run"])
def test_a_resume_stands_whether_the_days_run_comes_before_or_after_it(session, run_first):
    """Resumed on a day of the pause, the services run from then on, whenever the run of
    that day is: the run does not suspend the account again (its day is still a paused
    day: the daily fee, not the monthly prices, whichever came first)."""
    account = subscriber(session, price=310_00)
    terms = suspension.Terms(**{**TERMS.__dict__, "daily_fee": 3_00})
    paused = ask(session, account, date(2026, 12, 1), date(2026, 12, 20), terms=terms)
    day = date(2026, 12, 5)
    run(session, date(2026, 12, 1), day - timedelta(days=1 - run_first))
    suspension.resume(session, account.id, paused.id, day, block_threshold=0, actor="person:7")
    run(session, day, day)
    session.refresh(account)
    assert account.status is AccountStatus.ACTIVE
    on_day = [e.amount for e in charged(session, account.id) if e.service_date == day]
    assert on_day == [-3_00]
    suspended = session.scalars(
        sa.select(AuditEvent.data["day"].as_string()).where(
            AuditEvent.event == suspension.STARTED, AuditEvent.account_id == account.id
        )
    ).all()
    assert suspended == ["2026-12-01"]
    assert ledger.inconsistent_accounts(session) == []


def test_resuming_with_a_debt_blocks(session):
    account = subscriber(session, balance=0)
    paused = ask(session, account, TODAY, TODAY + timedelta(days=9))
    suspension.resume(session, account.id, paused.id, TODAY, block_threshold=1, actor="x")
    assert account.status is AccountStatus.BLOCKED


def test_a_scheduled_one_can_be_cancelled_before_its_start_and_its_fee_comes_back(session):
    account = subscriber(session)
    terms = suspension.Terms(**{**TERMS.__dict__, "activation_fee": 50_00})
    paused = ask(
        session, account, TODAY + timedelta(days=5), TODAY + timedelta(days=12), terms=terms
    )
    session.refresh(account)
    assert account.balance == 950_00
    with pytest.raises(suspension.Refused):
        suspension.resume(session, account.id, paused.id, TODAY, block_threshold=0, actor="x")
    suspension.cancel(session, account.id, paused.id, TODAY, actor="person:7")
    session.refresh(account)
    assert account.balance == 1000_00
    assert suspension.of_account(session, account.id) == []
    assert account.status is AccountStatus.ACTIVE
    assert ledger.inconsistent_accounts(session) == []


def test_a_started_one_cannot_be_cancelled(session):
    account = subscriber(session)
    paused = ask(session, account, TODAY, TODAY + timedelta(days=9))
    with pytest.raises(suspension.Refused) as refused:
        suspension.cancel(session, account.id, paused.id, TODAY, actor="x")
    assert refused.value.reason == "started"


def test_someone_elses_is_not_found(session):
    account, other = subscriber(session), subscriber(session)
    paused = ask(session, account, TODAY, TODAY + timedelta(days=9))
    from portal.domain.errors import NotFound

    with pytest.raises(NotFound):
        suspension.resume(session, other.id, paused.id, TODAY, block_threshold=0, actor="x")


def D(days: int) -> date:
    """The day `days` after TODAY."""
    return TODAY + timedelta(days=days)


@pytest.mark.parametrize(
    ("first", "last", "reason"),
    [
        (D(days=-1), D(days=8), "past"),
        (D(days=5), D(days=4), "order"),
        (D(days=0), D(days=5), "too_short"),
        (D(days=0), D(days=30), "too_long"),
        (D(days=61), D(days=70), "too_far"),
        (D(days=45), D(days=54), "overlap"),
        (D(days=55), D(days=62), "too_soon"),
        (D(days=30), D(days=38), "too_soon"),
    ],
)
def test_ranges_the_terms_refuse(session, first, last, reason):
    account = subscriber(session)
    ask(session, account, D(days=40), D(days=49))
    with pytest.raises(suspension.Refused) as refused:
        ask(session, account, first, last)
    assert refused.value.reason == reason
    assert len(suspension.of_account(session, account.id)) == 1


def test_the_yearly_quota(session):
    account = subscriber(session)
    terms = suspension.Terms(**{**TERMS.__dict__, "ahead_days": 400})
    ask(session, account, date(2027, 1, 1), date(2027, 1, 30), terms=terms)
    with pytest.raises(suspension.Refused) as refused:
        ask(session, account, date(2027, 3, 1), date(2027, 3, 11), terms=terms)
    assert (refused.value.reason, refused.value.detail["left"]) == ("quota", 10)
    ask(session, account, date(2027, 3, 1), date(2027, 3, 10), terms=terms)
    # The year after has its own quota: a range across the new year counts in each.
    with pytest.raises(suspension.Refused) as refused:
        ask(session, account, date(2027, 12, 31), date(2028, 1, 7), terms=terms)
    assert (refused.value.reason, refused.value.detail["year"]) == ("quota", 2027)


def test_a_blocked_account_cannot_pause(session):
    account = subscriber(session, balance=0)
    account.status = AccountStatus.BLOCKED
    session.flush()
    with pytest.raises(suspension.Refused) as refused:
        ask(session, account, TODAY, TODAY + timedelta(days=9))
    assert refused.value.reason == "status"
    assert session.scalar(sa.select(sa.func.count()).select_from(Suspension)) == 0


def test_the_forecast_charges_nothing_while_paused(session):
    account = subscriber(session, balance=100_00, price=300_00)  # 10 days at 10 roubles
    plain = billing.forecast(100_00, account.subscriptions, TODAY, block_threshold=0)
    first, last = date(2026, 12, 3), date(2026, 12, 12)
    paused = billing.forecast(
        100_00, account.subscriptions, TODAY, block_threshold=0, paused=[(first, last)]
    )
    assert paused.days_left == plain.days_left + 10
    with_fee = billing.forecast(
        100_00,
        account.subscriptions,
        TODAY,
        block_threshold=0,
        paused=[(first, last)],
        pause_fee=10_00,
    )
    # The fee takes the balance below zero within the pause (as early as without it),
    # but the run blocks no suspended account: it blocks on the day after the pause.
    assert plain.runs_out_on < last
    assert with_fee.runs_out_on == last + timedelta(days=1)
    assert with_fee.days_left == (last - TODAY).days


@pytest.mark.parametrize("run_first", [True, False], ids=["run before", "run after"])
def test_a_pause_from_today_leaves_today_uncharged_whenever_the_run_is(session, run_first):
    """Today's monthly charge is not kept (given back once if the run had charged it),
    the daily fee is charged once, whether the run is before or after the request."""
    terms = suspension.Terms(**{**TERMS.__dict__, "daily_fee": 5_00})
    account = subscriber(session)  # 10 roubles a day
    if run_first:
        run(session, TODAY, TODAY)
        assert account.balance == 1000_00 - 10_00
    paused = ask(session, account, TODAY, TODAY + timedelta(days=9), terms=terms)
    run(session, TODAY, TODAY + timedelta(days=1))
    billing.run_day(session, TODAY, block_threshold=0)  # again: nothing more
    session.refresh(account)
    today = session.scalars(
        sa.select(LedgerEntry)
        .where(LedgerEntry.account_id == account.id, LedgerEntry.service_date == TODAY)
        .order_by(LedgerEntry.id)
    ).all()
    assert sum(e.amount for e in today) == -5_00
    fees = [e for e in today if e.idempotency_key == suspension.fee_key(paused.id, TODAY)]
    assert [e.amount for e in fees] == [-5_00]
    back = [e for e in today if e.idempotency_key.endswith("today_back")]
    assert [e.amount for e in back] == ([10_00] if run_first else [])
    # Today and tomorrow paused: the fee only.
    assert account.balance == 1000_00 - 2 * 5_00
    assert account.status is AccountStatus.SUSPENDED
    assert ledger.inconsistent_accounts(session) == []


@pytest.mark.parametrize("balance", [60_00, 100_00, 150_00, 300_00])
def test_the_forecast_runs_out_on_the_day_the_run_blocks_across_a_paid_pause(session, balance):
    """A pause whose daily fee takes the balance below the threshold: the run does not
    block a suspended account, so it blocks on the first day after the pause; the
    forecast the home page shows says that day."""
    terms = suspension.Terms(**{**TERMS.__dict__, "daily_fee": 10_00})
    account = subscriber(session, balance=balance, price=310_00)  # 10 roubles a day in December
    ask(session, account, date(2026, 12, 5), date(2026, 12, 20), terms=terms)
    run(session, TODAY, TODAY)
    session.refresh(account)
    forecast = billing.account_forecast(session, account, TODAY, block_threshold=0)
    day = TODAY
    while account.status is not AccountStatus.BLOCKED and day < date(2027, 2, 28):
        day += timedelta(days=1)
        run(session, day, day)
        session.refresh(account)
    assert forecast.runs_out_on == day
    assert forecast.days_left == (day - TODAY).days - 1


@pytest.mark.parametrize(
    ("threshold", "balance", "missing"),
    [(45_00, 100_00, 5_00), (45_00, 110_00, 0), (0, 59_99, 1), (-30_00, 35_00, 0)],
)
def test_the_activation_fee_leaves_the_balance_at_the_block_threshold(
    session, threshold, balance, missing
):
    """As for a tariff change's fee: a fee the balance carries only below the block
    threshold is refused with the missing sum, else the next run would block the account
    for debt and the pause paid for would never start (a blocked account is not paused)."""
    terms = suspension.Terms(**{**TERMS.__dict__, "activation_fee": 60_00})
    account = subscriber(session, balance=balance, price=30_00)  # a rouble a day or so
    first, last = TODAY + timedelta(days=2), TODAY + timedelta(days=9)
    if missing:
        with pytest.raises(suspension.Refused) as refused:
            suspension.request(
                session, account.id, first, last, TODAY, terms, actor="x", block_threshold=threshold
            )
        assert (refused.value.reason, refused.value.detail["missing"]) == ("money", missing)
        assert suspension.of_account(session, account.id) == []
        return
    suspension.request(
        session, account.id, first, last, TODAY, terms, actor="x", block_threshold=threshold
    )
    run_with = lambda day: billing.run_day(session, day, block_threshold=threshold)  # noqa: E731
    for n in range(3):
        run_with(TODAY + timedelta(days=n))
    session.refresh(account)
    assert account.status is AccountStatus.SUSPENDED
