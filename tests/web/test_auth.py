"""Sign-in, sign-out, sessions that can be ended, throttling, and the layout hints."""

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, LoginSession
from tests.conftest import csrf_from
from tests.factories import PASSWORD, create_subscriber


def alert_text(response) -> str:
    """The sign-in form's alert box, where failures and hints are said."""
    html = response.get_data(as_text=True)
    start = html.index('role="alert"')
    return html[start : html.index("</div>", start)]


@pytest.fixture
def anna(session):
    new = create_subscriber(session, login="anna", balance=500_00)
    session.commit()
    return new


def test_login_page_is_a_real_sign_in_form(client):
    html = client.get("/login").get_data(as_text=True)
    assert 'name="login"' in html and 'autocomplete="username"' in html
    assert 'name="password"' in html and 'autocomplete="current-password"' in html
    assert 'type="password"' in html
    assert 'name="csrf_token"' in html
    assert 'href="tel:+79780002535"' in html


def test_sign_in_with_login_then_home_then_sign_out(client, auth, anna):
    response = auth.login("anna", PASSWORD)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert anna.account.contract_number in home.get_data(as_text=True)
    assert auth.logout().status_code == 303
    assert client.get("/").status_code == 302


def test_sign_in_with_contract_number(client, auth, anna):
    assert auth.login(anna.account.contract_number, PASSWORD).status_code == 303


def test_unknown_login_and_wrong_password_get_the_same_answer(client, auth, anna):
    wrong_password = auth.login("anna", "not-the-password")
    unknown_login = auth.login("nobody-here", "not-the-password")
    assert wrong_password.status_code == unknown_login.status_code == 401
    assert alert_text(wrong_password) == alert_text(unknown_login)


def test_failed_sign_in_is_audited_without_the_password(session, auth, anna):
    auth.login("anna", "secret-guess-123")
    failed = sa.select(AuditEvent).where(AuditEvent.event == "auth.sign_in_failed")
    events = session.scalars(failed).all()
    assert events and events[-1].data["login"] == "anna"
    assert "secret-guess-123" not in str(events[-1].data)


def test_next_only_follows_local_paths(client, auth, anna):
    token = auth.token()
    for target, expected in [
        ("/history/", "/history/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
    ]:
        r = client.post(
            "/login",
            data={"login": "anna", "password": PASSWORD, "csrf_token": token, "next": target},
        )
        assert r.headers["Location"] == expected, target
        auth.logout()
        token = auth.token()


def test_sign_out_ends_the_session_even_for_a_copied_cookie(app, client, auth, anna):
    auth.login("anna", PASSWORD)
    stolen = client.get_cookie("portal_session").value
    auth.logout()
    thief = app.test_client()
    thief.set_cookie("portal_session", stolen)
    assert thief.get("/").status_code == 302


def test_stay_signed_in_sets_a_long_lived_cookie_that_signing_out_kills(app, client, auth, anna):
    auth.login("anna", PASSWORD, remember=True)
    remember = client.get_cookie("portal_remember")
    assert remember is not None and remember.expires is not None
    # A new browser with only the remember cookie (the phone after a restart) is signed in.
    phone = app.test_client()
    phone.set_cookie("portal_remember", remember.value)
    assert phone.get("/").status_code == 200
    auth.logout()
    phone2 = app.test_client()
    phone2.set_cookie("portal_remember", remember.value)
    assert phone2.get("/").status_code == 302


def test_without_stay_signed_in_there_is_no_remember_cookie(client, auth, anna):
    auth.login("anna", PASSWORD, remember=False)
    assert client.get_cookie("portal_remember") is None


def test_session_is_renewed_at_sign_in(client, auth, anna):
    client.get("/login")
    before = client.get_cookie("portal_session").value
    auth.login("anna", PASSWORD)
    assert client.get_cookie("portal_session").value != before


def test_expired_session_asks_to_sign_in_again(client, auth, anna, frozen_clock, session):
    auth.login("anna", PASSWORD)
    frozen_clock.advance(hours=13)
    assert client.get("/").status_code == 302


def test_tampered_session_cookie_is_just_signed_out(client, auth, anna):
    auth.login("anna", PASSWORD)
    value = client.get_cookie("portal_session").value
    tampered = value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB")
    client.set_cookie("portal_session", tampered)
    assert client.get("/").status_code == 302
    client.set_cookie("portal_session", "garbage\x7f")
    assert client.get("/").status_code == 302


def test_htmx_request_without_session_gets_hx_redirect(client):
    response = client.get("/history/", headers={"HX-Request": "true"})
    assert response.headers["HX-Redirect"] == "/login"


@pytest.mark.parametrize(
    ("password", "hint"),
    [("ыщьуерштп", "Latin"), ("SECRET-PASS", "Caps Lock"), ("secret", None)],
)
def test_wrong_password_hints_at_layout_and_caps_lock(auth, anna, password, hint):
    alert = alert_text(auth.login("anna", password, **{"Accept-Language": "en"}))
    assert "Wrong login or password." in alert
    if hint:
        assert hint in alert
    else:
        assert "Latin" not in alert and "Caps Lock" not in alert


def test_failures_are_throttled_per_account_with_a_time_to_retry(app, auth, anna, session):
    for _ in range(5):
        assert auth.login("anna", "wrong-password").status_code == 401
    blocked = auth.login("anna", PASSWORD, **{"Accept-Language": "en"})
    assert blocked.status_code == 429
    assert "Try again after" in blocked.get_data(as_text=True)
    assert int(blocked.headers["Retry-After"]) > 0
    # another account from the same address is not affected yet
    create_subscriber(session, login="boris")
    session.commit()
    assert auth.login("boris", PASSWORD).status_code == 303


def test_failures_are_throttled_per_address(app, auth, anna):
    for n in range(20):
        auth.login(f"someone{n}", "wrong-password")
    assert auth.login("anna", PASSWORD).status_code == 429


def test_successful_sign_ins_are_not_counted(app, auth, anna):
    for _ in range(8):
        assert auth.login("anna", PASSWORD).status_code == 303
        auth.logout()


@pytest.mark.parametrize(
    "data",
    [
        {"login": "", "password": ""},
        {"login": "a" * 65, "password": "x"},
        {"login": "anna", "password": "x" * 129},
        {"login": "an\x00na", "password": "x"},
        {"login": "anna", "password": "pa\x1bss"},
        {"login": "\ufffd", "password": "x"},
    ],
)
def test_bad_sign_in_input_is_a_clear_400(client, auth, data):
    response = client.post("/login", data=data | {"csrf_token": auth.token()})
    assert response.status_code == 400
    assert 'class="field-error"' in response.get_data(as_text=True)


def test_non_utf8_form_body_is_not_a_500(client, auth):
    token = auth.token()
    body = b"login=%FF%FE&password=%C3%28&csrf_token=" + token.encode()
    response = client.post("/login", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code in (400, 401)


def test_sign_in_without_csrf_token_is_refused(client, anna):
    response = client.post("/login", data={"login": "anna", "password": PASSWORD})
    assert response.status_code == 400


def test_sign_out_is_a_post_only(client, auth, anna):
    auth.login("anna", PASSWORD)
    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200


def test_sign_in_records_a_server_side_session(session, auth, anna):
    auth.login("anna", PASSWORD, **{"User-Agent": "TestPhone/1.0"})
    record = session.scalars(
        sa.select(LoginSession).where(LoginSession.person_id == anna.person.id)
    ).one()
    assert record.ended_at is None and record.user_agent == "TestPhone/1.0"
    assert len(record.token_hash) == 64
    auth.logout()
    session.expire_all()
    assert session.get(LoginSession, record.id).ended_at is not None


def test_csrf_token_from_meta_header_works_for_htmx(client, auth, anna):
    auth.login("anna", PASSWORD)
    html = client.get("/").get_data(as_text=True)
    token = csrf_from(html)
    assert f'"X-CSRFToken": "{token}"' in html
    r = client.post("/logout", headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert r.status_code == 303


def test_throttle_is_shared_between_processes_through_redis(app, tmp_path, session):
    """Two app processes (two app objects here) count failures in one Redis."""
    import os

    from tests.conftest import make_test_app

    redis_url = os.environ.get("TEST_REDIS_URL")
    if not redis_url:
        if os.environ.get("CI"):
            pytest.fail("TEST_REDIS_URL is not set: CI must run the Redis tests")
        pytest.skip("Redis tests need TEST_REDIS_URL")
    import uuid

    create_subscriber(session, login="shared")
    session.commit()
    prefix = f"test-{uuid.uuid4().hex}"
    apps = [
        make_test_app(
            app.config["DATABASE_URL"],
            tmp_path,
            REDIS_URL=redis_url,
            RATELIMIT_STORAGE_URI=redis_url,
            RATELIMIT_KEY_PREFIX=prefix,  # this run's counters only, whatever else is there
        )
        for _ in range(2)
    ]
    for other in apps:  # both see this test's data, in this test's transaction
        db.bind_to(other, app.config["TEST_CONNECTION"], join_transaction_mode="create_savepoint")
    clients = [AuthActionsFor(a) for a in apps]
    for n in range(5):
        assert clients[n % 2].login("shared", "wrong").status_code == 401
    assert clients[0].login("shared", PASSWORD).status_code == 429
    assert clients[1].login("shared", PASSWORD).status_code == 429


def AuthActionsFor(app):
    from tests.conftest import AuthActions

    return AuthActions(app.test_client())
