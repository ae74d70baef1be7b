"""The promotional price on the web: the confirm page reached from an offer shows the
price, until when, and the regular price after; confirming connects at it; every offer
that cannot be taken is a clear 4xx with nothing written; marketing types the price and
its months (checked), and the promotion's page counts who connected through it."""

import re
from datetime import date

import pytest
import sqlalchemy as sa

from portal.models import AddonStart, AuditEvent, Promotion, StaffRole, Subscription
from tests.conftest import AuthActions, csrf_from
from tests.factories import PASSWORD, create_promotion, create_service, create_staff, create_tariff
from tests.web.test_promo_pages import CONSOLE, GOOD, post, signed_in_staff, subscriber_client

EN = {"Accept-Language": "en"}


@pytest.fixture
def author(session, frozen_clock):
    member = create_staff(session, role=StaffRole.MARKETING)
    session.flush()
    return member


def connect_path(addon, promotion_id) -> str:
    return f"/services/{addon.id}/connect?promotion={promotion_id}"


def held(session, account) -> list[Subscription]:
    return list(
        session.scalars(
            sa.select(Subscription)
            .where(Subscription.account_id == account.id, Subscription.service_id.is_not(None))
            .order_by(Subscription.id)
        )
    )


def test_the_confirm_page_shows_the_price_and_connecting_charges_it(app, session, author):
    addon = create_service(session, name="Антивирус", price=300_00)
    promotion = create_promotion(session, author, addon=addon, promo_price=99_00, promo_months=2)
    session.commit()
    browser, account = subscriber_client(app, session)
    offer = browser.get(f"/promos/{promotion.id}", headers=EN).get_data(as_text=True)
    assert "for 2 months from its start, then at 300" in offer
    page = browser.get(connect_path(addon, promotion.id), headers=EN)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="promo-price">99' in html
    assert 'id="promo-until">24 January 2027' in html
    assert 'id="price">300' in html
    assert f'name="promotion" type="hidden" value="{promotion.id}"' in html
    answer = browser.post(
        f"/services/{addon.id}/connect",
        data={"csrf_token": csrf_from(html), "promotion": str(promotion.id)},
    )
    assert answer.status_code == 303
    (subscription,) = held(session, account)
    assert (subscription.price_override, subscription.price_override_until) == (
        99_00,
        date(2027, 1, 24),
    )
    event = session.scalar(
        sa.select(AuditEvent).where(
            AuditEvent.account_id == account.id, AuditEvent.event == "addon.connected"
        )
    )
    assert event.actor.startswith("person:") and event.data["promotion"] == promotion.id
    services = browser.get("/services/", headers=EN).get_data(as_text=True)
    assert "Promotional price until 24 January 2027, then 300" in services


def test_the_home_page_lists_the_addon_at_its_promotional_price(app, session, author):
    addon = create_service(session, name="Антивирус", price=300_00, starts=AddonStart.TODAY)
    promotion = create_promotion(session, author, addon=addon, promo_price=99_00, promo_months=2)
    session.commit()
    browser, _account = subscriber_client(app, session)
    html = browser.get(connect_path(addon, promotion.id), headers=EN).get_data(as_text=True)
    data = {"csrf_token": csrf_from(html), "promotion": str(promotion.id)}
    assert browser.post(f"/services/{addon.id}/connect", data=data).status_code == 303
    home = browser.get("/", headers=EN).get_data(as_text=True)
    listed = home[home.index('id="plan-title"') :]
    assert re.search(r'<span>Антивирус</span><span class="price">99\sRUB/mo', listed)


def test_offers_that_cannot_be_taken_are_4xx_and_write_nothing(app, session, author):
    addon = create_service(session, price=300_00)
    tariff = create_tariff(session)
    price = {"promo_price": 99_00, "promo_months": 1}
    others = create_promotion(session, author, addon=addon, tariffs=[tariff], **price)
    coming = create_promotion(session, author, addon=addon, starts_on=date(2026, 12, 1), **price)
    other_addon = create_promotion(session, author, addon=create_service(session), **price)
    session.commit()
    browser, account = subscriber_client(app, session)
    token = csrf_from(browser.get(f"/services/{addon.id}/connect").get_data(as_text=True))
    cases = [
        (str(others.id), 404, "There is no such offer for your account."),
        ("999999", 404, "There is no such offer for your account."),
        ("9999999999", 404, "There is no such offer for your account."),
        (str(coming.id), 409, "This offer is not running now"),
        (str(other_addon.id), 409, "This offer is not for this service."),
    ]
    for promotion_id, status, message in cases:
        page = browser.get(connect_path(addon, promotion_id), headers=EN)
        assert page.status_code == status, promotion_id
        assert message in page.get_data(as_text=True)
        assert 'id="promo-price"' not in page.get_data(as_text=True)
        answer = browser.post(
            f"/services/{addon.id}/connect",
            data={"csrf_token": token, "promotion": promotion_id},
            headers=EN,
        )
        assert answer.status_code == status, promotion_id
        assert message in answer.get_data(as_text=True)
    bad = browser.post(
        f"/services/{addon.id}/connect", data={"csrf_token": token, "promotion": "1 OR 1"}
    )
    assert bad.status_code == 400
    assert held(session, account) == []


def test_an_addon_held_already_is_409_through_the_offer(app, session, author):
    addon = create_service(session, price=300_00)
    promotion = create_promotion(session, author, addon=addon, promo_price=0, promo_months=1)
    session.commit()
    browser, account = subscriber_client(app, session)
    path = connect_path(addon, promotion.id)
    token = csrf_from(browser.get(path).get_data(as_text=True))
    data = {"csrf_token": token, "promotion": str(promotion.id)}
    assert browser.post(f"/services/{addon.id}/connect", data=data).status_code == 303
    again = browser.post(f"/services/{addon.id}/connect", data=data, headers=EN)
    assert again.status_code == 409
    assert "You have this service already." in again.get_data(as_text=True)
    assert len(held(session, account)) == 1


def test_an_offer_taken_once_is_409_the_next_time(app, session, author, frozen_clock):
    """Disconnected, then connected again through the offer the next day: refused, the
    page says why, and the add-on is not connected twice at the promotional price."""
    addon = create_service(session, price=300_00, starts=AddonStart.TODAY)
    promotion = create_promotion(session, author, addon=addon, promo_price=0, promo_months=1)
    session.commit()
    browser, account = subscriber_client(app, session)
    path = connect_path(addon, promotion.id)
    token = csrf_from(browser.get(path).get_data(as_text=True))
    data = {"csrf_token": token, "promotion": str(promotion.id)}
    assert browser.post(f"/services/{addon.id}/connect", data=data).status_code == 303
    (first,) = held(session, account)
    off = browser.post(f"/services/connected/{first.id}/disconnect", data={"csrf_token": token})
    assert off.status_code == 303
    frozen_clock.advance(days=1)
    AuthActions(browser).login(account.person.login, PASSWORD)  # the session has lapsed
    page = browser.get(path, headers=EN)
    data["csrf_token"] = csrf_from(page.get_data(as_text=True))
    message = "This offer has been taken on this account already: it is taken once."
    assert page.status_code == 409
    assert message in page.get_data(as_text=True)
    again = browser.post(f"/services/{addon.id}/connect", data=data, headers=EN)
    assert again.status_code == 409
    assert message in again.get_data(as_text=True)
    assert len(held(session, account)) == 1


def test_marketing_types_the_price_and_sees_who_connected(app, client, session, frozen_clock):
    member = signed_in_staff(client, session, StaffRole.MARKETING)
    addon = create_service(session, name="Антивирус", price=300_00)
    session.commit()
    data = GOOD | {"action": str(addon.id), "promo_price": "99,50", "promo_months": "3"}
    answer = post(client, CONSOLE + "new", data, page=CONSOLE + "new")
    assert answer.status_code == 303
    promotion = session.scalar(sa.select(Promotion).where(Promotion.created_by == member.id))
    assert (promotion.promo_price, promotion.promo_months) == (99_50, 3)
    page = client.get(f"{CONSOLE}{promotion.id}").get_data(as_text=True)
    assert 'id="connected">0<' in page
    edit = client.get(f"{CONSOLE}{promotion.id}/edit").get_data(as_text=True)
    assert 'value="99.50"' in edit and 'value="3"' in edit


@pytest.mark.parametrize(
    "change",
    [
        {"promo_price": "-5", "promo_months": "1"},
        {"promo_price": "300.01", "promo_months": "1"},
        {"promo_price": "abc", "promo_months": "1"},
        {"promo_price": "99", "promo_months": "0"},
        {"promo_price": "99", "promo_months": "25"},
        {"promo_price": "99", "promo_months": "1.5"},
        {"promo_price": "99", "promo_months": ""},
        {"promo_price": "", "promo_months": "2"},
        {"promo_price": "99", "promo_months": "2", "action": ""},
    ],
)
def test_a_bad_promotional_price_is_400_and_writes_nothing(client, session, frozen_clock, change):
    member = signed_in_staff(client, session, StaffRole.MARKETING)
    addon = create_service(session, price=300_00)
    session.commit()
    data = GOOD | {"action": str(addon.id)} | change
    answer = post(client, CONSOLE + "new", data, page=CONSOLE + "new")
    assert answer.status_code == 400
    assert 'role="alert"' in answer.get_data(as_text=True)
    mine = sa.select(sa.func.count()).where(Promotion.created_by == member.id)
    assert session.scalar(mine) == 0
