"""The catalogue as an account sees it: one query behind the tariffs, add-ons and home pages."""

from datetime import date

from portal.domain import catalog
from portal.models import Service, Tariff, TariffKind
from tests.factories import create_service, create_subscriber, create_tariff

TODAY = date(2026, 12, 1)


def test_offer_lists_what_the_account_has_today_and_the_public_catalogue(session):
    cheap, dear = create_tariff(session, price=300_00), create_tariff(session, price=900_00)
    tv = create_tariff(session, price=100_00, kind=TariffKind.TV)
    hidden = create_tariff(session, price=50_00)
    hidden.is_public = False
    new = create_subscriber(session, tariffs=[dear, hidden], start=date(2026, 11, 1))

    offer = catalog.offer(session, new.account, Tariff, TODAY)

    assert offer.connected == [dear, hidden]  # an archived tariff still counts as held
    listed = [t for t in offer.catalogue if t in (cheap, dear, tv, hidden)]
    assert listed == [cheap, dear, tv]  # internet first, cheapest first; not the hidden one
    assert dear not in offer.others and cheap in offer.others


def test_an_ended_subscription_is_not_connected(session):
    ip, tv_box = create_service(session, price=150_00), create_service(session, price=90_00)
    new = create_subscriber(session, services=[ip, tv_box], start=date(2026, 11, 1))
    new.account.subscriptions[1].ended_on = date(2026, 11, 30)

    offer = catalog.offer(session, new.account, Service, TODAY)

    assert offer.connected == [ip]
    assert tv_box in offer.others and ip not in offer.others
    now = catalog.connected(new.account, TODAY)
    assert now.addons == [ip] and now.tariffs == [] and len(now.subscriptions) == 1
