"""The tariffs and add-ons pages: what the account has, and the rest of the catalogue."""

from datetime import date

import pytest

from portal.models import TariffKind
from tests.factories import PASSWORD, create_service, create_subscriber, create_tariff

EN = {"Accept-Language": "en"}


@pytest.fixture
def held(session, auth):
    internet = create_tariff(session, price=310_00, name="Город")
    faster = create_tariff(session, price=510_00, name="Город Турбо")
    tv = create_tariff(session, price=155_00, name="ТВ Базовый", kind=TariffKind.TV)
    ip = create_service(session, price=31_00, name="Статический IP")
    antivirus = create_service(session, price=99_00, name="Антивирус")
    create_subscriber(
        session, login="catalog", tariffs=[internet], services=[ip], start=date(2026, 1, 1)
    )
    session.commit()
    auth.login("catalog", PASSWORD)
    return internet, faster, tv, ip, antivirus


def test_tariffs_page_groups_by_kind_and_marks_the_accounts_tariff(client, held):
    html = client.get("/tariffs/", headers=EN).get_data(as_text=True)
    internet_part, tv_part = html.split("<h2>Internet</h2>")[1].split("<h2>TV</h2>")
    assert "Город Турбо" in internet_part and "ТВ Базовый" not in internet_part
    assert "ТВ Базовый" in tv_part and "Город" not in tv_part
    mine = internet_part.split("Город</h3>")[1].split("</li>")[0]
    assert "Your tariff" in mine
    assert "Your tariff" not in internet_part.split("Город Турбо</h3>")[1].split("</li>")[0]


def test_addons_page_lists_connected_ones_apart_from_the_others(client, held):
    html = client.get("/services/", headers=EN).get_data(as_text=True)
    connected, available = html.split("<h2>Connected</h2>")[1].split("<h2>Available</h2>")
    assert "Статический IP" in connected and "Антивирус" not in connected
    assert "Антивирус" in available and "Статический IP" not in available
