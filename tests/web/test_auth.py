"""Sign-in, sign-out, sessions that can be ended, throttling, and the layout hints."""

import re

import pytest
import sqlalchemy as sa

from portal.domain import sms
from portal.extensions import db, limiter
from portal.models import AuditEvent, LoginSession, Person, SmsMessage
from tests.conftest import TEST_SECRET_KEY, AuthActions, client_at, csrf_from
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
    failed = (
        sa.select(AuditEvent)
        .where(AuditEvent.event == "auth.sign_in_failed")
        .order_by(AuditEvent.id)
    )
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


def session_cookie_contents(app, client) -> dict:
    serializer = app.session_interface.get_signing_serializer(app)
    return serializer.loads(client.get_cookie("portal_session").value)


@pytest.mark.parametrize("remember", [True, False])
def test_the_session_cookie_holds_the_token_and_no_address_hash(app, client, auth, anna, remember):
    # Flask-Login's `_id` serves only its own session protection, which is off here.
    auth.login("anna", PASSWORD, remember=remember)
    assert client.get("/").status_code == 200
    contents = session_cookie_contents(app, client)
    assert contents["_user_id"] and "_id" not in contents


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


def test_boosted_navigation_without_session_is_a_full_page_load_of_sign_in(client):
    # A 302 would be followed inside htmx and swapped under the signed-in page's <body>.
    headers = {"HX-Request": "true", "HX-Boosted": "true"}
    response = client.get("/history/", headers=headers)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/login?next=/history/"


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


def from_address(app, address: str) -> AuthActions:
    return AuthActions(client_at(app, address))


def test_a_strangers_failures_do_not_keep_the_owner_out(app, anna):
    stranger = from_address(app, "203.0.113.66")
    for _ in range(20):
        assert stranger.login("anna", "wrong-password").status_code in (401, 429)
    owner = from_address(app, "198.51.100.7")
    assert owner.login("anna", PASSWORD).status_code == 303


def test_every_spelling_of_the_account_counts_against_it(app, session, anna):
    stranger = from_address(app, "203.0.113.66")
    for typed in ["anna", "ANNA", " Anna ", anna.account.contract_number]:
        assert stranger.login(typed, "wrong-password").status_code == 401
    session.expire_all()
    assert session.get(Person, anna.person.id).failed_sign_ins == 4
    assert from_address(app, "198.51.100.7").login("anna", PASSWORD).status_code == 303
    session.expire_all()
    assert session.get(Person, anna.person.id).failed_sign_ins == 0


def test_unknown_logins_leave_no_state_but_the_address_count(app, session, auth):
    people_before = session.scalar(sa.select(sa.func.sum(Person.failed_sign_ins)))
    for _ in range(3):
        assert auth.login("no-such-login-xyz", "wrong-password").status_code == 401
    session.expire_all()
    assert session.scalar(sa.select(sa.func.sum(Person.failed_sign_ins))) == people_before
    with app.app_context():
        keys = " ".join(limiter.storage.storage)  # the in-memory counters of this test
    assert "no-such-login" not in keys and "127.0.0.1" in keys


def pause_sign_in_of(session, person_id: int, failures: int) -> None:
    session.execute(
        sa.update(Person).where(Person.id == person_id).values(failed_sign_ins=failures)
    )
    session.commit()


def test_at_the_limit_a_new_device_is_refused_and_the_phone_told(app, session, anna):
    pause_sign_in_of(session, anna.person.id, 99)
    stranger = from_address(app, "203.0.113.66")
    assert stranger.login("anna", "wrong-password").status_code == 401
    told = session.scalars(sa.select(SmsMessage).where(SmsMessage.purpose == "sign_in_paused"))
    assert [m.to_phone for m in told] == [anna.person.phone]
    new_device = from_address(app, "198.51.100.7")
    right = new_device.login("anna", PASSWORD, **{"Accept-Language": "en"})
    wrong = from_address(app, "198.51.100.8").login("anna", "nope", **{"Accept-Language": "en"})
    unknown = from_address(app, "198.51.100.9").login("nobody", "x", **{"Accept-Language": "en"})
    assert right.status_code == wrong.status_code == unknown.status_code == 401
    assert alert_text(right) == alert_text(wrong) == alert_text(unknown)


def test_a_trusted_device_signs_in_despite_the_failures(app, session, anna):
    owner = from_address(app, "198.51.100.7")
    assert owner.login("anna", PASSWORD).status_code == 303
    assert owner.client.get_cookie("portal_device") is not None
    owner.logout()
    pause_sign_in_of(session, anna.person.id, 150)
    for n in range(25):  # the owner's own address is over its limit too (a shared NAT)
        from_address(app, "198.51.100.7").login(f"someone{n}", "wrong-password")
    assert from_address(app, "198.51.100.7").login("anna", PASSWORD).status_code == 429
    assert owner.login("anna", PASSWORD).status_code == 303
    session.expire_all()
    assert session.get(Person, anna.person.id).failed_sign_ins == 0


def test_a_trusted_device_has_a_limit_of_its_own(app, anna):
    owner = from_address(app, "198.51.100.7")
    assert owner.login("anna", PASSWORD).status_code == 303
    owner.logout()
    statuses = [owner.login("anna", "wrong-password").status_code for _ in range(11)]
    assert statuses == [401] * 10 + [429]


def test_a_device_trusted_by_someone_else_is_not_trusted_for_this_account(app, session, anna):
    create_subscriber(session, login="boris")
    session.commit()
    device = from_address(app, "198.51.100.7")
    assert device.login("boris", PASSWORD).status_code == 303
    device.logout()
    pause_sign_in_of(session, anna.person.id, 100)
    assert device.login("anna", PASSWORD).status_code == 401


def test_a_forged_device_cookie_is_ignored(app, session, anna):
    pause_sign_in_of(session, anna.person.id, 100)
    device = from_address(app, "198.51.100.7")
    device.client.set_cookie("portal_device", "eyJkIjoieCIsInAiOlsxXX0.forged.sig")
    assert device.login("anna", PASSWORD).status_code == 401


def test_a_recovery_secret_still_signs_in_at_the_limit(app, session, client, anna):
    pause_sign_in_of(session, anna.person.id, 100)
    AuthActions(client).recover(anna.account.contract_number, anna.person.phone)
    message = session.scalars(sa.select(SmsMessage).where(SmsMessage.purpose == "recovery")).one()
    with app.app_context():
        secret = re.search(r"пароль (\S+)", sms.text_of(message, TEST_SECRET_KEY)).group(1)
    assert from_address(app, "198.51.100.7").login("anna", secret).status_code == 303


@pytest.mark.parametrize(
    ("language", "sentence"),
    [(None, "Слишком много неудачных попыток"), ("en", "Too many unsuccessful attempts")],
)
def test_too_many_attempts_says_when_in_the_readers_language(app, anna, language, sentence):
    stranger = from_address(app, "203.0.113.66")
    for n in range(10):
        assert stranger.login(f"someone{n}", "wrong").status_code == 401
    headers = {"Accept-Language": language} if language else {}
    blocked = stranger.login("anna", PASSWORD, **headers)
    assert blocked.status_code == 429
    assert sentence in blocked.get_data(as_text=True)
    assert 0 < int(blocked.headers["Retry-After"]) <= 60


def test_failures_are_throttled_per_address(app, auth, anna):
    for n in range(20):
        auth.login(f"someone{n}", "wrong-password")
    assert auth.login("anna", PASSWORD).status_code == 429


def test_the_addresses_of_one_ipv6_network_share_the_limit(app, anna):
    """One subscriber line gets a whole /64: a new address from it for every guess must
    not be a new allowance."""
    for n in range(1, 21):
        from_address(app, f"2001:db8:7:1::{n:x}").login(f"someone{n}", "wrong-password")
    same_network = from_address(app, "2001:db8:7:1:ffff:1:2:3")
    assert same_network.login("anna", PASSWORD).status_code == 429
    assert from_address(app, "2001:db8:7:2::1").login("anna", PASSWORD).status_code == 303


def test_recovery_requests_from_one_ipv6_network_share_the_limit(app, anna):
    for n in range(1, 11):
        answer = from_address(app, f"2001:db8:7:1::{n:x}").recover("000000", "+79780000000")
        assert answer.status_code == 303
    same_network = from_address(app, "2001:db8:7:1::ff")
    assert same_network.recover("000000", "+79780000000").status_code == 429


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


def test_throttle_is_shared_between_processes_through_redis(
    app, tmp_path, isolated_limiter, redis_url
):
    """Two app processes (two app objects here) count an address's failures in one Redis."""
    import uuid

    from tests.conftest import make_test_app

    apps = [
        make_test_app(
            app.config["DATABASE_URL"],
            tmp_path,
            REDIS_URL=redis_url,
            RATELIMIT_STORAGE_URI=redis_url,
            RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}",  # this run's counters only
            PORTAL_LOGIN_LIMIT_ADDRESS="3 per hour",
        )
        for _ in range(2)
    ]
    for other in apps:  # both see this test's data, in this test's transaction
        db.bind_to(other, app.config["TEST_CONNECTION"], join_transaction_mode="create_savepoint")
    clients = [AuthActions(a.test_client()) for a in apps]
    for n in range(3):
        assert clients[n % 2].login("nobody", "wrong").status_code == 401
    assert clients[0].login("nobody", "wrong").status_code == 429
    assert clients[1].login("nobody", "wrong").status_code == 429


def closed_port() -> int:
    """A local port nothing listens on (taken and given back at once)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_with_redis_unreachable_limits_are_kept_in_the_process(
    app, tmp_path, session, isolated_limiter, caplog
):
    from tests.conftest import make_test_app

    create_subscriber(session, login="vera", phone="+7 978 321-00-00", contract="424242")
    session.commit()
    redis_url = f"redis://127.0.0.1:{closed_port()}/0"
    down = make_test_app(
        app.config["DATABASE_URL"],
        tmp_path,
        REDIS_URL=redis_url,
        RATELIMIT_STORAGE_URI=redis_url,
        PORTAL_LOGIN_LIMIT_ADDRESS="3 per hour",
    )
    db.bind_to(down, app.config["TEST_CONNECTION"], join_transaction_mode="create_savepoint")
    stranger = AuthActions(down.test_client())
    statuses = [stranger.login("vera", "wrong").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]  # the address limit, kept in this process
    assert "falling back to in-memory storage" in caplog.text
    assert from_address(down, "198.51.100.7").login("vera", PASSWORD).status_code == 303
    assert AuthActions(down.test_client()).recover("424242", "+79783210000").status_code == 303


class Relay:
    """A TCP relay to a real server that can be switched off and on (an outage)."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = closed_port()
        self.listener = None

    def start(self) -> None:
        import socket
        import threading

        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def stop(self) -> None:
        self.listener.close()

    def _accept(self, listener) -> None:
        import socket
        import threading

        while True:
            try:
                near, _ = listener.accept()
            except OSError:
                return
            far = socket.create_connection(self.target)
            for a, b in ((near, far), (far, near)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()


def test_limits_go_back_to_redis_when_it_answers_again(app, tmp_path, isolated_limiter, redis_url):
    import time
    import uuid

    from tests.conftest import make_test_app

    real = sa.engine.make_url(redis_url.replace("redis://", "postgresql://"))
    relay = Relay((real.host, real.port or 6379))
    relayed = f"redis://127.0.0.1:{relay.port}/{real.database or 0}"
    down = make_test_app(
        app.config["DATABASE_URL"],
        tmp_path,
        REDIS_URL=relayed,
        RATELIMIT_STORAGE_URI=relayed,
        RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}",
        PORTAL_LOGIN_LIMIT_ADDRESS="2 per hour",
    )
    db.bind_to(down, app.config["TEST_CONNECTION"], join_transaction_mode="create_savepoint")
    client = AuthActions(down.test_client())
    assert client.login("nobody", "wrong").status_code == 401  # Redis down: in memory
    assert isolated_limiter._storage_dead
    relay.start()
    try:
        time.sleep(2.1)  # Flask-Limiter looks again after 1, 2, 4... seconds
        assert client.login("nobody", "wrong").status_code == 401
        assert not isolated_limiter._storage_dead  # back on Redis, counting from there
        assert client.login("nobody", "wrong").status_code == 401
        assert client.login("nobody", "wrong").status_code == 429
    finally:
        relay.stop()


def test_a_new_password_takes_the_trust_from_other_devices(app, session, anna, frozen_clock):
    thief = from_address(app, "203.0.113.66")  # signed in once with a stolen password
    assert thief.login("anna", PASSWORD).status_code == 303
    thief.logout()
    owner = from_address(app, "198.51.100.7")
    assert owner.login("anna", PASSWORD).status_code == 303
    frozen_clock.advance(minutes=1)
    token = csrf_from(owner.client.get("/profile/password").get_data(as_text=True))
    new = "a brand new password"
    changed = owner.client.post(
        "/profile/password",
        data={"current": PASSWORD, "new": new, "repeat": new, "csrf_token": token},
    )
    assert changed.status_code == 303
    owner.logout()
    pause_sign_in_of(session, anna.person.id, 100)
    assert thief.login("anna", new).status_code == 401  # no longer a trusted device
    assert owner.login("anna", new).status_code == 303  # where the password was chosen
