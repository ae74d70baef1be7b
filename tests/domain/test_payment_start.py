"""What the Pay page offers, decided in the domain: the preset sums and the sum filled in."""

import dataclasses
from datetime import date

from portal.domain import billing, promised
from portal.domain.payments import start
from portal.domain.payments.amounts import Limits
from portal.domain.payments.start import PresetKind
from tests.factories import create_payment, create_subscriber, create_tariff, pay

DAY = date(2026, 12, 1)


def account_at(session, *, monthly: int, balance: int = 0):
    tariff = create_tariff(session, price=monthly)
    return create_subscriber(
        session, balance=balance, tariffs=[tariff], start=date(2026, 11, 1)
    ).account


def test_offer_is_recommended_then_monthly_then_round_sums(session):
    account = account_at(session, monthly=310_00, balance=100_00)
    offer = start.offer(session, account, DAY, Limits(), block_threshold=0)
    assert [(p.kind, p.amount) for p in offer.presets] == [
        (PresetKind.RECOMMENDED, 510_00),  # 2..31 December and January, less the balance
        (PresetKind.MONTHLY, 310_00),
        (PresetKind.ROUND, 500_00),
        (PresetKind.ROUND, 1000_00),
        (PresetKind.ROUND, 2000_00),
    ]
    assert offer.suggested == 510_00


def test_a_sum_offered_twice_is_shown_once(session):
    account = account_at(session, monthly=500_00, balance=1_000_00)
    amounts = [
        p.amount for p in start.offer(session, account, DAY, Limits(), block_threshold=0).presets
    ]
    assert amounts.count(500_00) == 1 and len(amounts) == len(set(amounts))


def test_sums_outside_the_limits_are_not_offered_nor_filled_in(session):
    account = account_at(session, monthly=3000_00)
    offer = start.offer(
        session, account, DAY, Limits(minimum=600_00, maximum=1500_00), block_threshold=0
    )
    assert [p.amount for p in offer.presets] == [1000_00]
    assert offer.suggested is None  # the recommended sum is above the largest payment


def test_after_paying_says_the_balance_and_how_long_it_lasts(session):
    account = account_at(session, monthly=310_00, balance=100_00)
    after = start.after_paying(session, account, 310_00, DAY, block_threshold=0)
    assert after.balance == 410_00
    assert after.forecast.days_left == 41


def test_after_paying_counts_the_promised_payment_the_sum_repays(session):
    """A running promise of 300 and 300 paid: its credit goes back with the payment
    (promised.py), so the preview says what is left and how long that lasts, as the
    pages say once it is paid (not 300 more, held off until the promise's last day)."""
    account = account_at(session, monthly=3100_00, balance=150_00)  # 100 a day
    terms = promised.Terms(
        amount=300_00, days=10, fee=10_00, first_day=1, last_day=31, per_month=1, when_days_left=3
    )
    promised.take(session, account.id, DAY, terms, block_threshold=0, actor="test")
    session.refresh(account)
    short = start.after_paying(session, account, 200_00, DAY, block_threshold=0)
    assert short.balance == 640_00  # not covered: the promise runs on
    after = start.after_paying(session, account, 300_00, DAY, block_threshold=0)
    pay(session, create_payment(session, account, amount=300_00))
    session.refresh(account)
    assert after.balance == account.balance == 440_00
    assert after.forecast == billing.account_forecast(session, account, DAY, block_threshold=0)
    assert after.forecast.runs_out_on == date(2026, 12, 6)


def test_the_description_names_the_contract(session):
    account = account_at(session, monthly=310_00)
    assert start.description(account) == f"Оплата услуг связи, договор {account.contract_number}"


def test_the_pay_page_forecast_counts_a_coming_pause_as_the_home_page_does(session):
    """One days-left rule: the Pay page's forecast (before and after paying) is the
    account's forecast with its pauses, the one the home page shows."""
    from portal.domain import billing, suspension
    from tests.domain.test_suspension import TERMS

    account = account_at(session, monthly=310_00, balance=100_00)  # 10 roubles a day
    terms = dataclasses.replace(TERMS, min_days=1)
    suspension.request(
        session, account.id, date(2026, 12, 3), date(2026, 12, 7), DAY, terms, actor="person:1"
    )
    home = billing.account_forecast(session, account, DAY, block_threshold=0)
    offer = start.offer(session, account, DAY, Limits(), block_threshold=0)
    assert offer.forecast == home
    # 2 December, then 3-7 paused, then 8-15: ten days charged, five paused.
    assert (home.days_left, home.runs_out_on) == (15, date(2026, 12, 17))
    after = start.after_paying(session, account, 310_00, DAY, block_threshold=0)
    assert after.forecast == billing.account_forecast(
        session, account, DAY, block_threshold=0, balance=410_00
    )
    assert after.forecast.days_left == 41 + 5
