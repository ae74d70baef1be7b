"""Promised payments: taken within the terms, a block lifted at once, repaid by the
payments after it or expired (blocked again), the credit always taken back once."""

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from portal.domain import billing, ledger, promised
from portal.domain.billing import debt
from portal.models import (
    AccountStatus,
    AuditEvent,
    EntryKind,
    LedgerEntry,
    Notification,
    PromisedState,
)
from tests.factories import create_payment, create_subscriber, create_tariff, pay

TERMS = promised.Terms(
    amount=300_00, days=5, fee=10_00, first_day=1, last_day=31, per_month=1, when_days_left=3
)
DAY = date(2026, 12, 5)


def entries(session, account_id: int) -> list[LedgerEntry]:
    return list(
        session.scalars(
            sa.select(LedgerEntry)
            .where(LedgerEntry.account_id == account_id)
            .order_by(LedgerEntry.id)
        )
    )


def run(session, first: date, last: date | None = None, threshold: int = 0) -> None:
    day = first
    while day <= (last or first):
        billing.run_day(session, day, block_threshold=threshold)
        day += timedelta(days=1)


def blocked_subscriber(session, price=310_00):
    """A subscriber at 10 roubles a day (December), blocked for debt on DAY."""
    tariff = create_tariff(session, price=price)
    new = create_subscriber(session, balance=5_00, tariffs=[tariff], start=date(2026, 12, 1))
    run(session, DAY)
    session.refresh(new.account)
    assert new.account.status is AccountStatus.BLOCKED
    return new.account


def take(session, account, day=DAY, terms=TERMS, threshold=0):
    return promised.take(
        session, account.id, day, terms, block_threshold=threshold, actor="person:1"
    )


def test_a_promised_payment_lifts_a_debt_block_at_once(session):
    account = blocked_subscriber(session)
    promise = take(session, account)
    session.refresh(account)
    assert account.status is AccountStatus.ACTIVE
    assert account.balance == -5_00 + 300_00 - 10_00
    assert (promise.state, promise.ends_on) == (PromisedState.OPEN, DAY + timedelta(days=4))
    kinds = [(e.kind, e.amount) for e in entries(session, account.id)[-2:]]
    assert kinds == [(EntryKind.CREDIT, 300_00), (EntryKind.CHARGE, -10_00)]
    (event,) = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == promised.TAKEN)
    ).all()
    assert event.actor == "person:1"
    assert event.data["before"] == {"balance": -5_00, "promised": None}
    assert event.data["after"] == {"balance": 285_00, "promised": "2026-12-09"}
    assert ledger.inconsistent_accounts(session) == []


def test_the_payment_that_covers_it_repays_it_at_once_and_the_credit_goes_back(session):
    account = blocked_subscriber(session)
    promise = take(session, account)
    pay(session, create_payment(session, account, amount=200_00))
    session.refresh(promise)
    assert promise.state is PromisedState.OPEN  # 200 of 300: not yet
    covering = create_payment(session, account, amount=100_00)
    pay(session, covering)
    # Closed in the transaction that credited the payment, before any run.
    session.refresh(promise)
    session.refresh(account)
    assert promise.state is PromisedState.REPAID
    assert promise.closed_on is not None
    back = [e for e in entries(session, account.id) if e.idempotency_key.endswith(":back")]
    assert [(e.kind, e.amount) for e in back] == [(EntryKind.CHARGE, -300_00)]
    assert entries(session, account.id)[-1].idempotency_key == promised.back_key(promise.id)
    # 5 paid, 10 charged, 10 fee, 300 paid: the credit came and went.
    assert account.balance == 5_00 - 10_00 - 10_00 + 300_00
    assert account.status is AccountStatus.ACTIVE
    (closed,) = session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.event == promised.CLOSED, AuditEvent.account_id == account.id
        )
    ).all()
    assert closed.data["payment_id"] == covering.id
    assert closed.data["after"] == {"state": "repaid"}
    assert promised.running(session, account.id) is None
    # The runs after it neither take the credit back again nor close it again.
    run(session, DAY + timedelta(days=1), DAY + timedelta(days=8))
    assert len([e for e in entries(session, account.id) if "back" in e.idempotency_key]) == 1
    assert (
        session.scalar(
            sa.select(sa.func.count()).where(
                AuditEvent.event == promised.CLOSED, AuditEvent.account_id == account.id
            )
        )
        == 1
    )
    assert ledger.inconsistent_accounts(session) == []


def test_a_promise_covered_by_another_way_is_closed_by_the_run(session):
    """A payment entry posted without settle.credit (an import, the demo): the run
    finds the promise covered and closes it."""
    account = blocked_subscriber(session)
    promise = take(session, account)
    ledger.post(session, account.id, EntryKind.PAYMENT, 300_00, key="elsewhere:1")
    run(session, DAY + timedelta(days=1))
    session.refresh(promise)
    assert (promise.state, promise.closed_on) == (PromisedState.REPAID, DAY + timedelta(days=1))
    back = [e for e in entries(session, account.id) if e.idempotency_key.endswith(":back")]
    assert [e.amount for e in back] == [-300_00]
    assert ledger.inconsistent_accounts(session) == []


def test_a_payment_short_of_it_does_not_repay_it(session):
    account = blocked_subscriber(session)
    promise = take(session, account)
    pay(session, create_payment(session, account, amount=299_00))
    run(session, DAY + timedelta(days=1))
    session.refresh(promise)
    assert promise.state is PromisedState.OPEN


def test_expiry_with_the_debt_still_there_blocks_again(session):
    account = blocked_subscriber(session)
    promise = take(session, account)
    # Its five days (5th to 9th) are charged as usual, the block held off.
    run(session, DAY + timedelta(days=1), promise.ends_on)
    session.refresh(account)
    assert account.status is AccountStatus.ACTIVE
    run(session, promise.ends_on + timedelta(days=1))
    session.refresh(promise)
    session.refresh(account)
    assert (promise.state, promise.closed_on) == (PromisedState.EXPIRED, date(2026, 12, 10))
    assert account.status is AccountStatus.BLOCKED
    # 5 paid, 5 days of 10 charged (5th-9th), the fee; the credit came and went; the
    # 10th is charged before the block (the run blocks after charging).
    assert account.balance == 5_00 - 5 * 10_00 - 10_00 - 10_00
    assert ledger.balance_from_entries(session, account.id) == account.balance
    blocks = session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.event == debt.BLOCKED, AuditEvent.account_id == account.id
        )
    ).all()
    assert len(blocks) == 2
    assert ledger.inconsistent_accounts(session) == []


def test_the_run_does_not_block_while_one_runs(session):
    """A large daily charge eats the credit before its last day: still not blocked."""
    account = blocked_subscriber(session, price=3100_00)  # 100 roubles a day
    promise = take(session, account, terms=TERMS)
    run(session, DAY + timedelta(days=1), DAY + timedelta(days=4))
    session.refresh(account)
    assert account.balance < 0
    assert account.status is AccountStatus.ACTIVE
    run(session, promise.ends_on + timedelta(days=1))
    session.refresh(account)
    assert account.status is AccountStatus.BLOCKED
    assert ledger.inconsistent_accounts(session) == []


def test_repeating_a_run_takes_the_credit_back_once(session):
    account = blocked_subscriber(session)
    take(session, account)
    run(session, DAY + timedelta(days=1), DAY + timedelta(days=6))
    billing.run_day(session, DAY + timedelta(days=6), block_threshold=0)
    back = session.scalars(
        sa.select(LedgerEntry).where(LedgerEntry.idempotency_key.like("promised:%:back"))
    ).all()
    assert len(back) == 1
    assert ledger.inconsistent_accounts(session) == []


def refusal_of(session, account, day=DAY, terms=TERMS, threshold=0):
    with pytest.raises(promised.Refused) as refused:
        take(session, account, day, terms, threshold)
    return refused.value


def test_twice_in_a_month_is_refused(session):
    account = blocked_subscriber(session)
    take(session, account)
    assert refusal_of(session, account).reason == "running"
    assert refusal_of(session, account, DAY + timedelta(days=1)).reason == "running"
    pay(session, create_payment(session, account, amount=300_00))
    run(session, DAY + timedelta(days=1))
    assert refusal_of(session, account, DAY + timedelta(days=2)).reason == "month"
    # Next month the month's use is free again.
    later = promised.refusal(session, account, date(2027, 1, 1), TERMS, block_threshold=0)
    assert later is None or later.reason not in ("month", "running")


def test_a_second_one_the_same_day_is_refused_as_such(session):
    """Terms of two a month, the first repaid by a payment the day it was taken and the
    balance short again: one a day, so the page says so rather than offer it (it was
    offered, then refused as "already running until the 9th", though none ran)."""
    account = blocked_subscriber(session, price=3100_00)  # 100 roubles a day
    terms = promised.Terms(**{**TERMS.__dict__, "per_month": 2})
    first = take(session, account, terms=terms)
    pay(session, create_payment(session, account, amount=300_00))
    session.refresh(first)
    assert first.state is PromisedState.REPAID
    session.refresh(account)
    assert promised.refusal(session, account, DAY, terms, block_threshold=0).reason == "today"
    assert refusal_of(session, account, terms=terms).reason == "today"
    assert (
        promised.refusal(session, account, DAY + timedelta(days=1), terms, block_threshold=0)
        is None
    )
    assert ledger.inconsistent_accounts(session) == []


def test_outside_the_allowed_days_is_refused(session):
    account = blocked_subscriber(session)
    terms = promised.Terms(**{**TERMS.__dict__, "first_day": 10, "last_day": 20})
    refused = refusal_of(session, account, terms=terms)
    assert (refused.reason, refused.detail) == ("day", {"first": 10, "last": 20})
    assert entries(session, account.id)[-1].kind is EntryKind.CHARGE  # nothing posted


def test_not_needed_when_the_balance_lasts(session):
    tariff = create_tariff(session, price=310_00)
    new = create_subscriber(session, balance=100_00, tariffs=[tariff], start=date(2026, 12, 1))
    assert refusal_of(session, new.account).reason == "not_needed"
    # Two days left (20 roubles after today's run at 10 a day): offered.
    low = create_subscriber(session, balance=25_00, tariffs=[tariff], start=date(2026, 12, 1))
    assert take(session, low.account).amount == 300_00


def test_a_debt_larger_than_the_amount_is_refused_with_the_missing_sum(session):
    tariff = create_tariff(session, price=310_00)
    new = create_subscriber(session, balance=-400_00, tariffs=[tariff], start=date(2026, 12, 1))
    refused = refusal_of(session, new.account)
    assert (refused.reason, refused.detail) == ("too_little", {"missing": 110_00})
    assert len(entries(session, new.account.id)) == 1  # the opening balance only


def test_a_suspended_or_provider_blocked_account_is_refused(session):
    account = blocked_subscriber(session)
    account.status = AccountStatus.BLOCKED_BY_PROVIDER
    session.flush()
    assert refusal_of(session, account).reason == "status"


def test_the_forecast_runs_out_when_the_credit_goes_back(session):
    """15 roubles at 10 a day and a promised 300 until the 9th: the run blocks on the
    10th, when the credit goes back, not in 30 days."""
    tariff = create_tariff(session, price=310_00)
    new = create_subscriber(session, balance=25_00, tariffs=[tariff], start=date(2026, 12, 1))
    promise = take(session, new.account)
    session.refresh(new.account)
    balance = new.account.balance
    assert balance == 25_00 + 300_00 - 10_00
    plain = billing.forecast(balance, new.account.subscriptions, DAY, block_threshold=0)
    held = billing.forecast(
        balance,
        new.account.subscriptions,
        DAY,
        block_threshold=0,
        credit_back=promised.credit_back(session, promise, DAY),
    )
    assert plain.days_left == 31
    assert (held.days_left, held.runs_out_on) == (4, date(2026, 12, 10))
    # A debt under a running promise has not run out today: the block is held off.
    short = billing.forecast(
        -5_00,
        new.account.subscriptions,
        DAY,
        block_threshold=0,
        credit_back=(date(2026, 12, 10), 300_00),
    )
    assert short.runs_out_on == date(2026, 12, 10)
    pay(session, create_payment(session, new.account, amount=300_00))
    assert promised.credit_back(session, promise, DAY) == (DAY + timedelta(days=1), 300_00)


def test_the_payment_notice_tells_the_balance_left_once_the_credit_goes_back(session):
    """Paying 300 into a 300 promise: the credit goes back in the same transaction, so
    the "payment credited" notice says the balance the subscriber is left with (285),
    not the one between the two entries (585)."""
    account = blocked_subscriber(session)
    take(session, account)
    pay(session, create_payment(session, account, amount=300_00))
    session.refresh(account)
    assert account.balance == 285_00
    notice = session.scalars(
        sa.select(Notification)
        .where(Notification.person_id == account.person_id)
        .order_by(Notification.id.desc())
        .limit(1)
    ).one()
    assert notice.body.endswith(" 285,00\xa0₽."), notice.body
