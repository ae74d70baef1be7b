"""Onboarding at contract signing: the account, and the credentials sheet printed once."""

import logging
import re

import pytest
import sqlalchemy as sa

from portal.models import Account, AuditEvent, Person, StaffRole, TariffKind
from tests.conftest import csrf_from, places_holding
from tests.factories import create_service, create_staff, create_subscriber, create_tariff
from tests.web.test_staff_console import StaffAuth

NEW = "/staff/subscribers/new"


@pytest.fixture
def operator(client, session):
    member = create_staff(session, role=StaffRole.OPERATOR)
    session.commit()
    assert StaffAuth(client).login(member.login).status_code == 303
    return member


@pytest.fixture
def catalogue(session):
    internet = create_tariff(session, price=500_00, name="Домашний 100")
    tv = create_tariff(session, price=250_00, kind=TariffKind.TV, name="ТВ Базовый")
    addon = create_service(session, price=100_00, name="Статический IP")
    session.commit()
    return internet, tv, addon


def contract_form(client, **fields):
    form = {
        "contract": "77001",
        "name": "Мария Петровна Сидорова",
        "phone": "8 (978) 765-43-21",
        "address": "Ялта, ул. Морская, д. 3, кв. 5",
        "district": "Массандра",
        "internet": "",
        "tv": "",
        "csrf_token": csrf_from(client.get(NEW).get_data(as_text=True)),
    }
    form.update(fields)
    return form


def test_onboarding_prints_a_sheet_whose_password_signs_in(
    client, session, operator, catalogue, auth, caplog
):
    internet, tv, addon = catalogue
    caplog.set_level(logging.DEBUG)
    form = contract_form(client, internet=internet.code, tv=tv.code, addons=[addon.code])
    answer = client.post(NEW, data=form)
    assert answer.status_code == 200
    assert "no-store" in answer.headers["Cache-Control"]
    sheet = answer.get_data(as_text=True)
    password = re.search(r'<dt>Пароль</dt><dd class="secret">([^<]+)</dd>', sheet).group(1)
    assert re.search(r'<dt>Логин</dt><dd class="secret">77001</dd>', sheet)
    assert 'src="data:image/svg+xml' in sheet and "<dd>https://portal.test/login</dd>" in sheet
    assert "+7 (978) 00-02-535" in sheet
    assert "Установите приложение на телефон" in sheet and "«Установить приложение»" in sheet

    account = session.scalar(sa.select(Account).where(Account.contract_number == "77001"))
    assert account.district == "Массандра"
    held = {s.tariff_id or s.service_id for s in account.subscriptions}
    assert held == {internet.id, tv.id, addon.id}
    person = session.get(Person, account.person_id)
    assert person.phone == "+79787654321"
    # The password is nowhere in the clear: not the hash, not the audit, not the logs.
    assert password not in person.password_hash
    events = session.scalars(sa.select(AuditEvent).where(AuditEvent.account_id == account.id))
    created = [e for e in events if e.event == "subscriber.created"]
    assert created and created[0].actor == f"staff:{operator.id}"
    assert all(password not in str(e.data) for e in created)
    assert created[0].data["before"] == {}
    assert created[0].data["after"] == {
        "contract": "77001",
        "login": "77001",
        "name": "Мария Петровна Сидорова",
        "phone": "+79787654321",
        "address": "Ялта, ул. Морская, д. 3, кв. 5",
        "district": "Массандра",
        "tariffs": [internet.code, tv.code],
        "services": [addon.code],
    }
    assert password not in caplog.text
    assert places_holding(session, password) == []
    assert "accounts.address" in places_holding(session, "Морская, д. 3")  # the scan sees rows

    client.delete_cookie("portal_staff", path="/staff/")
    assert auth.login("77001", password).status_code == 303
    assert client.get("/").status_code == 200


def test_the_sheet_is_shown_once(client, operator, catalogue):
    client.post(NEW, data=contract_form(client))
    again = client.get(NEW).get_data(as_text=True)
    assert "Пароль</dt>" not in again


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"contract": ""}, "contract", "Укажите номер договора."),
        ({"contract": "бад номер"}, "contract", "Буквы, цифры"),
        # The contract number is the login too: the login's rules, in the reader's words.
        ({"contract": "77/01"}, "contract", "Номер договора служит и логином"),
        ({"contract": "77"}, "contract", "Номер договора служит и логином"),
        ({"phone": "12345"}, "phone", "не похоже на номер мобильного"),
        ({"district": ""}, "district", "Выберите район."),
        ({"district": "Атлантида"}, "district", "Неверный вариант"),
        ({"internet": "no-such-tariff"}, "internet", "Неверный вариант"),
        ({"addons": ["no-such-addon"]}, "addons", "Выберите услуги из списка."),
        ({"name": "x" * 201}, "name", "Слишком много символов"),
        # Spaces alone are no name and no address.
        ({"name": "   "}, "name", "Введите имя абонента."),
        ({"address": "  \t "}, "address", "Введите адрес."),
        ({"address": "Ялта\x00"}, "address", "недопустимые символы"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_written(
    client, session, operator, catalogue, fields, field, message
):
    before = session.scalar(sa.select(sa.func.count(Account.id)))
    answer = client.post(NEW, data=contract_form(client, **fields))
    assert answer.status_code == 400
    assert message.lower() in answer.get_data(as_text=True).lower()
    assert f'id="{field}-error"' in answer.get_data(as_text=True) or field == "addons"
    assert session.scalar(sa.select(sa.func.count(Account.id))) == before


def test_a_taken_contract_is_refused(client, session, operator, catalogue):
    create_subscriber(session, contract="77002")
    session.commit()
    answer = client.post(NEW, data=contract_form(client, contract="77002"))
    assert answer.status_code == 400
    assert "Этот номер договора уже занят." in answer.get_data(as_text=True)


@pytest.mark.parametrize("role", [StaffRole.DISPATCHER, StaffRole.MARKETING, StaffRole.ACCOUNTANT])
def test_only_operators_and_admins_onboard(client, session, role, catalogue):
    member = create_staff(session, role=role)
    session.commit()
    StaffAuth(client).login(member.login)
    assert client.get(NEW).status_code == 403
    assert "Новый абонент" not in client.get("/staff/").get_data(as_text=True)


def test_the_sheet_is_in_the_subscribers_language_whatever_the_consoles(
    client, session, operator, catalogue
):
    # An operator reading the console in English signs up a subscriber, who has chosen
    # no language: the sheet is in the portal's own (Russian); the console stays English.
    page = client.get(NEW, headers={"Accept-Language": "en"}).get_data(as_text=True)
    form = contract_form(client, csrf_token=csrf_from(page))
    answer = client.post(NEW, data=form, headers={"Accept-Language": "en"})
    assert answer.status_code == 200
    sheet = answer.get_data(as_text=True)
    assert "Установите приложение на телефон" in sheet and "<dt>Пароль</dt>" in sheet
    assert "Install the app on the phone" not in sheet
    assert "Print this sheet now" in sheet  # the console's own words, for the operator
