"""Finding a subscriber, the subscriber's card and balance corrections in the console."""

import logging
import re

import pytest
import sqlalchemy as sa

from portal.domain import ledger
from portal.models import Account, AuditEvent, EntryKind, LedgerEntry, SmsMessage, StaffRole
from tests.conftest import AuthActions, csrf_from, places_holding
from tests.factories import PASSWORD, create_staff, create_subscriber
from tests.web.test_staff_console import StaffAuth


def signed_in_staff(client, session, role=StaffRole.OPERATOR):
    member = create_staff(session, role=role)
    session.commit()
    assert StaffAuth(client).login(member.login, member=member).status_code == 303
    return member


@pytest.fixture
def people(session):
    found = {
        "sidorova": create_subscriber(
            session, name="Мария Сидорова", phone="+7 978 111-22-33", contract="550011"
        ),
        "ivanov": create_subscriber(
            session, name="Иван Иванов", phone="+7 978 444-55-66", contract="550012"
        ),
    }
    session.commit()
    return found


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("5500", {"550011", "550012"}),
        ("550011", {"550011"}),
        ("сидоров", {"550011"}),  # any case, Cyrillic included (SQLite too)
        ("СИДОРОВА", {"550011"}),
        ("8 978 444-55-66", {"550012"}),
        ("+79784445566", {"550012"}),
        ("+7 (978) 444-55-66", {"550012"}),
        ("89784445566", {"550012"}),
        ("(978) 444 55 66", {"550012"}),
        ("444-55", {"550012"}),
        ("5566", {"550012"}),
        ("Тестовая", {"550011", "550012"}),  # the address
        ("%", set()),  # a wildcard is a character, not everything
        ("55%", set()),
        ("55_011", set()),
        ("0012", {"550012"}),  # any part of the contract, its last digits too
        ("5" * 500, set()),  # longer than the box takes: cut, never an error
        ("x", set()),  # too short to search
    ],
)
def test_search_finds_by_any_part(client, session, people, query, expected):
    signed_in_staff(client, session)
    page = client.get("/staff/subscribers/", query_string={"q": query}).get_data(as_text=True)
    shown = set(re.findall(r'/staff/subscribers/\d+">(\d+)</a>', page))
    assert shown & {"550011", "550012"} == expected


@pytest.mark.parametrize("query", ["55\x00", "Иван\x00ов", "\x1b[0m"])
def test_a_search_with_characters_that_cannot_be_typed_is_a_400(client, session, people, query):
    signed_in_staff(client, session)
    answer = client.get("/staff/subscribers/", query_string={"q": query})
    assert answer.status_code == 400
    assert "Введены недопустимые символы." in answer.get_data(as_text=True)


def test_search_answers_htmx_with_the_results_only(client, session, people):
    signed_in_staff(client, session)
    answer = client.get(
        "/staff/subscribers/", query_string={"q": "Иванов"}, headers={"HX-Request": "true"}
    )
    html = answer.get_data(as_text=True)
    assert "<html" not in html and "550012" in html


def test_the_card_shows_the_account_its_entries_and_its_audit(client, session, people):
    signed_in_staff(client, session, role=StaffRole.ACCOUNTANT)
    account = people["ivanov"].account
    page = client.get(f"/staff/subscribers/{account.id}").get_data(as_text=True)
    assert "Иван Иванов" in page and "550012" in page and "+7 978 444-55-66" in page
    assert "subscriber.created" in page
    assert 'id="correction-form"' not in page  # an accountant reads only
    assert client.get("/staff/subscribers/999999").status_code == 404


def correction(client, account_id, **fields):
    page = client.get(f"/staff/subscribers/{account_id}").get_data(as_text=True)
    key = re.search(r'name="key" type="hidden" value="([^"]+)"', page).group(1)
    form = {"amount": "150,50", "reason": "Перерасчёт за аварию 12.11", "key": key}
    form.update(fields, csrf_token=csrf_from(page))
    return form


def test_a_correction_is_one_entry_with_its_reason_and_audit(client, session, people):
    member = signed_in_staff(client, session)
    account = people["sidorova"].account
    form = correction(client, account.id)
    first = client.post(f"/staff/subscribers/{account.id}/correction", data=form)
    again = client.post(f"/staff/subscribers/{account.id}/correction", data=form)
    assert first.status_code == again.status_code == 303
    session.expire_all()
    assert session.get(Account, account.id).balance == 150_50
    assert ledger.balance_from_entries(session, account.id) == 150_50
    entries = session.scalars(
        sa.select(LedgerEntry).where(
            LedgerEntry.account_id == account.id, LedgerEntry.kind == EntryKind.CORRECTION
        )
    ).all()
    assert [(e.amount, e.description) for e in entries] == [(150_50, "Перерасчёт за аварию 12.11")]
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.event == "balance.corrected"))
    assert event.actor == f"staff:{member.id}" and event.account_id == account.id
    assert event.data["before"] == {"balance": 0} and event.data["after"] == {"balance": 150_50}

    minus = client.post(
        f"/staff/subscribers/{account.id}/correction",
        data=correction(client, account.id, amount="-50"),
    )
    assert minus.status_code == 303
    session.expire_all()
    assert session.get(Account, account.id).balance == 100_50


def test_a_reason_typed_on_several_lines_is_taken(client, session, people):
    """The reason is a text box: Enter in it is a line break, no character to refuse."""
    signed_in_staff(client, session)
    account = people["sidorova"].account
    form = correction(client, account.id, reason="Авария 12.11\r\nперерасчёт за 3 дня")
    assert client.post(f"/staff/subscribers/{account.id}/correction", data=form).status_code == 303
    session.expire_all()
    assert session.get(Account, account.id).balance == 150_50
    (entry,) = session.scalars(
        sa.select(LedgerEntry).where(LedgerEntry.account_id == account.id)
    ).all()
    assert entry.description == "Авария 12.11\r\nперерасчёт за 3 дня"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"amount": ""}, "Введите сумму."),
        ({"amount": "сто"}, "Введите сумму вида 150 или -150,50."),
        ({"amount": "0"}, "Введите сумму вида 150 или -150,50."),
        ({"amount": "1.234"}, "Введите сумму вида 150 или -150,50."),
        ({"reason": ""}, "Укажите причину исправления."),
        ({"reason": "   "}, "Укажите причину исправления."),
        # One sign at most: "+-150" is no credit of 150, "--150" no debit.
        ({"amount": "--150"}, "Введите сумму вида 150 или -150,50."),
        ({"amount": "+-150"}, "Введите сумму вида 150 или -150,50."),
        ({"amount": "1000000"}, "Введите сумму вида 150 или -150,50."),
        ({"key": "short"}, ""),
    ],
)
def test_a_bad_correction_changes_nothing(client, session, people, fields, message):
    signed_in_staff(client, session)
    account = people["sidorova"].account
    answer = client.post(
        f"/staff/subscribers/{account.id}/correction", data=correction(client, account.id, **fields)
    )
    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)
    session.expire_all()
    assert session.get(Account, account.id).balance == 0


@pytest.mark.parametrize("role", [StaffRole.ACCOUNTANT, StaffRole.DISPATCHER, StaffRole.MARKETING])
def test_only_operators_correct_balances(client, session, people, role):
    signed_in_staff(client, session, role=role)
    account = people["sidorova"].account
    page = client.get("/staff/").get_data(as_text=True)
    answer = client.post(
        f"/staff/subscribers/{account.id}/correction",
        data={"amount": "100", "reason": "x", "key": "k" * 20, "csrf_token": csrf_from(page)},
    )
    assert answer.status_code == 403
    session.expire_all()
    assert session.get(Account, account.id).balance == 0


def test_a_reissued_password_ends_the_old_one_and_its_sessions(
    app, client, session, people, caplog
):
    caplog.set_level(logging.DEBUG)
    member = signed_in_staff(client, session)
    holder = app.test_client()
    old = people["ivanov"]
    assert AuthActions(holder).login(old.person.login, PASSWORD).status_code == 303
    account = old.account
    page = client.get(f"/staff/subscribers/{account.id}").get_data(as_text=True)
    answer = client.post(
        f"/staff/subscribers/{account.id}/password", data={"csrf_token": csrf_from(page)}
    )
    assert answer.status_code == 200 and "no-store" in answer.headers["Cache-Control"]
    sheet = answer.get_data(as_text=True)
    password = re.search(r'<dt>Пароль</dt><dd class="secret">([^<]+)</dd>', sheet).group(1)
    assert holder.get("/").status_code == 302  # the old session is over
    fresh = app.test_client()
    assert AuthActions(fresh).login(old.person.login, PASSWORD).status_code == 401
    assert AuthActions(fresh).login(old.person.login, password).status_code == 303
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.event == "password.reissued"))
    assert event.actor == f"staff:{member.id}" and password not in str(event.data)
    assert event.data["before"] == {"password": "previous"}
    assert event.data["after"] == {"password": "changed"}
    told = session.scalar(
        sa.select(SmsMessage).where(
            SmsMessage.person_id == old.person.id, SmsMessage.purpose == "password_changed"
        )
    )
    assert told is not None and password not in told.body
    # Only the sheet ever held it: not the database (hash, audit, SMS), not the logs.
    assert places_holding(session, password) == [] and password not in caplog.text


@pytest.mark.parametrize("role", [StaffRole.ACCOUNTANT, StaffRole.DISPATCHER])
def test_only_operators_reissue_passwords(client, session, people, role):
    signed_in_staff(client, session, role=role)
    account = people["ivanov"].account
    page = client.get("/staff/").get_data(as_text=True)
    answer = client.post(
        f"/staff/subscribers/{account.id}/password", data={"csrf_token": csrf_from(page)}
    )
    assert answer.status_code == 403
    assert client.post(
        "/staff/subscribers/999999/password", data={"csrf_token": csrf_from(page)}
    ).status_code in (403, 404)


def test_a_reissued_sheet_is_in_the_language_the_subscriber_chose(client, session, people):
    signed_in_staff(client, session)
    holder = people["ivanov"]
    holder.person.locale = "en"
    session.commit()
    account = holder.account
    page = client.get(f"/staff/subscribers/{account.id}").get_data(as_text=True)
    answer = client.post(
        f"/staff/subscribers/{account.id}/password", data={"csrf_token": csrf_from(page)}
    )
    sheet = answer.get_data(as_text=True)
    assert "Install the app on the phone" in sheet and "<dt>Password</dt>" in sheet
    assert "Установите приложение на телефон" not in sheet
    assert "Распечатать" in sheet  # the console stays Russian
