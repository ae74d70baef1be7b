"""Importing subscribers in the console: the dry run's page, the real run as a job with
its progress polled, the refused rows as CSV, the sheets shown once, and the roles."""

import csv
import io
import logging
import re

import pytest
import sqlalchemy as sa

from portal import jobs
from portal.models import Account, AuditEvent, Person, StaffRole, SubscriberImport
from tests.conftest import csrf_from, places_holding
from tests.domain.test_imports import FORMULA, bad_file, make_world
from tests.factories import create_staff
from tests.web.test_staff_console import StaffAuth

IMPORT = "/staff/subscribers/import/"


@pytest.fixture
def world(session):
    return make_world(session)


@pytest.fixture
def operator(client, world):
    assert StaffAuth(client).login(world["member"].login).status_code == 303
    return world["member"]


def upload(client, data: bytes, name: str = "billing.csv", **headers):
    token = csrf_from(client.get(IMPORT).get_data(as_text=True))
    return client.post(
        IMPORT,
        data={"csrf_token": token, "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
        headers=headers,
    )


def post(client, path: str):
    token = csrf_from(client.get(IMPORT).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token})


def test_the_dry_run_reports_every_row_in_russian_and_writes_no_account(
    client,
    session,
    operator,
    world,
):
    before = session.scalar(sa.select(sa.func.count(Account.id)))
    answer = upload(client, bad_file(world))
    assert answer.status_code == 303
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Пробный прогон" in page
    for reason in (
        "Договор уже есть в строке 2 файла.",
        "не похоже на номер мобильного",
        "Неизвестный тариф «no-such»",
        "Слишком длинно: ФИО.",
        "Символы, которые не читаются, в поле ФИО",
        "Неизвестный район «Атлантида»",
        "Два тарифа одного вида",
        "Логин занят.",
    ):
        assert reason in page, reason
    assert 'id="updated-rows"' in page and "ФИО" in page
    assert session.scalar(sa.select(sa.func.count(Account.id))) == before


def test_the_real_run_is_a_job_whose_progress_the_page_polls(
    app,
    client,
    session,
    operator,
    world,
):
    show = upload(client, bad_file(world)).headers["Location"]
    number = int(show.rstrip("/").rsplit("/", 1)[1])
    assert post(client, f"{show}/run").status_code == 303
    fragment = client.get(show, headers={"HX-Request": "true"})
    polling = fragment.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"] and "<html" not in polling
    assert 'hx-trigger="load delay:1s"' in polling and "<progress" in polling
    # A second click starts nothing more.
    assert post(client, f"{show}/run").status_code == 303
    jobs.drain(app)
    done = client.get(show, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-trigger" not in done and "готово" in done
    batch = session.get(SubscriberImport, number, populate_existing=True)
    assert (batch.created, batch.updated, batch.refused) == (2, 1, 10)
    assert batch.rows_done == batch.rows_total == 16 and batch.finished_at is not None
    started = session.scalar(
        sa.select(AuditEvent).where(AuditEvent.event == "subscribers.import_started")
    )
    assert started.actor == f"staff:{operator.id}"
    assert (started.data["before"], started.data["after"]) == (
        {"state": "checked"},
        {"state": "queued"},
    )
    starts = sa.select(sa.func.count(AuditEvent.id)).where(
        AuditEvent.event == "subscribers.import_started"
    )
    assert session.scalar(starts) == 1
    imported = session.scalar(
        sa.select(AuditEvent).where(AuditEvent.event == "subscribers.imported")
    )
    assert imported.actor == f"staff:{operator.id}"
    assert (imported.data["before"], imported.data["after"]) == (
        {"state": "running"},
        {"state": "done"},
    )
    created = [
        e
        for e in session.scalars(
            sa.select(AuditEvent).where(AuditEvent.event == "subscriber.created")
        )
        if e.data.get("import_id") == number
    ]
    assert len(created) == 2 and all(e.actor == f"staff:{operator.id}" for e in created)
    assert all(e.data["before"] == {} and e.data["after"]["contract"] for e in created)
    assert all("password" not in e.data["after"] for e in created)

    # The same file again: nothing changes.
    people = session.scalar(sa.select(sa.func.count(Person.id)))
    again = upload(client, bad_file(world)).headers["Location"]
    post(client, f"{again}/run")
    jobs.drain(app)
    page = client.get(again).get_data(as_text=True)
    assert re.search(r"<dt>Создано</dt><dd>0</dd>", page)
    assert re.search(r"<dt>Обновлено</dt><dd>0</dd>", page)
    assert session.scalar(sa.select(sa.func.count(Person.id))) == people


def test_the_refused_rows_download_as_csv_without_live_formulas(
    client,
    operator,
    world,
):
    show = upload(client, bad_file(world)).headers["Location"]
    answer = client.get(f"{show}/refused.csv")
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv" and "attachment" in answer.headers["Content-Disposition"]
    body = answer.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(body[3:].decode("utf-8")), delimiter=";"))
    assert table[0][:3] == ["Строка", "Причина", "Договор"]
    assert len(table) == 11
    formula = next(row for row in table if row[0] == "12")
    assert formula[2] == "'" + FORMULA
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in table for cell in row)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "Файл пуст."),
        (b"\x00\x01\x02\x03binary" * 50, "Это не файл CSV"),
        ("6001;Анна;+79781234567\n".encode(), "В первой строке должны быть названия столбцов"),
        ("Договор;ФИО;Телефон;Адрес;Район;Баланс\n".encode(), "Неизвестные столбцы: Баланс."),
        ("Договор;ФИО;Адрес\n".encode(), "В файле нет столбцов: телефон, район."),
        (b"contract;name\n" + b"x" * 2000, "Файл слишком большой"),
    ],
)
def test_a_bad_file_is_a_4xx_with_a_clear_message(
    app, client, session, operator, monkeypatch, data, message
):
    monkeypatch.setitem(app.config, "PORTAL_IMPORT_MAX_BYTES", 1000)
    before = session.scalar(sa.select(sa.func.count(SubscriberImport.id)))
    answer = upload(client, data)
    assert answer.status_code == (413 if "большой" in message else 400)
    assert message in answer.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count(SubscriberImport.id))) == before


def test_no_file_and_a_huge_body_are_4xx(app, client, operator, monkeypatch):
    token = csrf_from(client.get(IMPORT).get_data(as_text=True))
    answer = client.post(IMPORT, data={"csrf_token": token})
    assert answer.status_code == 400
    assert "Выберите файл для импорта." in answer.get_data(as_text=True)
    monkeypatch.setitem(app.config, "PORTAL_IMPORT_MAX_BYTES", 1000)
    huge = upload(client, b"x" * 200_000)
    assert huge.status_code == 413
    assert "Файл слишком большой: не больше 1 МБ." in huge.get_data(as_text=True)


@pytest.mark.parametrize(
    ("name", "kept"),
    [("billi\x00ng.csv", "billing.csv"), ("\x1b.csv", ".csv"), ("\x00", "import.csv")],
)
def test_a_file_name_with_control_characters_is_kept_without_them(
    client, session, operator, world, name, kept
):
    """The name is the browser's (a forged one may hold a NUL, which PostgreSQL does not
    store): the import is checked and listed under the name without them."""
    answer = upload(client, bad_file(world), name=name)
    assert answer.status_code == 303
    batch_id = int(answer.headers["Location"].rsplit("/", 1)[1])
    assert session.get(SubscriberImport, batch_id).file_name == kept


def test_a_form_without_its_token_is_refused(client, operator, world):
    answer = client.post(
        IMPORT,
        data={"file": (io.BytesIO(bad_file(world)), "a.csv")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 400


def test_other_forms_keep_the_small_limit(client, operator):
    token = csrf_from(client.get(IMPORT).get_data(as_text=True))
    answer = client.post(
        "/staff/subscribers/new", data={"csrf_token": token, "name": "x" * 100_000}
    )
    assert answer.status_code == 413


def test_the_sheets_are_shown_once_and_only_to_who_ran_the_import(
    app,
    client,
    session,
    operator,
    world,
    auth,
    caplog,
):
    caplog.set_level(logging.DEBUG)
    show = upload(client, bad_file(world)).headers["Location"]
    post(client, f"{show}/run")
    jobs.drain(app)
    assert "Напечатать следующие листы" in client.get(show).get_data(as_text=True)
    answer = post(client, f"{show}/sheets")
    assert answer.status_code == 200 and "no-store" in answer.headers["Cache-Control"]
    sheets = answer.get_data(as_text=True)
    passwords = re.findall(r'<dt>Пароль</dt><dd class="secret">([^<]+)</dd>', sheets)
    assert len(passwords) == 2
    printed = session.scalar(
        sa.select(AuditEvent).where(AuditEvent.event == "subscribers.import_sheets_printed")
    )
    assert (printed.data["before"], printed.data["after"]) == (
        {"password": "none"},
        {"password": "changed"},
    )
    assert all(password not in str(printed.data) for password in passwords)
    assert all(places_holding(session, password) == [] for password in passwords)
    assert not any(password in caplog.text for password in passwords)
    assert re.search(r'<dt>Логин</dt><dd class="secret">5001</dd>', sheets)

    again = post(client, f"{show}/sheets")
    assert again.status_code == 303
    assert "Пароль</dt>" not in client.get(show).get_data(as_text=True)

    other = create_staff(session, role=StaffRole.OPERATOR)
    session.commit()
    client.delete_cookie("portal_staff", path="/staff/")
    StaffAuth(client).login(other.login)
    assert post(client, f"{show}/sheets").status_code == 404

    client.delete_cookie("portal_staff", path="/staff/")
    assert auth.login("5001", passwords[0]).status_code == 303


@pytest.mark.parametrize("role", [StaffRole.DISPATCHER, StaffRole.MARKETING, StaffRole.ACCOUNTANT])
def test_only_operators_and_admins_import(client, session, role, world):
    member = create_staff(session, role=role)
    session.commit()
    StaffAuth(client).login(member.login)
    assert client.get(IMPORT).status_code == 403
    assert client.post(IMPORT).status_code == 403
    assert client.get(f"{IMPORT}1").status_code == 403
    assert "Импорт абонентов" not in client.get("/staff/").get_data(as_text=True)


def test_an_import_whose_job_was_lost_is_taken_up_by_the_sweep(
    app, client, session, operator, world, monkeypatch, frozen_clock
):
    show = upload(client, bad_file(world)).headers["Location"]
    number = int(show.rstrip("/").rsplit("/", 1)[1])
    post(client, f"{show}/run")
    # The process restarts before its queue runs the job: a new process, an empty queue.
    monkeypatch.setitem(app.extensions, "portal_jobs", jobs.InProcessQueue(app))
    jobs.drain(app, sweep=True)
    assert session.get(SubscriberImport, number, populate_existing=True).rows_done == 0
    frozen_clock.advance(minutes=6)
    jobs.drain(app, sweep=True)
    batch = session.get(SubscriberImport, number, populate_existing=True)
    assert batch.state.value == "done" and batch.created == 2


def test_the_sheets_are_in_the_portals_language_whatever_the_consoles(app, client, operator, world):
    english = {"Accept-Language": "en"}
    show = upload(client, bad_file(world), **english).headers["Location"]
    post(client, f"{show}/run")
    jobs.drain(app)
    token = csrf_from(client.get(IMPORT, headers=english).get_data(as_text=True))
    answer = client.post(f"{show}/sheets", data={"csrf_token": token}, headers=english)
    sheets = answer.get_data(as_text=True)
    assert len(re.findall(r"<dt>Пароль</dt>", sheets)) == 2
    assert "Install the app on the phone" not in sheets
    assert "Print these sheets (2) now" in sheets  # the member's own words
