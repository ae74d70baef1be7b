"""The staff account's own count of wrong passwords and codes (portal.domain.auth.lockout):
a guess spread over many addresses is paused per account, the answer never tells, and
the owner still gets in: from a trusted device, after the pause, or with a new password
an admin makes."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.domain.auth import devices
from portal.domain.auth.lockout import StaffPause
from portal.models import AuditEvent, StaffMember, StaffRole
from tests.conftest import TEST_SECRET_KEY, client_at, csrf_from
from tests.factories import create_staff
from tests.web.test_staff_console import StaffAuth, code_for

FREE = 3  # free failures in these tests (20 by default), so a test stays short


@pytest.fixture
def few_free(app, monkeypatch):
    monkeypatch.setitem(app.config, "PORTAL_STAFF_LOGIN_FREE_FAILURES", FREE)


def guess(app, login, n, password="wrong-guess-1234"):
    """A wrong password from the n-th address of a botnet (each under its own limit)."""
    address = f"203.0.113.{n}"
    return StaffAuth(client_at(app, address)).login(login, password, address=address)


def refresh(session, member) -> StaffMember:
    session.expire_all()
    return session.get(StaffMember, member.id)


def error_block(answer) -> str:
    """What the sign-in answer says, without its one-time CSRF token."""
    page = answer.get_data(as_text=True)
    return re.sub(r'name="csrf_token"[^>]*>', "", page[page.index("<main") :])


def test_failures_count_per_account_across_addresses(app, session, few_free, frozen_clock):
    member = create_staff(session)
    session.commit()
    for n in range(1, FREE + 1):
        assert guess(app, member.login, n).status_code == 401
    assert refresh(session, member).failed_sign_ins == FREE
    assert refresh(session, member).sign_in_paused_until is None
    assert guess(app, member.login, FREE + 1).status_code == 401
    paused = refresh(session, member)
    assert paused.failed_sign_ins == FREE + 1
    assert paused.sign_in_paused_until == frozen_clock.moment + timedelta(minutes=1)
    # The right password from yet another address: refused while paused, not counted.
    owner = StaffAuth(client_at(app, "198.51.100.1"))
    assert owner.login(member.login, address="198.51.100.1").status_code == 401
    assert refresh(session, member).failed_sign_ins == FREE + 1
    reasons = session.scalars(
        sa.select(AuditEvent.data)
        .where(AuditEvent.event == "staff.sign_in_failed")
        .order_by(AuditEvent.id)  # PostgreSQL returns rows in no promised order without it
    ).all()
    mine = [r["reason"] for r in reasons if r["login"] == member.login]
    assert mine == ["wrong"] * (FREE + 1) + ["paused"]
    pause = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "staff.sign_in_paused")
    ).one()
    assert pause.data["staff_id"] == member.id and pause.data["failures"] == FREE + 1


def test_a_paused_account_answers_as_a_wrong_password(app, session, few_free, frozen_clock):
    member = create_staff(session)
    session.commit()
    wrong = guess(app, member.login, 1)
    for n in range(2, FREE + 2):
        guess(app, member.login, n)
    assert refresh(session, member).sign_in_paused_until is not None
    right = StaffAuth(client_at(app, "198.51.100.1")).login(member.login, address="198.51.100.1")
    unknown = guess(app, "nobody-at-all", 99)
    assert wrong.status_code == right.status_code == unknown.status_code == 401
    assert error_block(right) == error_block(wrong)
    assert "Неверный логин или пароль." in error_block(right)
    assert not any(c.startswith("portal_staff=") for c in right.headers.getlist("Set-Cookie"))


def test_the_pauses_grow_and_end_by_themselves(app, session, few_free, frozen_clock):
    member = create_staff(session)
    session.commit()
    for n in range(1, FREE + 2):
        guess(app, member.login, n)
    assert refresh(session, member).sign_in_paused_until == frozen_clock.moment + timedelta(
        minutes=1
    )
    frozen_clock.advance(minutes=1)
    guess(app, member.login, 50)
    assert refresh(session, member).sign_in_paused_until == frozen_clock.moment + timedelta(
        minutes=2
    )
    # Guesses during the pause do not stretch it.
    guess(app, member.login, 51)
    assert refresh(session, member).sign_in_paused_until == frozen_clock.moment + timedelta(
        minutes=2
    )
    frozen_clock.advance(minutes=2)
    owner = StaffAuth(client_at(app, "198.51.100.1"))
    assert owner.login(member.login, address="198.51.100.1").status_code == 303
    after = refresh(session, member)
    assert after.failed_sign_ins == 0 and after.sign_in_paused_until is None


def test_the_owner_signs_in_on_a_trusted_device_during_the_pause(
    app, session, few_free, frozen_clock
):
    member = create_staff(session)
    session.commit()
    usual = client_at(app, "198.51.100.1")
    first = StaffAuth(usual).login(member.login, address="198.51.100.1")
    assert first.status_code == 303
    cookie = next(c for c in first.headers.getlist("Set-Cookie") if "portal_staff_device=" in c)
    assert "Path=/staff/" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    usual.delete_cookie("portal_staff", path="/staff/")
    for n in range(1, FREE + 3):
        guess(app, member.login, n)
    assert refresh(session, member).sign_in_paused_until > frozen_clock.moment
    assert StaffAuth(usual).login(member.login, address="198.51.100.1").status_code == 303
    assert usual.get("/staff/").status_code == 200
    assert refresh(session, member).failed_sign_ins == 0


def test_a_trusted_device_of_another_member_or_a_subscriber_does_not_help(
    app, session, few_free, frozen_clock
):
    member = create_staff(session)
    colleague = create_staff(session)
    session.commit()
    shared = client_at(app, "198.51.100.1")
    assert StaffAuth(shared).login(colleague.login, address="198.51.100.1").status_code == 303
    shared.delete_cookie("portal_staff", path="/staff/")
    for n in range(1, FREE + 2):
        guess(app, member.login, n)
    assert StaffAuth(shared).login(member.login, address="198.51.100.1").status_code == 401
    # A subscriber's device cookie naming the member's id is no staff device (its salt).
    _device, value = devices.remember(None, member, TEST_SECRET_KEY)
    shared.set_cookie("portal_staff_device", value, path="/staff/")
    assert StaffAuth(shared).login(member.login, address="198.51.100.1").status_code == 401
    _device, value = devices.remember(None, member, TEST_SECRET_KEY, salt=devices.STAFF)
    shared.set_cookie("portal_staff_device", value, path="/staff/")
    assert StaffAuth(shared).login(member.login, address="198.51.100.1").status_code == 303


def test_a_new_password_takes_the_trust_from_the_devices(app, session, few_free, frozen_clock):
    member = create_staff(session)
    session.commit()
    usual = client_at(app, "198.51.100.1")
    assert StaffAuth(usual).login(member.login, address="198.51.100.1").status_code == 303
    usual.delete_cookie("portal_staff", path="/staff/")
    frozen_clock.advance(seconds=5)
    from portal.domain.auth import credentials

    member.password_hash = credentials.hash_password("another-password-2026")
    member.password_changed_at = frozen_clock.moment
    session.commit()
    for n in range(1, FREE + 2):
        guess(app, member.login, n)
    login = StaffAuth(usual).login
    assert login(member.login, "another-password-2026", address="198.51.100.1").status_code == 401


def test_an_admins_new_password_lets_the_paused_owner_in(app, client, session, few_free):
    admin = create_staff(session, role=StaffRole.ADMIN)
    member = create_staff(session)
    session.commit()
    for n in range(1, FREE + 3):
        guess(app, member.login, n)
    assert refresh(session, member).sign_in_paused_until is not None
    assert StaffAuth(client).login(admin.login, member=admin).status_code == 303
    token = csrf_from(client.get("/staff/team/").get_data(as_text=True))
    sheet = client.post(f"/staff/team/{member.id}/password", data={"csrf_token": token})
    password = re.search(r'<dt>Пароль</dt><dd class="secret">([^<]+)</dd>', sheet.get_data(True))
    after = refresh(session, member)
    assert after.failed_sign_ins == 0 and after.sign_in_paused_until is None
    event = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "staff.password_reset")
    ).one()
    assert event.data["before"]["failed_sign_ins"] == FREE + 1  # the last one was paused
    owner = StaffAuth(client_at(app, "198.51.100.1"))
    assert owner.login(member.login, password.group(1), address="198.51.100.1").status_code == 303


def test_wrong_codes_count_and_a_pause_stops_the_codes_too(app, session, few_free, frozen_clock):
    admin = create_staff(session, role=StaffRole.ADMIN)
    session.commit()
    # Someone who has the password guesses codes from sessions opened beforehand.
    browsers = []
    for n in range(1, 3):
        browser = client_at(app, f"203.0.113.{n}")
        StaffAuth(browser).login(admin.login, address=f"203.0.113.{n}")
        browsers.append(browser)
    for n in range(FREE + 1):
        auth = StaffAuth(browsers[n % 2])
        assert auth.code("000000", address=f"203.0.113.{n % 2 + 1}").status_code == 401
    assert refresh(session, admin).sign_in_paused_until is not None
    # Paused: even the right code is not taken from a new device, and not counted.
    right = StaffAuth(browsers[0]).code(code_for(admin.totp_secret), address="203.0.113.1")
    assert right.status_code == 401
    assert "Неверный код" in right.get_data(as_text=True)
    assert refresh(session, admin).failed_sign_ins == FREE + 1
    reasons = session.scalars(
        sa.select(AuditEvent.data)
        .where(AuditEvent.event == "staff.code_failed")
        .order_by(AuditEvent.id)
    ).all()
    assert [r["reason"] for r in reasons] == ["wrong"] * (FREE + 1) + ["paused"]
    frozen_clock.advance(minutes=1)
    fresh = StaffAuth(browsers[1]).code(code_for(admin.totp_secret), address="203.0.113.2")
    assert fresh.status_code == 303
    assert refresh(session, admin).failed_sign_ins == 0


def test_a_trusted_device_has_a_limit_of_its_own(app, session, monkeypatch):
    monkeypatch.setitem(app.config, "PORTAL_LOGIN_LIMIT_DEVICE", "3 per hour")
    member = create_staff(session)
    session.commit()
    stolen = client_at(app, "198.51.100.1")
    assert StaffAuth(stolen).login(member.login, address="198.51.100.1").status_code == 303
    stolen.delete_cookie("portal_staff", path="/staff/")
    answers = [
        StaffAuth(stolen).login(member.login, "guess-guess-123", address=f"203.0.113.{n}")
        for n in range(1, 5)
    ]
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert "с этого браузера" in answers[-1].get_data(as_text=True)


def test_an_unknown_or_deactivated_login_leaves_no_count(app, session, few_free):
    member = create_staff(session)
    member.active = False
    session.commit()
    for n in range(1, FREE + 3):
        guess(app, member.login, n)
    assert refresh(session, member).failed_sign_ins == 0
    reasons = session.scalars(
        sa.select(AuditEvent.data).where(AuditEvent.event == "staff.sign_in_failed")
    ).all()
    assert {r["reason"] for r in reasons} == {"inactive"}


@pytest.mark.parametrize(
    ("failures", "pause"),
    [(0, None), (20, None), (21, 1), (22, 2), (25, 16), (26, 32), (27, 60), (500, 60)],
)
def test_the_pause_doubles_up_to_the_longest(failures, pause):
    expected = None if pause is None else timedelta(minutes=pause)
    assert StaffPause().after(failures) == expected
