"""The promotional price: the month's arithmetic with a price that changes mid-month (in
Python and in the run, on both backends), the forecast that follows it, connecting
through a promotion's action (recorded, audited) and every way it is refused with
nothing written; marketing's checks on the price and its months."""

import calendar
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from portal.domain import addons, billing, catalog
from portal.domain.errors import InvalidInput, Refused
from portal.domain.promos import promotions
from portal.models import (
    AddonStart,
    AuditEvent,
    PromotionState,
    Service,
    StaffRole,
    Subscription,
)
from tests.domain.test_billing import walked_forecast
from tests.domain.test_billing_run import charges_of, run
from tests.factories import (
    create_promotion,
    create_service,
    create_staff,
    create_subscriber,
    create_tariff,
)

TODAY = date(2026, 11, 24)  # the frozen clock's day in Yalta


def addon_sub(price: int, start: date, *, override=None, until=None, end=None) -> Subscription:
    """An unsaved add-on subscription with a promotional price up to `until`."""
    service = Service(code="x", name="x", monthly_price=price)
    return Subscription(
        service=service,
        started_on=start,
        ended_on=end,
        price_override=override,
        price_override_until=until,
    )


def month_days(year: int, month: int) -> list[date]:
    return [date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]


@pytest.mark.parametrize(("year", "month"), [(2026, 2), (2028, 2), (2026, 4), (2026, 12)])
@pytest.mark.parametrize("until_day", [1, 9, 15, 28])
@pytest.mark.parametrize(("regular", "promo"), [(150_00, 0), (99_99, 1), (1_000_01, 333_33)])
def test_a_price_ending_mid_month_adds_up_to_the_kopeck(year, month, until_day, regular, promo):
    days = month_days(year, month)
    until = date(year, month, until_day)
    s = addon_sub(regular, date(year, month, 1) - timedelta(days=40), override=promo, until=until)
    shares = [billing.charge_for_day([s], day) for day in days]
    n = len(days)
    # The promotional price's shares of days 1..until, the regular's of the rest.
    assert sum(shares) == promo * until_day // n + regular - regular * until_day // n
    assert billing.charged_between([s], days[0], days[-1]) == sum(shares)
    assert shares[:until_day] == [billing.daily_share(promo, d) for d in days[:until_day]]
    assert shares[until_day:] == [billing.daily_share(regular, d) for d in days[until_day:]]


@pytest.mark.parametrize("start_day", [1, 10, 31])
def test_a_price_starting_mid_month_runs_months_on(start_day):
    start = date(2026, 12, start_day)
    until = promotions.months_later(start, 2) - timedelta(days=1)
    s = addon_sub(300_00, start, override=90_00, until=until)
    first, last = date(2026, 12, 1), date(2027, 3, 31)
    walked = sum(
        billing.charge_for_day([s], first + timedelta(days=n))
        for n in range((last - first).days + 1)
    )
    assert billing.charged_between([s], first, last) == walked
    # January is all promotional (whatever day in December it began), March all regular.
    assert billing.charged_between([s], date(2027, 1, 1), date(2027, 1, 31)) == 90_00
    assert billing.charged_between([s], date(2027, 3, 1), date(2027, 3, 31)) == 300_00
    assert billing.monthly_total([s], until) == 90_00
    assert billing.monthly_total([s], until + timedelta(days=1)) == 300_00


def test_months_later_keeps_the_day_or_takes_the_months_last():
    assert promotions.months_later(date(2026, 11, 25), 1) == date(2026, 12, 25)
    assert promotions.months_later(date(2026, 11, 25), 3) == date(2027, 2, 25)
    assert promotions.months_later(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert promotions.months_later(date(2026, 12, 31), 14) == date(2028, 2, 29)


@pytest.mark.parametrize("balance", [0, 50_00, 400_00, 2000_00])
def test_the_forecast_follows_the_promotional_price(balance):
    today = date(2026, 12, 5)
    cheap = addon_sub(600_00, today, override=0, until=date(2026, 12, 20))
    tariff = addon_sub(310_00, date(2026, 1, 1))
    f = billing.forecast(balance, [cheap, tariff], today, block_threshold=0)
    assert (f.days_left, f.runs_out_on) == walked_forecast(balance, [cheap, tariff], today)
    assert f.daily_charge == billing.daily_share(310_00, today + timedelta(days=1))
    # to the end of January: December's promotional days cost nothing
    need = billing.charged_between([cheap, tariff], today + timedelta(days=1), date(2027, 1, 31))
    assert need == (310_00 - 310_00 * 5 // 31) + 310_00 + (600_00 - 600_00 * 20 // 31) + 600_00


def test_the_run_charges_the_promotional_price_then_the_regular(session):
    regular = create_service(session, price=310_00)
    new = create_subscriber(session, balance=5000_00, services=[regular], start=date(2026, 12, 1))
    subscription = new.account.subscriptions[0]
    subscription.price_override, subscription.price_override_until = 62_00, date(2026, 12, 10)
    other = create_subscriber(session, balance=5000_00, services=[regular], start=date(2026, 12, 1))
    session.flush()
    run(session, date(2026, 12, 1), date(2027, 1, 31))
    for account, december in ((new.account, 20_00 + 210_00), (other.account, 310_00)):
        entries = charges_of(session, account.id)
        by_month = {12: 0, 1: 0}
        for entry in entries:
            by_month[entry.service_date.month] -= entry.amount
        assert by_month == {12: december, 1: 310_00}
        assert by_month[12] == billing.charged_between(
            account.subscriptions, date(2026, 12, 1), date(2026, 12, 31)
        )
    # the day the price changes, and the day after
    days = {e.service_date.isoformat(): -e.amount for e in charges_of(session, new.account.id)}
    assert days["2026-12-10"] == 2_00 and days["2026-12-11"] == 10_00


# --- connecting through a promotion ---------------------------------------------------------------


@pytest.fixture
def marketing(session):
    member = create_staff(session, role=StaffRole.MARKETING)
    session.flush()
    return member


def connect_through(session, new, addon, promotion_id):
    """The subscriber `new` connects `addon` through the promotion, today."""
    return addons.connect(
        session, new.account.id, addon.id, TODAY, person_id=new.person.id, promotion_id=promotion_id
    )


def connected_events(session, account_id):
    return list(
        session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.event == addons.CONNECTED, AuditEvent.account_id == account_id)
            .order_by(AuditEvent.id)
        )
    )


def test_connecting_through_the_promotion_records_its_price(session, marketing, frozen_clock):
    addon = create_service(session, price=300_00)
    promotion = create_promotion(session, marketing, addon=addon, promo_price=99_00, promo_months=2)
    new = create_subscriber(session)
    subscription = connect_through(session, new, addon, promotion.id)
    assert subscription.started_on == date(2026, 11, 25)
    assert (subscription.price_override, subscription.price_override_until) == (
        99_00,
        date(2027, 1, 24),
    )
    assert subscription.promotion_id == promotion.id
    (event,) = connected_events(session, new.account.id)
    assert event.data["promotion"] == promotion.id
    assert event.data["price_override"] == 99_00
    assert event.data["price_override_until"] == "2027-01-24"
    assert promotions.connected_through(session, promotion.id) == 1
    # December costs the promotional price, February the regular one.
    held = [subscription]
    assert billing.charged_between(held, date(2026, 12, 1), date(2026, 12, 31)) == 99_00
    assert billing.charged_between(held, date(2027, 2, 1), date(2027, 2, 28)) == 300_00


def test_a_promotion_without_a_price_connects_at_the_catalogues(session, marketing, frozen_clock):
    addon = create_service(session, price=300_00)
    promotion = create_promotion(session, marketing, addon=addon)
    new = create_subscriber(session)
    subscription = connect_through(session, new, addon, promotion.id)
    assert subscription.price_override is None and subscription.promotion_id == promotion.id


def _refused_cases(session, marketing):
    addon = create_service(session, price=300_00)
    other_addon = create_service(session, price=300_00)
    tariff = create_tariff(session)
    price = {"promo_price": 99_00, "promo_months": 1}
    ended = create_promotion(
        session,
        marketing,
        addon=addon,
        starts_on=date(2026, 11, 1),
        ends_on=date(2026, 11, 23),
        publish=False,
        **price,
    )
    ended.state = PromotionState.PUBLISHED  # published while it ran
    coming = create_promotion(session, marketing, addon=addon, starts_on=date(2026, 12, 1), **price)
    others = create_promotion(session, marketing, addon=addon, tariffs=[tariff], **price)
    draft = create_promotion(session, marketing, addon=addon, publish=False, **price)
    withdrawn = create_promotion(session, marketing, addon=addon, **price)
    withdrawn.state = PromotionState.WITHDRAWN
    not_this = create_promotion(session, marketing, addon=other_addon, **price)
    session.flush()
    return addon, [
        (ended.id, "promotion_not_running"),
        (coming.id, "promotion_not_running"),
        (others.id, "promotion_unknown"),
        (draft.id, "promotion_unknown"),
        (withdrawn.id, "promotion_unknown"),
        (not_this.id, "promotion_other_addon"),
        (999_999_999, "promotion_unknown"),
    ]


def test_refused_offers_write_nothing(session, marketing, frozen_clock):
    addon, cases = _refused_cases(session, marketing)
    new = create_subscriber(session)
    for promotion_id, reason in cases:
        with pytest.raises(Refused) as refused, session.begin_nested():
            connect_through(session, new, addon, promotion_id)
        assert refused.value.reason == reason, promotion_id
    session.expire_all()
    assert new.account.subscriptions == []
    assert connected_events(session, new.account.id) == []


def test_an_addon_held_already_is_refused_through_the_promotion(session, marketing, frozen_clock):
    addon = create_service(session, price=300_00)
    promotion = create_promotion(session, marketing, addon=addon, promo_price=0, promo_months=1)
    new = create_subscriber(session, services=[addon])
    with pytest.raises(catalog.AddonRefused):
        connect_through(session, new, addon, promotion.id)
    assert promotions.connected_through(session, promotion.id) == 0


def test_the_promotional_price_is_taken_once_by_an_account(session, marketing, frozen_clock):
    """Disconnected (today its last day) and connected again through the promotion the
    next day, the add-on would have its promotional months over again, and so on for as
    long as the promotion runs: the offer is the account's once."""
    addon = create_service(session, price=300_00, starts=AddonStart.TODAY)
    promotion = create_promotion(session, marketing, addon=addon, promo_price=0, promo_months=1)
    new = create_subscriber(session)
    first = connect_through(session, new, addon, promotion.id)
    addons.disconnect(session, new.account.id, first.id, TODAY, person_id=new.person.id)
    tomorrow = TODAY + timedelta(days=1)
    with pytest.raises(Refused) as refused:
        promotions.promo_price(session, new.account, promotion.id, addon.id, tomorrow, tomorrow)
    assert refused.value.reason == "promotion_taken"
    with pytest.raises(Refused), session.begin_nested():
        addons.connect(
            session,
            new.account.id,
            addon.id,
            tomorrow,
            person_id=new.person.id,
            promotion_id=promotion.id,
        )
    assert promotions.connected_through(session, promotion.id) == 1
    # The add-on itself, at the catalogue's price, is the subscriber's to connect again.
    again = addons.connect(session, new.account.id, addon.id, tomorrow, person_id=new.person.id)
    assert (again.promotion_id, again.price_override) == (None, None)
    # Another account takes the offer as the first did.
    other = create_subscriber(session)
    assert connect_through(session, other, addon, promotion.id).price_override == 0


def test_the_database_keeps_an_account_from_taking_a_promotion_twice(
    session, marketing, frozen_clock
):
    addon = create_service(session, price=300_00, starts=AddonStart.TODAY)
    promotion = create_promotion(session, marketing, addon=addon, promo_price=0, promo_months=1)
    new = create_subscriber(session)
    first = connect_through(session, new, addon, promotion.id)
    first.ended_on = TODAY
    session.flush()
    with pytest.raises(sa.exc.IntegrityError), session.begin_nested():
        session.add(
            Subscription(
                account_id=new.account.id,
                service_id=addon.id,
                started_on=TODAY + timedelta(days=1),
                promotion_id=promotion.id,
            )
        )


# --- marketing's checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "months", "code"),
    [
        (-1, 1, "promo_price"),
        (300_01, 1, "promo_price"),
        (99_00, 0, "promo_months"),
        (99_00, 25, "promo_months"),
        (99_00, None, "promo_incomplete"),
        (None, 3, "promo_incomplete"),
    ],
)
def test_a_promotional_price_is_checked(session, marketing, frozen_clock, price, months, code):
    addon = create_service(session, price=300_00)
    with pytest.raises(InvalidInput) as bad:
        create_promotion(session, marketing, addon=addon, promo_price=price, promo_months=months)
    assert str(bad.value) == code


def test_a_promotional_price_needs_the_action(session, marketing, frozen_clock):
    with pytest.raises(InvalidInput) as bad:
        create_promotion(session, marketing, promo_price=10_00, promo_months=1)
    assert str(bad.value) == "promo_without_action"


def test_the_regular_price_itself_and_free_are_allowed(session, marketing, frozen_clock):
    addon = create_service(session, price=300_00)
    for price in (0, 300_00):
        promotion = create_promotion(
            session, marketing, addon=addon, promo_price=price, promo_months=24
        )
        assert (promotion.promo_price, promotion.promo_months) == (price, 24)
