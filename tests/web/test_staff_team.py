"""The team in the console: the admin lists, creates and changes staff accounts; every
change is audited (never a secret) and what takes access away ends the sessions."""

import logging
import re
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.domain import staff
from portal.domain.errors import LastAdmin, OwnAccount
from portal.extensions import db
from portal.models import AuditEvent, StaffMember, StaffRecoveryCode, StaffRole, StaffSession
from tests.conftest import client_at, csrf_from
from tests.factories import STAFF_PASSWORD, create_staff
from tests.web.test_staff_console import StaffAuth, code_for

TEAM = "/staff/team/"


@pytest.fixture
def admin(client, session):
    """An enrolled admin, signed in on `client`."""
    member = create_staff(session, role=StaffRole.ADMIN)
    session.commit()
    assert StaffAuth(client).login(member.login, member=member).status_code == 303
    return member


def post(client, path, **data):
    """A form of the team's pages, with the CSRF token of the page it is on."""
    token = csrf_from(client.get(TEAM).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def signed_in_elsewhere(app, member, address="198.51.100.20"):
    """The member signed in on a browser of their own (no second factor)."""
    browser = client_at(app, address)
    assert StaffAuth(browser).login(member.login, address=address).status_code == 303
    assert browser.get("/staff/").status_code == 200
    return browser


def events(session, name):
    return session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)
    ).all()


def live_sessions(session, member) -> int:
    return session.scalar(
        sa.select(sa.func.count(StaffSession.id)).where(
            StaffSession.staff_id == member.id, StaffSession.ended_at.is_(None)
        )
    )


def sheet_password(answer) -> str:
    page = answer.get_data(as_text=True)
    return re.search(r'<dt>Пароль</dt><dd class="secret">([^<]+)</dd>', page).group(1)


def test_the_team_lists_every_member(client, session, admin):
    idle = create_staff(session, role=StaffRole.DISPATCHER, login="never-in")
    idle.active = False
    session.commit()
    page = client.get(TEAM).get_data(as_text=True)
    mine = re.search(rf'<tr id="member-{admin.id}">(.*?)</tr>', page, re.S).group(1)
    assert admin.login in mine and "(вы)" in mine and "администратор" in mine
    assert "активна" in mine and "настроен" in mine and "никогда" not in mine
    theirs = re.search(rf'<tr id="member-{idle.id}">(.*?)</tr>', page, re.S).group(1)
    assert "never-in" in theirs and idle.name in theirs and "диспетчер" in theirs
    assert "отключена" in theirs and "нет" in theirs and "никогда" in theirs


def test_the_start_page_links_the_team_for_admins_only(client, session, admin):
    assert 'href="/staff/team/"' in client.get("/staff/").get_data(as_text=True)
    other = client_at(client.application, "198.51.100.30")
    operator = create_staff(session, role=StaffRole.OPERATOR)
    session.commit()
    StaffAuth(other).login(operator.login, address="198.51.100.30")
    assert 'href="/staff/team/"' not in other.get("/staff/").get_data(as_text=True)


def team_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("team_staff."):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule.build(dict.fromkeys(rule.arguments, 1))[1], method


@pytest.mark.parametrize("role", [r for r in StaffRole if r is not StaffRole.ADMIN])
def test_every_team_route_refuses_the_other_roles(app, client, session, role):
    member = create_staff(session, role=role)
    session.commit()
    StaffAuth(client).login(member.login)
    token = csrf_from(client.get("/staff/").get_data(as_text=True))
    routes = list(team_routes(app))
    assert len(routes) >= 8
    before = session.scalar(sa.select(sa.func.count(AuditEvent.id)))
    for path, method in routes:
        answer = client.open(path, method=method, headers={"X-CSRFToken": token})
        assert answer.status_code == 403, (path, method)
    assert session.scalar(sa.select(sa.func.count(AuditEvent.id))) == before


def test_a_new_member_gets_a_password_shown_once_that_signs_in(app, client, session, admin, caplog):
    caplog.set_level(logging.DEBUG)
    page = client.get(TEAM + "new").get_data(as_text=True)
    form = {"login": "n.petrova", "name": "Нина Петрова", "role": "accountant"}
    answer = client.post(TEAM + "new", data={**form, "csrf_token": csrf_from(page)})
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    password = sheet_password(answer)
    sheet = answer.get_data(as_text=True)
    assert (
        '<dd class="secret">n.petrova</dd>' in sheet
        and "<dd>https://portal.test/staff/login</dd>" in sheet
    )
    assert "data-print" in sheet and len(password) >= 16

    member = session.scalar(sa.select(StaffMember).where(StaffMember.login == "n.petrova"))
    assert member.role is StaffRole.ACCOUNTANT and member.active and member.totp_secret is None
    # Nowhere in the clear: not the hash, not the audit, not the logs, not the list.
    assert password not in member.password_hash
    (created,) = events(session, "staff.created")[-1:]
    assert created.actor == f"staff:{admin.id}" and created.address == "127.0.0.1"
    assert created.data["staff_id"] == member.id
    assert created.data["before"] == {}
    assert created.data["after"] == {
        "login": "n.petrova",
        "name": "Нина Петрова",
        "role": "accountant",
        "active": True,
    }
    assert password not in str(created.data) and password not in caplog.text
    assert password not in client.get(TEAM).get_data(as_text=True)
    assert password not in client.get(f"{TEAM}{member.id}").get_data(as_text=True)

    newcomer = client_at(app, "198.51.100.9")
    assert (
        StaffAuth(newcomer).login("n.petrova", password, address="198.51.100.9").status_code == 303
    )


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"login": ""}, "login", "Введите логин."),
        ({"login": "ab"}, "login", "От 3 до 64 латинских букв"),
        ({"login": "Нина"}, "login", "От 3 до 64 латинских букв"),
        ({"login": "taken"}, "login", "Этот логин занят."),
        # Sign-in finds a login in any case: "Taken" would stand in for "taken" there.
        ({"login": "Taken"}, "login", "Этот логин занят."),
        ({"name": ""}, "name", "Укажите имя."),
        ({"name": "   "}, "name", "Укажите имя."),
        ({"name": "x" * 201}, "name", "Слишком много символов"),
        ({"name": "Нина\x00"}, "name", "недопустимые символы"),
        ({"role": "boss"}, "role", "Неверный вариант"),
    ],
)
def test_a_bad_new_member_is_refused_with_a_message_and_nothing_written(
    client, session, admin, fields, field, message
):
    create_staff(session, login="taken")
    session.commit()
    before = session.scalar(sa.select(sa.func.count(StaffMember.id)))
    form = {"login": "n.petrova", "name": "Нина Петрова", "role": "operator", **fields}
    answer = post(client, TEAM + "new", **form)
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert message.lower() in page.lower()
    assert f'id="{field}-error"' in page
    assert "Пароль</dt>" not in page
    assert session.scalar(sa.select(sa.func.count(StaffMember.id))) == before


def test_the_role_changes_and_is_audited(client, session, admin):
    member = create_staff(session, role=StaffRole.OPERATOR)
    session.commit()
    answer = post(client, f"{TEAM}{member.id}/role", role="dispatcher")
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"{TEAM}{member.id}"
    session.refresh(member)
    assert member.role is StaffRole.DISPATCHER
    (event,) = events(session, "staff.role_changed")
    assert event.actor == f"staff:{admin.id}" and event.address == "127.0.0.1"
    assert event.data["staff_id"] == member.id
    assert event.data["before"] == {"role": "operator"}
    assert event.data["after"] == {"role": "dispatcher"}
    # The same role again changes nothing and records nothing.
    again = post(client, f"{TEAM}{member.id}/role", role="dispatcher")
    assert again.status_code == 303
    assert "Менять нечего." in client.get(again.headers["Location"]).get_data(as_text=True)
    assert len(events(session, "staff.role_changed")) == 1


def test_a_member_made_admin_without_a_second_factor_is_signed_out_to_enrol(
    app, client, session, admin, frozen_clock
):
    member = create_staff(session, role=StaffRole.OPERATOR)
    session.commit()
    browser = signed_in_elsewhere(app, member)
    assert post(client, f"{TEAM}{member.id}/role", role="admin").status_code == 303
    assert browser.get("/staff/").headers["Location"].startswith("/staff/login")
    assert StaffAuth(browser).login(member.login).headers["Location"] == "/staff/totp"
    assert events(session, "staff.role_changed")[-1].data["sessions_ended"] == 1


@pytest.mark.parametrize(
    ("action", "data"),
    [("role", {"role": "operator"}), ("deactivate", {})],
)
def test_an_admin_never_demotes_or_deactivates_themself(client, session, admin, action, data):
    create_staff(session, role=StaffRole.ADMIN)  # not the last admin: the rule is one's own
    session.commit()
    answer = post(client, f"{TEAM}{admin.id}/{action}", **data)
    assert answer.status_code == 400
    assert "Нельзя отключить свою учётную запись" in answer.get_data(as_text=True)
    session.refresh(admin)
    assert admin.role is StaffRole.ADMIN and admin.active
    assert client.get("/staff/").status_code == 200
    assert not events(session, "staff.role_changed") and not events(session, "staff.deactivated")


def test_the_last_active_admin_stays_an_admin(session):
    only = create_staff(session, role=StaffRole.ADMIN)
    retired = create_staff(session, role=StaffRole.ADMIN)
    retired.active = False
    operator = create_staff(session, role=StaffRole.OPERATOR)
    session.flush()
    with pytest.raises(LastAdmin):
        staff.change_role(session, only, "operator", by=operator, address=None)
    with pytest.raises(LastAdmin):
        staff.set_active(session, only, False, by=retired, address=None)
    with pytest.raises(OwnAccount):
        staff.set_active(session, only, False, by=only, address=None)
    assert only.role is StaffRole.ADMIN and only.active
    # An inactive admin is no admin to keep: demoting them is allowed.
    assert staff.change_role(session, retired, "operator", by=only, address=None)
    # With a second active admin, either may go.
    second = create_staff(session, role=StaffRole.ADMIN)
    session.flush()
    assert staff.set_active(session, only, False, by=second, address=None)


@pytest.mark.parametrize("migrated_app", ["postgres"], indirect=True)
def test_two_admins_demoting_each_other_at_once_leave_one(migrated_app):
    """PostgreSQL only (real concurrency): the admins' rows are locked while counted."""
    with migrated_app.app_context(), Session(db.engine) as setup:
        first = create_staff(setup, role=StaffRole.ADMIN)
        second = create_staff(setup, role=StaffRole.ADMIN)
        setup.commit()
        admins = [(m.id, m.login, m.totp_secret) for m in (first, second)]
    browsers = []
    for _member_id, login, secret in admins:
        browser = migrated_app.test_client()
        auth = StaffAuth(browser)
        auth.login(login)
        assert auth.code(code_for(secret)).status_code == 303
        token = csrf_from(browser.get(TEAM).get_data(as_text=True))
        browsers.append((browser, token))
    barrier, codes = threading.Barrier(2), []

    def demote(browser, token, other_id) -> None:
        barrier.wait()
        answer = browser.post(
            f"{TEAM}{other_id}/role", data={"role": "operator", "csrf_token": token}
        )
        codes.append(answer.status_code)

    threads = [
        threading.Thread(target=demote, args=(*browsers[0], admins[1][0])),
        threading.Thread(target=demote, args=(*browsers[1], admins[0][0])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes)[0] == 303 and sorted(codes)[1] in (400, 403)
    with migrated_app.app_context(), Session(db.engine) as check:
        ids = [member_id for member_id, _login, _secret in admins]
        roles = check.scalars(sa.select(StaffMember.role).where(StaffMember.id.in_(ids))).all()
        assert sorted(roles) == sorted([StaffRole.ADMIN, StaffRole.OPERATOR])
        check.execute(sa.delete(StaffSession).where(StaffSession.staff_id.in_(ids)))
        check.execute(
            sa.delete(AuditEvent).where(AuditEvent.actor.in_([f"staff:{i}" for i in ids]))
        )
        check.execute(sa.delete(StaffMember).where(StaffMember.id.in_(ids)))
        check.commit()


def test_deactivating_ends_every_session_and_reactivating_lets_in(app, client, session, admin):
    member = create_staff(session, role=StaffRole.MARKETING)
    session.commit()
    browser = signed_in_elsewhere(app, member)
    copied = browser.get_cookie("portal_staff", path="/staff/").value
    answer = post(client, f"{TEAM}{member.id}/deactivate")
    assert answer.status_code == 303
    assert "Учётная запись отключена." in client.get(answer.headers["Location"]).get_data(True)
    assert browser.get("/staff/").headers["Location"].startswith("/staff/login")
    assert live_sessions(session, member) == 0
    (event,) = events(session, "staff.deactivated")
    assert event.actor == f"staff:{admin.id}" and event.data["staff_id"] == member.id
    assert event.data["before"] == {"active": True} and event.data["after"] == {"active": False}
    assert event.data["sessions_ended"] == 1
    assert StaffAuth(browser).login(member.login, address="198.51.100.20").status_code == 401

    assert post(client, f"{TEAM}{member.id}/reactivate").status_code == 303
    (event,) = events(session, "staff.reactivated")
    assert event.data["before"] == {"active": False} and event.data["after"] == {"active": True}
    # The old cookie stays dead; a new sign-in works.
    browser.set_cookie("portal_staff", copied, path="/staff/")
    assert browser.get("/staff/").headers["Location"].startswith("/staff/login")
    assert StaffAuth(browser).login(member.login, address="198.51.100.20").status_code == 303


def test_a_reset_password_is_shown_once_ends_sessions_and_signs_in(
    app, client, session, admin, caplog
):
    caplog.set_level(logging.DEBUG)
    member = create_staff(session, role=StaffRole.OPERATOR)
    session.commit()
    browser = signed_in_elsewhere(app, member)
    answer = post(client, f"{TEAM}{member.id}/password")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    password = sheet_password(answer)
    assert password != STAFF_PASSWORD
    assert browser.get("/staff/").headers["Location"].startswith("/staff/login")
    session.refresh(member)
    assert password not in member.password_hash
    (event,) = events(session, "staff.password_reset")
    assert event.actor == f"staff:{admin.id}" and event.data["staff_id"] == member.id
    assert event.data["before"] == {"password": "previous"}
    assert event.data["after"] == {"password": "changed"}
    assert event.data["sessions_ended"] == 1
    assert password not in str(event.data) and password not in caplog.text
    assert password not in client.get(f"{TEAM}{member.id}").get_data(as_text=True)

    fresh = StaffAuth(browser)
    assert fresh.login(member.login, address="198.51.100.20").status_code == 401
    assert fresh.login(member.login, password, address="198.51.100.20").status_code == 303


def test_a_reset_second_factor_ends_sessions_and_the_admin_enrols_again(
    app, client, session, admin, frozen_clock
):
    other = create_staff(session, role=StaffRole.ADMIN)
    session.add(StaffRecoveryCode(staff_id=other.id, code_hash="x" * 64))
    session.commit()
    browser = client_at(app, "198.51.100.21")
    assert StaffAuth(browser).login(other.login, member=other).status_code == 303
    answer = post(client, f"{TEAM}{other.id}/second-factor")
    assert answer.status_code == 303
    assert browser.get("/staff/").headers["Location"].startswith("/staff/login")
    session.refresh(other)
    assert other.totp_secret is None and other.totp_last_step is None
    codes = sa.select(sa.func.count()).where(StaffRecoveryCode.staff_id == other.id)
    assert session.scalar(codes) == 0
    (event,) = events(session, "staff.second_factor_reset")
    assert event.actor == f"staff:{admin.id}" and event.data["staff_id"] == other.id
    assert event.data["before"] == {"second_factor": "enrolled"}
    assert event.data["after"] == {"second_factor": "reset"}
    assert event.data["recovery_codes_removed"] == 1 and event.data["sessions_ended"] == 1
    assert all("secret" not in key for key in event.data)
    answer = StaffAuth(browser).login(other.login, address="198.51.100.21")
    assert answer.headers["Location"] == "/staff/totp"
    # Nothing left to reset: nothing happens, nothing is recorded.
    assert post(client, f"{TEAM}{other.id}/second-factor").status_code == 303
    assert len(events(session, "staff.second_factor_reset")) == 1


def test_an_unknown_member_is_404(client, admin):
    assert client.get(f"{TEAM}999999").status_code == 404
    assert post(client, f"{TEAM}999999/deactivate").status_code == 404
    assert post(client, f"{TEAM}999999/password").status_code == 404
