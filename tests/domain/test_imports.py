"""Importing subscribers: reading the file, the dry run's verdict on every kind of bad
row, the real run and its idempotency, the error report, the sheets printed once."""

import csv
import io
from datetime import date

import pytest
import sqlalchemy as sa

from portal import clock
from portal.domain import imports, subscribers
from portal.domain.auth import credentials
from portal.models import (
    Account,
    AuditEvent,
    ImportState,
    Person,
    RowOutcome,
    StaffRole,
    Subscription,
    TariffKind,
)
from tests.factories import create_service, create_staff, create_tariff

DISTRICTS = ("Ялта-центр", "Массандра", "Ливадия")
TODAY = date(2026, 11, 30)
FORMULA = "=cmd|' /C calc'!A0"


@pytest.fixture
def world(session):
    return make_world(session)


def make_world(session) -> dict:
    """A catalogue, a member of the staff, and two subscribers the file mentions."""
    internet = create_tariff(session)
    other_internet = create_tariff(session)
    tv = create_tariff(session, kind=TariffKind.TV)
    addon = create_service(session)
    member = create_staff(session, role=StaffRole.OPERATOR)
    moved = subscribers.create_subscriber(
        session,
        contract_number="4001",
        name="Старое Имя",
        phone="+7 978 500-00-01",
        address="Ялта, ул. Старая, 1",
        district="Массандра",
    )
    same = subscribers.create_subscriber(
        session,
        contract_number="4002",
        login="same-login",
        name="Та Же Самая",
        phone="+7 978 500-00-02",
        address="Ялта, ул. Та же, 2",
        district="Ливадия",
    )
    session.commit()
    return {
        "internet": internet,
        "other_internet": other_internet,
        "tv": tv,
        "addon": addon,
        "member": member,
        "moved": moved,
        "same": same,
    }


HEADER = "Договор;ФИО;Телефон;Адрес;Район;Тарифы;Услуги;Логин"


def bad_file(world) -> bytes:
    """One UTF-8 file with every kind of row: good ones, and every kind of bad one."""
    internet, tv, addon = world["internet"].code, world["tv"].code, world["addon"].code
    other = world["other_internet"].code
    lines = [
        HEADER,
        f"5001;Иванов Иван;+7 978 111-22-33;Ялта, Морская, 1;Массандра;{internet}|{tv};{addon};",
        "",
        f"5002;Петров Пётр;8 978 222-33-44;Ялта, ул. Садовая, 2;ливадия;{internet};;",
        "5001;Дубль Иванова;+7 978 111-22-34;Ялта, ул. Морская, 1;Массандра;;;",
        "4001;Новое Имя;+7 978 500-00-01;Ялта, ул. Старая, 1;Массандра;;;",
        "4002;Та Же Самая;+7 978 500-00-02;Ялта, ул. Та же, 2;Ливадия;;;",
        "5003;Сидоров Сидор;12345;Ялта, ул. Горная, 3;Массандра;;;",
        "5004;Кузнецов Кузьма;+7 978 333-44-55;Ялта, ул. Речная, 4;Массандра;no-such;;",
        ";;;;;;;",
        f"5005;{'Я' * 10_000};+7 978 333-44-56;Ялта;Массандра;;;",
        f'"{FORMULA}";{FORMULA};+7 978 444-55-66;Ялта, ул. Лесная, 6;Массандра;;;',
        None,  # a line pasted from a Windows-1251 file
        "same-login;Тень Логина;+7 978 444-55-67;Ялта;Массандра;;;fresh-login",
        "5008;Занятый Логин;+7 978 444-55-68;Ялта;Массандра;;;same-login",
        "5009;Житель Атлантиды;+7 978 444-55-69;Атлантида;Атлантида;;;",
        f"5010;Два Тарифа;+7 978 444-55-70;Ялта;Массандра;{internet} {other};;",
    ]
    cp1251 = "5007;Смирнов Сергей;+7 978 555-66-77;Ялта, ул. Южная, 7;Массандра;;;"
    return b"\r\n".join(
        (cp1251.encode("cp1251") if line is None else line.encode("utf-8")) for line in lines
    )


# The line of the file, and what the dry run says of it.
EXPECTED = {
    2: (RowOutcome.CREATE, None),
    3: (RowOutcome.SKIP, None),
    4: (RowOutcome.CREATE, None),
    5: (RowOutcome.REFUSE, "duplicate"),
    6: (RowOutcome.UPDATE, None),
    7: (RowOutcome.UNCHANGED, None),
    8: (RowOutcome.REFUSE, "phone"),
    9: (RowOutcome.REFUSE, "tariff"),
    10: (RowOutcome.SKIP, None),
    11: (RowOutcome.REFUSE, "too_long"),
    12: (RowOutcome.REFUSE, "contract"),
    13: (RowOutcome.REFUSE, "unreadable"),
    14: (RowOutcome.REFUSE, "contract_taken"),
    15: (RowOutcome.REFUSE, "login_taken"),
    16: (RowOutcome.REFUSE, "district"),
    17: (RowOutcome.REFUSE, "two_tariffs"),
}


def dry_run(session, world, data: bytes):
    parsed = imports.read(data)
    batch = imports.check(
        session,
        parsed,
        staff_id=world["member"].id,
        file_name="billing.csv",
        districts=DISTRICTS,
    )
    session.commit()
    return batch


def real_run(session, batch):
    assert imports.start(session, batch.id, actor="test")
    session.commit()
    return imports.run(session, batch.id, districts=DISTRICTS, today=TODAY, batch_size=3)


def verdicts(session, batch, *, real: bool):
    rows = imports.rows_of(session, batch.id, list(RowOutcome), real=real, limit=None)
    return {row.line: (row.outcome if real else row.planned, row.reason) for row in rows}


def counts(session) -> dict:
    return {
        "people": session.scalar(sa.select(sa.func.count(Person.id))),
        "accounts": session.scalar(sa.select(sa.func.count(Account.id))),
        "subscriptions": session.scalar(sa.select(sa.func.count(Subscription.id))),
        "changes": session.scalar(
            sa.select(sa.func.count(AuditEvent.id)).where(
                AuditEvent.event.in_(["subscriber.created", "subscriber.updated"])
            )
        ),
        "people_rows": sorted(
            tuple(row)
            for row in session.execute(sa.select(Person.login, Person.name, Person.phone))
        ),
    }


def test_the_dry_run_judges_every_kind_of_row_and_writes_no_account(session, world):
    before = counts(session)
    batch = dry_run(session, world, bad_file(world))
    assert batch.encoding == "utf-8" and batch.delimiter == ";"
    assert verdicts(session, batch, real=False) == EXPECTED
    assert counts(session) == before
    planned = imports.planned_counts(session, batch.id)
    assert planned[RowOutcome.CREATE] == 2 and planned[RowOutcome.REFUSE] == 10


def test_the_real_run_does_what_the_dry_run_said_and_the_same_file_again_changes_nothing(
    session, world
):
    data = bad_file(world)
    batch = real_run(session, dry_run(session, world, data))
    assert batch.state is ImportState.DONE
    assert verdicts(session, batch, real=True) == EXPECTED
    assert (batch.created, batch.updated, batch.unchanged) == (2, 1, 1)
    assert (batch.refused, batch.skipped, batch.rows_done) == (10, 2, 16)

    new = session.scalar(sa.select(Account).where(Account.contract_number == "5001"))
    assert new.district == "Массандра" and new.balance == 0
    held = {s.tariff_id or s.service_id for s in new.subscriptions}
    assert held == {world["internet"].id, world["tv"].id, world["addon"].id}
    person = session.get(Person, new.person_id)
    assert person.login == "5001" and person.phone == "+79781112233"
    # No password works until the sheet is printed.
    assert person.password_hash == credentials.UNUSABLE_HASH
    second = session.scalar(sa.select(Account).where(Account.contract_number == "5002"))
    assert second.district == "Ливадия"  # written as configured, whatever the case in the file

    moved = session.get(Person, world["moved"].person.id, populate_existing=True)
    assert moved.name == "Новое Имя"
    assert credentials.verify(moved.password_hash, "not it") is False
    assert moved.password_hash == world["moved"].person.password_hash  # never touched
    updated = session.scalar(sa.select(AuditEvent).where(AuditEvent.event == "subscriber.updated"))
    assert updated.data["before"] == {"name": "Старое Имя"}
    assert updated.data["after"] == {"name": "Новое Имя"}
    assert updated.actor == f"staff:{world['member'].id}"

    after_first = counts(session)
    again = real_run(session, dry_run(session, world, data))
    assert (again.created, again.updated, again.refused) == (0, 0, 10)
    assert again.unchanged == 4
    assert counts(session) == after_first


def test_a_second_job_for_the_same_import_does_nothing(session, world):
    batch = real_run(session, dry_run(session, world, bad_file(world)))
    first = counts(session)
    assert imports.start(session, batch.id, actor="test") is False
    assert imports.run(session, batch.id, districts=DISTRICTS, today=TODAY) is None
    assert counts(session) == first


def test_a_broken_off_run_resumes_where_it_stopped(session, world, monkeypatch):
    batch = dry_run(session, world, bad_file(world))
    assert imports.start(session, batch.id, actor="test")
    session.commit()
    real_write, calls = imports._write, []

    def breaks_on_the_third_batch(*args):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the worker died")
        return real_write(*args)

    monkeypatch.setattr(imports, "_write", breaks_on_the_third_batch)
    with pytest.raises(RuntimeError):
        imports.run(session, batch.id, districts=DISTRICTS, today=TODAY, batch_size=3)
    broken = session.get(imports.SubscriberImport, batch.id, populate_existing=True)
    assert broken.state is ImportState.FAILED and broken.rows_done == 6
    monkeypatch.setattr(imports, "_write", real_write)
    assert imports.start(session, batch.id, actor="test")
    session.commit()
    done = imports.run(session, batch.id, districts=DISTRICTS, today=TODAY, batch_size=3)
    assert done.state is ImportState.DONE and done.rows_done == 16
    assert verdicts(session, done, real=True) == EXPECTED
    assert (done.created, done.updated, done.unchanged) == (2, 1, 1)


def test_the_error_report_never_makes_a_live_formula(session, world):
    batch = dry_run(session, world, bad_file(world))
    rows = imports.rows_of(session, batch.id, [RowOutcome.REFUSE], real=False, limit=None)
    body = imports.report_csv(
        ["Строка", "Причина", *batch.header], ((r.line, r.reason, r.cells) for r in rows)
    )
    assert body.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(body[3:].decode("utf-8")), delimiter=";"))
    assert table[0] == ["Строка", "Причина", *HEADER.split(";")]
    formula_row = next(row for row in table if row[0] == "12")
    assert formula_row[2] == "'" + FORMULA and formula_row[3] == "'" + FORMULA
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in table for cell in row)
    long_row = next(row for row in table if row[0] == "11")
    assert len(long_row[3]) == imports.CELL_KEPT


@pytest.mark.parametrize(
    ("text", "encoding", "expected"),
    [
        ("\ufeffcontract,name,phone,address,district,tariffs\n"
         "6001,Анна Ахматова,+79781234567,\"Ялта, ул. Пушкина, 1\",Массандра,\n",
         "utf-8", ","),
        ("Договор;ФИО;Телефон;Адрес;Район\r\n6001;Анна Ахматова;89781234567;Ялта;Массандра\r\n",
         "cp1251", ";"),
    ],
)  # fmt: skip
def test_both_encodings_and_both_delimiters_are_read(session, world, text, encoding, expected):
    data = text.encode("utf-8") if encoding == "utf-8" else text.encode("cp1251")
    parsed = imports.read(data)
    assert (parsed.encoding, parsed.delimiter) == (encoding, expected)
    assert parsed.columns[:5] == ["contract", "name", "phone", "address", "district"]
    batch = dry_run(session, world, data)
    assert verdicts(session, batch, real=False) == {2: (RowOutcome.CREATE, None)}
    row = imports.rows_of(session, batch.id, [RowOutcome.CREATE], real=False, limit=1)[0]
    assert row.cells[1] == "Анна Ахматова"


@pytest.mark.parametrize(
    "text",
    [
        # Excel writes a delimiter after the last column when the sheet had one more.
        "Договор;ФИО;Телефон;Адрес;Район;\r\n6001;Анна Ахматова;89781234567;Ялта;Массандра;\r\n",
        "Договор;ФИО;Телефон;Адрес;Район;;\r\n6001;Анна Ахматова;89781234567;Ялта;Массандра;;\r\n",
        # Excel's hint of the delimiter, on a line of its own before the header.
        "sep=;\r\nДоговор;ФИО;Телефон;Адрес;Район\r\n"
        "6001;Анна Ахматова;89781234567;Ялта;Массандра\r\n",
    ],
)
@pytest.mark.parametrize("encoding", ["utf-8", "cp1251"])
def test_excels_trailing_delimiter_and_its_delimiter_hint_are_read(session, world, text, encoding):
    parsed = imports.read(text.encode(encoding))
    assert parsed.columns == ["contract", "name", "phone", "address", "district"]
    assert parsed.header == ["Договор", "ФИО", "Телефон", "Адрес", "Район"]
    batch = dry_run(session, world, text.encode(encoding))
    assert set(verdicts(session, batch, real=False).values()) == {(RowOutcome.CREATE, None)}


@pytest.mark.parametrize(
    ("data", "code", "names"),
    [
        (b"", "empty", ()),
        (b"\xef\xbb\xbf \r\n\r\n", "empty", ()),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 4, "binary", ()),
        ("6001;Анна;+79781234567\n".encode(), "no_header", ()),
        ("Договор;ФИО;Телефон;Адрес;Район;Баланс\n".encode(), "unknown_columns", ("Баланс",)),
        ("Договор;ФИО;;Телефон;Адрес;Район\n".encode(), "unnamed_columns", ("3",)),
        ("Договор;ФИО;Адрес\n".encode(), "missing_columns", ("phone", "district")),
        ("Договор;ФИО;Телефон;Адрес;Район;ФИО\n".encode(), "repeated_columns", ("name",)),
        (b"x" * 101, "too_big", ()),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(data, code, names):
    with pytest.raises(imports.FileProblem) as caught:
        imports.read(data, max_bytes=100)
    assert caught.value.code == code
    assert caught.value.names == names


def test_sheets_are_printed_once_by_the_member_who_ran_the_import(session, world):
    batch = real_run(session, dry_run(session, world, bad_file(world)))
    other = create_staff(session, role=StaffRole.OPERATOR)
    session.commit()
    with pytest.raises(imports.NotFound):
        imports.print_sheets(session, batch.id, staff_id=other.id)
    assert imports.sheets_left(session, batch.id) == 2
    sheets = imports.print_sheets(session, batch.id, staff_id=world["member"].id, limit=1)
    session.commit()
    assert [s.contract_number for s in sheets] == ["5001"]
    person = session.scalar(sa.select(Person).where(Person.login == "5001"))
    session.refresh(person)
    assert credentials.verify(person.password_hash, sheets[0].password)
    rest = imports.print_sheets(session, batch.id, staff_id=world["member"].id)
    session.commit()
    assert [s.contract_number for s in rest] == ["5002"]
    assert imports.print_sheets(session, batch.id, staff_id=world["member"].id) == []
    assert imports.sheets_left(session, batch.id) == 0


def test_an_archived_code_is_refused_for_a_new_contract_but_not_for_an_existing_one(session, world):
    world["other_internet"].archived_at = world["addon"].archived_at = clock.now()
    old_tariff, old_addon = world["other_internet"].code, world["addon"].code
    lines = [
        HEADER,
        f"6001;Новый Абонент;+7 978 600-00-01;Ялта;Массандра;{old_tariff.upper()};;",
        f"6002;Новый Абонент;+7 978 600-00-02;Ялта;Массандра;;{old_addon};",
        f"4002;Та Же Самая;+7 978 500-00-02;Ялта, ул. Та же, 2;Ливадия;{old_tariff};;",
    ]
    batch = dry_run(session, world, "\n".join(lines).encode())
    assert verdicts(session, batch, real=False) == {
        2: (RowOutcome.REFUSE, "tariff_archived"),
        3: (RowOutcome.REFUSE, "addon_archived"),
        4: (RowOutcome.UNCHANGED, None),
    }
    refused = imports.rows_of(session, batch.id, [RowOutcome.REFUSE], real=False, limit=None)
    assert [row.detail for row in refused] == [old_tariff.upper(), old_addon]
