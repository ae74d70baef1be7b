"""The command line: creating subscribers, running billing, migrating."""

import re
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import portal
from portal import cli
from portal.domain.auth import credentials
from portal.models import Account, Notification, Person, StaffMember, StaffRole, TariffKind
from tests.conftest import csrf_from
from tests.factories import create_staff, create_subscriber, create_tariff


def test_subscriber_add_prints_login_and_password_once(runner, session):
    tariff = create_tariff(session)
    session.commit()
    result = runner.invoke(
        args=[
            "subscriber",
            "add",
            "--contract",
            "9001",
            "--name",
            "Ольга Смирнова",
            "--phone",
            "8 978 111-22-33",
            "--tariff",
            tariff.code,
            "--address",
            "Ялта",
        ]
    )
    assert result.exit_code == 0, result.output
    password = re.search(r"Password: (\S+)", result.output).group(1)
    assert "Login:    9001" in result.output
    person = session.scalar(sa.select(Person).where(Person.login == "9001"))
    assert person.phone == "+79781112233"
    assert credentials.authenticate(session, "9001", password).id == person.id


def test_subscriber_add_with_given_login_and_password(runner, session):
    result = runner.invoke(
        args=[
            "subscriber",
            "add",
            "--contract",
            "9002",
            "--name",
            "A",
            "--phone",
            "+79780000002",
            "--login",
            "olga",
            "--password",
            "given-password-1",
        ]
    )
    assert result.exit_code == 0, result.output
    assert credentials.authenticate(session, "olga", "given-password-1") is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--contract", "DUP", "--login", "fresh"], "contract DUP is taken"),
        (["--contract", "NEW-1", "--login", "taken"], "login taken is already taken"),
        (["--contract", "NEW-2", "--phone", "12345"], "invalid phone"),
        (["--contract", "x" * 40], "invalid contract number"),
    ],
)
def test_subscriber_add_refuses_duplicates_and_bad_input(runner, session, args, message):
    create_subscriber(session, login="taken", contract="DUP")
    session.commit()
    base = {"--name": "A", "--phone": "+79780000009"}
    full = list(args)
    for key, value in base.items():
        if key not in full:
            full += [key, value]
    result = runner.invoke(args=["subscriber", "add", *full])
    assert result.exit_code != 0
    assert message in result.output
    assert "Password" not in result.output


@pytest.mark.parametrize(
    ("account", "message"),
    [
        ("9" * 33, "invalid personal account"),
        ("12 34", "invalid personal account"),
        ("P-1", "invalid personal account: P-1 is another account's"),
    ],
)
def test_subscriber_add_refuses_a_bad_or_taken_personal_account(runner, session, account, message):
    create_subscriber(session, contract="P-1")
    session.commit()
    args = ["--contract", "5002", "--name", "A", "--phone", "+79780000001", "--account", account]
    result = runner.invoke(args=["subscriber", "add", *args])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # a message, never a traceback
    assert message in result.output and "contract 5002" not in result.output
    assert "Password" not in result.output
    assert session.scalar(sa.select(Account.id).where(Account.contract_number == "5002")) is None


@pytest.mark.parametrize("same_tariff", [True, False])
def test_subscriber_add_refuses_two_tariffs_of_one_kind(runner, session, same_tariff):
    """Each would be charged every day: the import and the staff's form allow one
    internet tariff and one TV tariff, and so does the shell."""
    first, second = create_tariff(session), create_tariff(session)
    tv = create_tariff(session, kind=TariffKind.TV)
    session.commit()
    codes = [first.code, first.code if same_tariff else second.code, tv.code]
    args = ["--contract", "5003", "--name", "A", "--phone", "+79780000001"]
    result = runner.invoke(
        args=["subscriber", "add", *args, *(f"--tariff={code}" for code in codes)]
    )
    assert result.exit_code == 1, result.output
    assert "invalid tariffs: one internet tariff and one TV tariff at most" in result.output
    assert session.scalar(sa.select(Account.id).where(Account.contract_number == "5003")) is None


@pytest.fixture
def after_the_days(frozen_clock):
    """The days the runs below charge are gone by (the run refuses a day to come)."""
    frozen_clock.set(datetime(2026, 12, 10, 9, 0, tzinfo=UTC))


def test_billing_run_charges_once_per_day(runner, session, after_the_days):
    tariff = create_tariff(session, price=310_00)
    new = create_subscriber(session, balance=100_00, tariffs=[tariff], start=date(2026, 12, 1))
    session.commit()
    for _ in range(2):
        result = runner.invoke(args=["billing", "run", "--date", "2026-12-05"])
        assert result.exit_code == 0, result.output
    session.expire_all()
    assert session.get(Account, new.account.id).balance == 90_00


def test_billing_run_catches_up_the_days_it_missed(runner, session, after_the_days):
    tariff = create_tariff(session, price=310_00)
    new = create_subscriber(session, balance=100_00, tariffs=[tariff], start=date(2026, 12, 1))
    session.commit()
    first = runner.invoke(args=["billing", "run", "--date", "2026-12-02"])
    late = runner.invoke(args=["billing", "run", "--date", "2026-12-05"])
    again = runner.invoke(args=["billing", "run", "--date", "2026-12-05"])
    # Each run ends with the low-balance warnings (their counts are the whole database's).
    assert first.output.splitlines()[:-1] == [
        "2026-12-02: charged 1 accounts, 10.00 RUB, blocked for debt: 0, unblocked: 0"
    ]
    assert first.output.splitlines()[-1].startswith("2026-12-02: low-balance warnings: ")
    assert [line[:10] for line in late.output.splitlines()] == [
        "2026-12-03",
        "2026-12-04",
        "2026-12-05",
        "2026-12-05",
    ]
    assert again.output.startswith("2026-12-05: already charged\n2026-12-05: low-balance")
    session.expire_all()
    assert session.get(Account, new.account.id).balance == 100_00 - 4 * 10_00


def test_billing_run_refuses_a_bad_date(runner):
    result = runner.invoke(args=["billing", "run", "--date", "2026-13-45"])
    assert result.exit_code == 2
    assert "Invalid value" in result.output


def test_billing_run_refuses_a_day_to_come(runner, session, frozen_clock):
    """Charged, a day cannot be taken back (the ledger is append-only): a date typed a
    day too far would bill every subscriber for a day not yet served."""
    tariff = create_tariff(session, price=310_00)
    new = create_subscriber(session, balance=100_00, tariffs=[tariff], start=date(2026, 11, 20))
    session.commit()
    # 23:30 on the 24th in Yalta is the 24th there, though UTC says the same day.
    frozen_clock.set(datetime(2026, 11, 24, 20, 30, tzinfo=UTC))
    result = runner.invoke(args=["billing", "run", "--date", "2026-11-25"])
    assert result.exit_code == 2
    assert "2026-11-25 is after today (2026-11-24)" in result.output
    session.expire_all()
    assert session.get(Account, new.account.id).balance == 100_00
    frozen_clock.set(datetime(2026, 11, 24, 21, 30, tzinfo=UTC))  # 00:30 on the 25th there
    assert runner.invoke(args=["billing", "run", "--date", "2026-11-25"]).exit_code == 0


def test_staff_add_prints_a_generated_password_that_signs_in(runner, client, session):
    result = runner.invoke(
        args=["staff", "add", "--login", "chief", "--name", "Главный", "--role", "admin"]
    )
    assert result.exit_code == 0, result.output
    password = re.search(r"Password: (\S+)", result.output).group(1)
    assert len(password) >= 16
    member = session.scalar(sa.select(StaffMember).where(StaffMember.login == "chief"))
    assert member.role is StaffRole.ADMIN and password not in member.password_hash
    page = client.get("/staff/login").get_data(as_text=True)
    answer = client.post(
        "/staff/login",
        data={"login": "chief", "password": password, "csrf_token": csrf_from(page)},
    )
    assert answer.status_code == 303


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--login", "taken", "--role", "operator"], "login taken is already taken"),
        (["--login", "new-one", "--role", "boss"], "Invalid value for '--role'"),
        (["--login", "x", "--role", "operator"], "invalid login"),
        (["--login", "short-pw", "--role", "operator", "--password", "123"], "invalid password"),
    ],
)
def test_staff_add_refuses_duplicates_and_bad_input(runner, session, args, message):
    create_staff(session, login="taken")
    session.commit()
    result = runner.invoke(args=["staff", "add", "--name", "Кто-то", *args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Password" not in result.output


def test_staff_password_prints_a_new_one_that_signs_in_and_ends_the_pause(runner, client, session):
    member = create_staff(session, login="paused")
    member.failed_sign_ins = 40
    session.commit()
    old_hash = member.password_hash
    result = runner.invoke(args=["staff", "password", "--login", "paused"])
    assert result.exit_code == 0, result.output
    password = re.search(r"Password: (\S+)", result.output).group(1)
    session.expire_all()
    member = session.get(StaffMember, member.id)
    assert member.password_hash != old_hash and password not in member.password_hash
    assert member.failed_sign_ins == 0
    page = client.get("/staff/login").get_data(as_text=True)
    answer = client.post(
        "/staff/login",
        data={"login": "paused", "password": password, "csrf_token": csrf_from(page)},
    )
    assert answer.status_code == 303 and answer.headers["Location"] == "/staff/"


def test_staff_password_for_an_unknown_login_changes_nothing(runner, session):
    result = runner.invoke(args=["staff", "password", "--login", "nobody"])
    assert result.exit_code != 0 and "No staff member" in result.output
    assert "Password:" not in result.output


def test_billing_run_warns_a_low_balance_once(runner, session, after_the_days):
    tariff = create_tariff(session, price=310_00)
    new = create_subscriber(session, balance=40_00, tariffs=[tariff], start=date(2026, 12, 1))
    session.commit()
    for day in ("2026-12-02", "2026-12-02", "2026-12-03"):
        result = runner.invoke(args=["billing", "run", "--date", day])
        assert result.exit_code == 0, result.output
    titles = session.scalars(
        sa.select(Notification.title).where(Notification.person_id == new.person.id)
    ).all()
    assert titles == ["Средства заканчиваются"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORTAL_PROMISED_FEE": "-1000"}, "PORTAL_PROMISED_FEE must be at least 0"),
        ({"PORTAL_MODE": "prod"}, "PORTAL_MODE must be one of production"),
        ({"PORTAL_MODE": "production"}, "refusing to start: PORTAL_PUBLIC_URL must be set"),
    ],
)
def test_a_refused_setting_is_a_message_and_a_failure_not_a_traceback(
    tmp_path, monkeypatch, env, message
):
    for name in ("PORTAL_PUBLIC_URL", "PORTAL_MODE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///" + str(tmp_path / "cli.db"))
    create_app = portal.create_app
    monkeypatch.setattr(portal, "create_app", lambda: create_app(instance_path=str(tmp_path)))
    result = CliRunner().invoke(cli.main, ["billing", "run"])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), result.exception
    assert f"Error: {message}" in result.output


def test_help_with_a_refused_setting_names_it_without_a_traceback(tmp_path, monkeypatch):
    """Flask lists the app's commands for --help, and draws any error of loading the
    app but its own as a traceback."""
    monkeypatch.setenv("PORTAL_PROMISED_FEE", "-1000")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///" + str(tmp_path / "cli.db"))
    create_app = portal.create_app
    monkeypatch.setattr(portal, "create_app", lambda: create_app(instance_path=str(tmp_path)))
    result = CliRunner().invoke(cli.main, ["--help"])
    assert result.exit_code == 0
    assert "Error: PORTAL_PROMISED_FEE must be at least 0" in result.output
    assert "Traceback" not in result.output and "Usage: " in result.output


def test_demo_refuses_a_production_database(tmp_path, monkeypatch):
    """`portal demo` with the production settings (portal_do sources them) would add the
    demo subscribers and an admin whose password the README prints."""
    monkeypatch.setenv("PORTAL_MODE", "production")
    monkeypatch.setenv("PORTAL_PUBLIC_URL", "https://my.example-isp.ru")
    monkeypatch.setenv("SECRET_KEY", "k3y-" + "0123456789abcdefghijklmnopqrstuvwxyz")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///" + str(tmp_path / "production.db"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    create_app = portal.create_app
    monkeypatch.setattr(portal, "create_app", lambda: create_app(instance_path=str(tmp_path)))
    result = CliRunner().invoke(cli.main, ["demo", "--no-serve"])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Error: portal demo" in result.output and "PORTAL_MODE" in result.output
    assert "Sign in" not in result.output and "Staff console" not in result.output
    engine = sa.create_engine("sqlite:///" + str(tmp_path / "production.db"))
    with engine.connect() as conn:
        assert "staff_members" not in sa.inspect(conn).get_table_names()
    engine.dispose()
