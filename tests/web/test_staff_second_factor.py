"""Two-step sign-in to the console: required for an admin, optional for the others; a
code is never accepted twice; recovery codes work once; guessing ends the session."""

import re
import threading

import pyotp
import pytest
import sqlalchemy as sa

from portal.models import AuditEvent, StaffMember, StaffRecoveryCode, StaffRole
from tests.conftest import csrf_from
from tests.factories import create_staff
from tests.web.test_staff_console import StaffAuth, code_for


@pytest.fixture
def staff_auth(client):
    return StaffAuth(client)


def enrol(client, secret_holder: dict):
    """Read the key from the enrolment page and turn it on with a code from it."""
    page = client.get("/staff/totp").get_data(as_text=True)
    secret = re.search(r'id="totp-key">([A-Z2-7]+)<', page).group(1)
    secret_holder["secret"] = secret
    return client.post(
        "/staff/totp", data={"code": code_for(secret), "csrf_token": csrf_from(page)}
    )


def test_an_admin_without_the_app_must_enrol_before_anything(client, staff_auth, session):
    admin = create_staff(session, role=StaffRole.ADMIN, totp_secret="")
    session.commit()
    answer = staff_auth.login(admin.login)
    assert answer.headers["Location"] == "/staff/totp"
    assert client.get("/staff/").headers["Location"] == "/staff/totp"
    assert client.get("/staff/subscribers/new").headers["Location"] == "/staff/totp"
    page = client.get("/staff/totp").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page

    held = {}
    shown = enrol(client, held)
    assert shown.status_code == 200
    codes = re.findall(r'<li><code class="secret">([a-z2-9-]+)</code></li>', shown.get_data(True))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/staff/").status_code == 200
    session.expire_all()
    member = session.get(StaffMember, admin.id)
    assert member.totp_secret == held["secret"]
    stored = session.scalars(
        sa.select(StaffRecoveryCode.code_hash).where(StaffRecoveryCode.staff_id == admin.id)
    ).all()
    assert len(stored) == 10 and not set(codes) & set(stored)
    events = session.scalars(
        sa.select(AuditEvent.event).where(AuditEvent.actor == f"staff:{admin.id}")
    )
    assert {"staff.password_accepted", "staff.totp_enrolled", "staff.signed_in"} <= set(events)
    enrolled = session.scalar(
        sa.select(AuditEvent).where(
            AuditEvent.actor == f"staff:{admin.id}", AuditEvent.event == "staff.totp_enrolled"
        )
    )
    assert enrolled.data["before"] == {"second_factor": "none"}
    assert enrolled.data["after"] == {
        "second_factor": "enrolled",
        "key": "new",
        "recovery_codes": 10,
    }
    assert held["secret"] not in str(enrolled.data)


def test_a_wrong_code_at_enrolment_turns_nothing_on(client, staff_auth, session):
    admin = create_staff(session, role=StaffRole.ADMIN, totp_secret="")
    session.commit()
    staff_auth.login(admin.login)
    page = client.get("/staff/totp").get_data(as_text=True)
    answer = client.post("/staff/totp", data={"code": "000000", "csrf_token": csrf_from(page)})
    assert answer.status_code == 400
    assert "Неверный код" in answer.get_data(as_text=True)
    session.expire_all()
    assert session.get(StaffMember, admin.id).totp_secret is None
    assert client.get("/staff/").headers["Location"] == "/staff/totp"


def test_an_enrolled_member_gives_a_code_after_the_password(client, staff_auth, session):
    admin = create_staff(session, role=StaffRole.ADMIN)
    session.commit()
    assert staff_auth.login(admin.login).headers["Location"] == "/staff/login/code"
    assert client.get("/staff/").headers["Location"] == "/staff/login/code"
    answer = staff_auth.code(code_for(admin.totp_secret))
    assert answer.status_code == 303 and answer.headers["Location"] == "/staff/"
    assert client.get("/staff/").status_code == 200


def test_a_signed_in_session_alone_cannot_replace_the_key(client, staff_auth, session):
    """Whoever holds a signed-in console (a copied cookie, a desk left open) must not be
    able to put the second factor on a phone of theirs and read new recovery codes."""
    member = create_staff(session, role=StaffRole.OPERATOR, totp_secret=pyotp.random_base32())
    session.commit()
    own_key = member.totp_secret
    codes_before = set(
        session.scalars(
            sa.select(StaffRecoveryCode.code_hash).where(StaffRecoveryCode.staff_id == member.id)
        )
    )
    assert staff_auth.login(member.login, member=member).status_code == 303
    page = client.get("/staff/totp")
    assert page.status_code == 303 and page.headers["Location"] == "/staff/"
    told = client.get("/staff/").get_data(as_text=True)
    assert "попросите администратора сбросить второй фактор" in told
    token = csrf_from(client.get("/staff/").get_data(as_text=True))
    strangers_key = pyotp.random_base32()
    with client.session_transaction() as cookie_session:
        cookie_session["staff_totp_enrolment"] = strangers_key
    answer = client.post("/staff/totp", data={"code": code_for(strangers_key), "csrf_token": token})
    assert answer.status_code == 303 and answer.headers["Location"] == "/staff/"
    session.expire_all()
    assert session.get(StaffMember, member.id).totp_secret == own_key
    codes_after = set(
        session.scalars(
            sa.select(StaffRecoveryCode.code_hash).where(StaffRecoveryCode.staff_id == member.id)
        )
    )
    assert codes_after == codes_before
    replaced = sa.select(AuditEvent).where(AuditEvent.event == "staff.totp_enrolled")
    assert session.scalars(replaced).all() == []


def test_a_key_shown_to_one_member_is_never_anothers(client, staff_auth, session):
    """A console shared at the office: a key one member saw on the enrolment page (and
    left unfinished) must not become the next member's second factor."""
    first = create_staff(session, role=StaffRole.OPERATOR)
    second = create_staff(session, role=StaffRole.ADMIN, totp_secret="")
    session.commit()
    staff_auth.login(first.login)
    seen = re.search(r'id="totp-key">([A-Z2-7]+)<', client.get("/staff/totp").get_data(True))
    token = csrf_from(client.get("/staff/").get_data(as_text=True))
    assert client.post("/staff/logout", data={"csrf_token": token}).status_code == 303
    with client.session_transaction() as cookie_session:  # readable by the next one at the desk
        assert "staff_totp_enrolment" not in cookie_session
    assert staff_auth.login(second.login).headers["Location"] == "/staff/totp"
    held = {}
    assert enrol(client, held).status_code == 200
    assert held["secret"] != seen.group(1)
    session.expire_all()
    assert session.get(StaffMember, second.id).totp_secret == held["secret"]


def test_a_code_is_never_accepted_twice(app, client, staff_auth, session, frozen_clock):
    admin = create_staff(session, role=StaffRole.ADMIN)
    session.commit()
    code = code_for(admin.totp_secret)
    staff_auth.login(admin.login)
    assert staff_auth.code(code).status_code == 303
    other = app.test_client()
    second = StaffAuth(other)
    second.login(admin.login)
    replay = second.code(code)
    assert replay.status_code == 401
    assert "Неверный код" in replay.get_data(as_text=True)
    frozen_clock.advance(seconds=30)
    assert second.code(code_for(admin.totp_secret)).status_code == 303


def test_a_code_from_a_phone_a_step_off_is_accepted(client, staff_auth, session, frozen_clock):
    admin = create_staff(session, role=StaffRole.ADMIN)
    session.commit()
    staff_auth.login(admin.login)
    late = pyotp.TOTP(admin.totp_secret).at(frozen_clock.moment.timestamp() - 30)
    assert staff_auth.code(late).status_code == 303


def test_five_wrong_codes_end_the_half_open_session(client, staff_auth, session):
    admin = create_staff(session, role=StaffRole.ADMIN)
    session.commit()
    staff_auth.login(admin.login)
    answers = [staff_auth.code("123456") for _ in range(5)]
    assert [a.status_code for a in answers[:4]] == [401] * 4
    assert answers[4].status_code == 303 and answers[4].headers["Location"] == "/staff/login"
    assert client.get("/staff/login/code").headers["Location"].startswith("/staff/login")
    failed = session.scalars(sa.select(AuditEvent).where(AuditEvent.event == "staff.code_failed"))
    assert len(failed.all()) == 5


def test_a_recovery_code_signs_in_once(client, staff_auth, session):
    admin = create_staff(session, role=StaffRole.ADMIN, totp_secret="")
    session.commit()
    staff_auth.login(admin.login)
    codes = re.findall(
        r'<code class="secret">([a-z2-9-]+)</code>', enrol(client, {}).get_data(True)
    )
    client.delete_cookie("portal_staff", path="/staff/")
    staff_auth.login(admin.login)
    assert staff_auth.code(codes[3].upper()).status_code == 303
    client.delete_cookie("portal_staff", path="/staff/")
    staff_auth.login(admin.login)
    assert staff_auth.code(codes[3]).status_code == 401


def test_an_operator_signs_in_with_the_password_alone_until_enrolling(client, staff_auth, session):
    operator = create_staff(session, role=StaffRole.OPERATOR)
    session.commit()
    assert staff_auth.login(operator.login).headers["Location"] == "/staff/"
    assert "/staff/totp" in client.get("/staff/").get_data(as_text=True)
    assert enrol(client, {}).status_code == 200
    client.delete_cookie("portal_staff", path="/staff/")
    assert staff_auth.login(operator.login).headers["Location"] == "/staff/login/code"


def test_the_code_page_needs_the_password_first(client):
    answer = client.get("/staff/login/code")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/staff/login")


@pytest.mark.parametrize("migrated_app", ["postgres"], indirect=True)
@pytest.mark.parametrize("factor", ["totp", "recovery_code"])
def test_one_code_sent_twice_at_once_signs_in_once(migrated_app, factor):
    """A code seen over a shoulder and typed in another browser in the same moment: the
    step (or the recovery code) is spent by one conditional UPDATE, so the second finds
    it spent. PostgreSQL only (real concurrency)."""
    from sqlalchemy.orm import Session

    from portal.domain import totp
    from portal.domain.auth import credentials
    from portal.extensions import db
    from portal.models import StaffSession

    recovery = totp.new_recovery_codes()[0]
    with migrated_app.app_context(), Session(db.engine) as setup:
        member = create_staff(setup, totp_secret=totp.new_secret())
        setup.add(StaffRecoveryCode(staff_id=member.id, code_hash=credentials.token_hash(recovery)))
        setup.commit()
        member_id, login, secret = member.id, member.login, member.totp_secret
    try:
        browsers = []
        for _ in range(2):
            browser = migrated_app.test_client()
            StaffAuth(browser).login(login)
            browsers.append(browser)
        code = code_for(secret) if factor == "totp" else recovery
        barrier, answers = threading.Barrier(2), []

        def send(browser) -> None:
            token = csrf_from(browser.get("/staff/login/code").get_data(as_text=True))
            barrier.wait()
            answer = browser.post("/staff/login/code", data={"code": code, "csrf_token": token})
            answers.append(answer.status_code)

        threads = [threading.Thread(target=send, args=(b,)) for b in browsers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(answers)[0] == 303 and sorted(answers)[1] != 303, answers
    finally:
        with migrated_app.app_context(), Session(db.engine) as check:
            check.execute(sa.delete(StaffSession).where(StaffSession.staff_id == member_id))
            check.execute(
                sa.delete(StaffRecoveryCode).where(StaffRecoveryCode.staff_id == member_id)
            )
            check.execute(sa.delete(AuditEvent).where(AuditEvent.actor == f"staff:{member_id}"))
            check.execute(sa.delete(StaffMember).where(StaffMember.id == member_id))
            check.commit()


@pytest.mark.parametrize("second_step", ["/staff/login/code", "/staff/totp"])
def test_a_half_open_session_signs_out_from_the_second_step(
    client, staff_auth, session, second_step
):
    """A member who typed the password and walks away from the code (or the enrolment)
    page: the next one at the desk, or the member, ends that session there."""
    enrolled = second_step == "/staff/login/code"
    member = create_staff(session, role=StaffRole.ADMIN, totp_secret=None if enrolled else "")
    session.commit()
    assert staff_auth.login(member.login).headers["Location"] == second_step
    page = client.get(second_step).get_data(as_text=True)
    assert 'action="/staff/logout"' in page
    answer = client.post("/staff/logout", data={"csrf_token": csrf_from(page)})
    assert answer.status_code == 303 and answer.headers["Location"] == "/staff/login"
    assert client.get(second_step).headers["Location"].startswith("/staff/login")
    ended = session.scalar(
        sa.select(AuditEvent).where(
            AuditEvent.event == "staff.signed_out", AuditEvent.actor == f"staff:{member.id}"
        )
    )
    assert ended is not None
