"""A database that refuses to write (read-only, full, locked too long): 503 with
Retry-After and a page saying to try again; sign-out ends the session or says it did not.

Made real on both backends: PRAGMA query_only on SQLite, a read-only transaction on
PostgreSQL (SET TRANSACTION READ ONLY), on the connection the test's requests use."""

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from portal.domain.auth import signin
from portal.models import LoginSession
from tests.factories import PASSWORD, create_subscriber


@pytest.fixture
def anna(session):
    new = create_subscriber(session, login="anna")
    session.commit()
    return new


@pytest.fixture
def read_only(app):
    """Call it to make the database refuse every write from then on."""
    connection = app.config["TEST_CONNECTION"]
    sqlite = app.config["TEST_BACKEND"] == "sqlite"

    def refuse_writes():
        if sqlite:
            connection.exec_driver_sql("PRAGMA query_only = ON")
        else:
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")

    yield refuse_writes
    if sqlite:  # the connection goes back to the pool: writable for the next test
        connection.exec_driver_sql("PRAGMA query_only = OFF")


@pytest.mark.parametrize(
    ("language", "sentence"),
    [(None, "Попробуйте ещё раз через минуту"), ("en", "Please try again in a minute")],
)
def test_sign_in_on_a_read_only_database_is_a_503_saying_to_try_again(
    auth, anna, read_only, language, sentence
):
    read_only()
    headers = {"Accept-Language": language} if language else {}
    response = auth.login("anna", PASSWORD, **headers)
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert sentence in response.get_data(as_text=True)


def test_htmx_gets_the_error_fragment(auth, anna, read_only):
    token = auth.token()
    read_only()
    response = auth.client.post(
        "/login",
        data={"login": "anna", "password": PASSWORD, "csrf_token": token},
        headers={"HX-Request": "true", "Accept-Language": "en"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert "<html" not in html and "This cannot be saved just now" in html


def test_recovery_on_a_read_only_database_is_a_503(auth, anna, read_only):
    read_only()
    response = auth.recover(anna.account.contract_number, anna.person.phone)
    assert response.status_code == 503 and response.headers["Retry-After"]


def test_signed_in_pages_still_read_on_a_read_only_database(
    client, auth, anna, read_only, frozen_clock
):
    auth.login("anna", PASSWORD)
    read_only()
    frozen_clock.advance(minutes=6)  # the session's expiry would be moved: a write
    assert client.get("/").status_code == 200


def test_sign_out_that_cannot_end_the_session_says_you_are_still_signed_in(
    app, session, client, auth, anna, read_only
):
    auth.login("anna", PASSWORD)
    token = auth.token("/")
    read_only()
    response = client.post("/logout", data={"csrf_token": token}, headers={"Accept-Language": "en"})
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert "You are still signed in" in response.get_data(as_text=True)
    live = session.scalars(
        sa.select(LoginSession).where(
            LoginSession.person_id == anna.person.id, LoginSession.ended_at.is_(None)
        )
    ).all()
    assert len(live) == 1
    assert client.get("/").status_code == 200  # the cookie still works, as the page says


def test_a_database_locked_too_long_is_a_503(auth, anna, monkeypatch):
    def locked(*_args, **_kwargs):
        raise OperationalError(
            "INSERT INTO login_sessions ...", {}, Exception("database is locked")
        )

    monkeypatch.setattr(signin, "sign_in", locked)
    response = auth.login("anna", PASSWORD)
    assert response.status_code == 503 and response.headers["Retry-After"]


def test_other_database_errors_are_still_500s(auth, anna, monkeypatch):
    from sqlalchemy.exc import IntegrityError

    def broken(*_args, **_kwargs):
        raise IntegrityError("INSERT ...", {}, Exception("UNIQUE constraint failed"))

    monkeypatch.setattr(signin, "sign_in", broken)
    assert auth.login("anna", PASSWORD).status_code == 500


def test_a_sign_in_that_cannot_be_read_is_a_503_not_the_sign_in_form(
    client, auth, anna, monkeypatch
):
    """The database down or restarting: the page says to try again; the cookie holds."""
    from portal.domain.auth import credentials

    auth.login("anna", PASSWORD)

    def gone(*_args, **_kwargs):
        raise OperationalError("SELECT ... FROM login_sessions", {}, Exception("server closed"))

    with monkeypatch.context() as patched:
        patched.setattr(credentials, "resume_session", gone)
        patched.setattr(credentials, "live_session", gone)
        response = client.get("/", headers={"Accept-Language": "en"})
        assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
        assert "Please try again in a minute" in response.get_data(as_text=True)
        htmx = client.get("/", headers={"HX-Request": "true"})
        assert htmx.status_code == 503 and "<html" not in htmx.get_data(as_text=True)
    assert client.get("/").status_code == 200  # back, and still signed in
