"""Billing arithmetic: daily shares, how long the balance lasts, the recommended top-up."""

import calendar
from datetime import date, timedelta

import pytest

from portal.domain import billing, ledger
from portal.models import AccountStatus, Subscription, Tariff, TariffKind
from tests.factories import create_service, create_subscriber, create_tariff


def sub(price: int, start=date(2026, 1, 1), end=None) -> Subscription:
    """An unsaved subscription: forecasts are pure arithmetic over these."""
    tariff = Tariff(code="x", kind=TariffKind.INTERNET, name="x", monthly_price=price)
    return Subscription(tariff=tariff, started_on=start, ended_on=end)


@pytest.mark.parametrize("price", [0, 1, 99, 450_00, 650_00, 1_000_01, 99_999_99])
@pytest.mark.parametrize(("year", "month"), [(2026, 2), (2028, 2), (2026, 4), (2026, 12)])
def test_daily_shares_add_up_to_the_monthly_price(price, year, month):
    days = calendar.monthrange(year, month)[1]
    shares = [billing.daily_share(price, date(year, month, d)) for d in range(1, days + 1)]
    assert sum(shares) == price
    assert max(shares) - min(shares) <= 1


def test_days_left_counts_whole_days_from_tomorrow():
    # 310 roubles a month in a 31-day month is exactly 10 roubles a day.
    today = date(2026, 12, 1)
    f = billing.forecast(35_00, [sub(310_00)], today, block_threshold=0)
    assert f.daily_charge == 10_00
    assert f.days_left == 3
    assert f.runs_out_on == date(2026, 12, 5)


def test_days_left_across_a_month_end_uses_each_months_share():
    # Jan has 31 days, Feb 28: 3100 ₽/month is 100 ₽ a day in January, ~110.71 in February.
    today = date(2026, 1, 29)
    f = billing.forecast(300_00, [sub(3100_00)], today, block_threshold=0)
    # Jan 30, Jan 31 cost 200 ₽; Feb 1 costs 110.71 ₽ > the 100 ₽ left.
    assert f.days_left == 2
    assert f.runs_out_on == date(2026, 2, 1)


def test_leap_february_end():
    today = date(2028, 2, 27)
    share_28 = billing.daily_share(2900_00, date(2028, 2, 28))
    share_29 = billing.daily_share(2900_00, date(2028, 2, 29))
    f = billing.forecast(share_28 + share_29, [sub(2900_00)], today, block_threshold=0)
    assert f.days_left == 2
    assert f.runs_out_on == date(2028, 3, 1)


def test_zero_balance_runs_out_tomorrow():
    f = billing.forecast(0, [sub(300_00)], date(2026, 11, 24), block_threshold=0)
    assert f.days_left == 0
    assert f.runs_out_on == date(2026, 11, 25)


def test_negative_balance_has_run_out_today():
    f = billing.forecast(-50_00, [sub(300_00)], date(2026, 11, 24), block_threshold=0)
    assert f.days_left == 0
    assert f.runs_out_on == date(2026, 11, 24)


def test_no_charges_means_no_end():
    f = billing.forecast(100_00, [], date(2026, 11, 24), block_threshold=0)
    assert f.daily_charge == 0
    assert f.days_left is None and f.runs_out_on is None
    assert f.recommended_top_up == 0


def test_more_than_a_year_has_no_date():
    f = billing.forecast(100_000_00, [sub(100_00)], date(2026, 11, 24), block_threshold=0)
    assert f.days_left is None and f.runs_out_on is None
    assert f.daily_charge > 0


def test_a_subscription_ending_soon_stops_costing():
    today = date(2026, 11, 24)
    ends = sub(3000_00, end=today + timedelta(days=2))
    f = billing.forecast(1000_00, [ends], today, block_threshold=0)
    assert f.days_left is None  # after two days nothing is charged any more


def test_recommended_top_up_covers_to_the_end_of_next_month_in_whole_roubles():
    today = date(2026, 11, 24)  # Nov 25..30 and all of December
    subs = [sub(300_00), sub(155_50)]
    need = sum(billing.charge_for_day(subs, today + timedelta(days=n)) for n in range(1, 38))
    top_up = billing.recommended_top_up(100_00, subs, today, block_threshold=0)
    assert top_up % 100 == 0
    assert need - 100_00 <= top_up < need - 100_00 + 100
    # and a debt is included in full
    assert billing.recommended_top_up(-40_00, subs, today, block_threshold=0) - top_up in range(
        13_900, 14_100
    )


def test_recommended_top_up_in_december_reaches_end_of_january():
    today = date(2026, 12, 31)
    assert billing.recommended_top_up(0, [sub(310_00)], today, block_threshold=0) == 310_00


def test_run_day_charges_each_running_subscription_once(session):
    internet = create_tariff(session, price=310_00)
    extra = create_service(session, price=31_00)
    new = create_subscriber(
        session, balance=1000_00, tariffs=[internet], services=[extra], start=date(2026, 12, 1)
    )
    day = date(2026, 12, 10)
    first = billing.run_day(session, day, block_threshold=0)
    again = billing.run_day(session, day, block_threshold=0)
    session.refresh(new.account)
    assert new.account.balance == 1000_00 - 10_00 - 1_00
    assert first.kopecks == 11_00 and again.kopecks == 0
    assert ledger.balance_from_entries(session, new.account.id) == new.account.balance


def test_run_day_blocks_an_account_that_goes_into_debt(session):
    internet = create_tariff(session, price=310_00)
    new = create_subscriber(session, balance=5_00, tariffs=[internet], start=date(2026, 12, 1))
    result = billing.run_day(session, date(2026, 12, 2), block_threshold=0)
    session.refresh(new.account)
    assert new.account.balance == -5_00
    assert new.account.status == AccountStatus.BLOCKED
    assert result.blocked == 1
    # a blocked account is not charged further
    billing.run_day(session, date(2026, 12, 3), block_threshold=0)
    session.refresh(new.account)
    assert new.account.balance == -5_00


def test_run_day_skips_days_before_the_start(session):
    internet = create_tariff(session, price=310_00)
    new = create_subscriber(session, balance=100_00, tariffs=[internet], start=date(2026, 12, 5))
    billing.run_day(session, date(2026, 12, 4), block_threshold=0)
    session.refresh(new.account)
    assert new.account.balance == 100_00


def walked_forecast(balance: int, subscriptions, today: date):
    """The forecast walked day by day, as billing charges: what the quick one must equal."""
    remaining = balance
    if balance < 0:
        return 0, today
    for offset in range(billing.FORECAST_HORIZON_DAYS):
        day = today + timedelta(days=1 + offset)
        remaining -= billing.charge_for_day(subscriptions, day)
        if remaining < 0:
            return offset, day
    return None, None


@pytest.mark.parametrize("today", [date(2026, 1, 30), date(2027, 12, 31), date(2028, 2, 28)])
@pytest.mark.parametrize("balance", [-1, 0, 1, 99_99, 1234_56, 8000_00, 40_000_00])
def test_the_forecast_equals_a_walk_day_by_day(today, balance):
    subscriptions = [
        sub(310_00),
        sub(155_50, start=today + timedelta(days=9)),
        sub(999_99, end=today + timedelta(days=40)),
        sub(1, start=today - timedelta(days=3), end=today + timedelta(days=70)),
    ]
    f = billing.forecast(balance, subscriptions, today, block_threshold=0)
    assert (f.days_left, f.runs_out_on) == walked_forecast(balance, subscriptions, today)
    end = date(today.year + (today.month == 12), today.month % 12 + 1, 1)
    end = date(end.year, end.month, calendar.monthrange(end.year, end.month)[1])
    walked = sum(
        billing.charge_for_day(subscriptions, today + timedelta(days=n))
        for n in range(1, (end - today).days + 1)
    )
    assert billing.charged_between(subscriptions, today + timedelta(days=1), end) == walked
