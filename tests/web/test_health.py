"""The probes: /healthz (the process answers) and /readyz (the database and Redis
answer), public, sessionless, never rate-limited, and honest when a part is down."""

import socket

import pytest

from portal.extensions import db
from tests.conftest import make_test_app
from tests.factories import PASSWORD, create_subscriber


def closed_port() -> int:
    """A local port nothing listens on (taken and given back at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def dead_database_url(backend: str, tmp_path) -> str:
    if backend == "postgres":
        return f"postgresql+psycopg://portal@127.0.0.1:{closed_port()}/portal?connect_timeout=2"
    return f"sqlite:///{tmp_path / 'no-such-folder' / 'portal.db'}"


@pytest.fixture
def app_without_database(app, tmp_path, isolated_limiter):
    """An app of the same backend whose database does not answer."""
    down = make_test_app(dead_database_url(app.config["TEST_BACKEND"], tmp_path), tmp_path)
    yield down
    with down.app_context():
        db.engine.dispose()


def test_healthz_answers_with_no_session_and_a_request_id(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "ok\n"
    assert response.mimetype == "text/plain"
    assert "Set-Cookie" not in response.headers  # no session is made
    assert response.headers["Cache-Control"] == "no-store"
    assert len(response.headers["X-Request-ID"]) == 32


def test_readyz_says_what_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "database: ok\n"  # no Redis configured
    assert "Set-Cookie" not in response.headers


def test_database_down_readyz_is_503_and_healthz_still_answers(app_without_database):
    client = app_without_database.test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_data(as_text=True) == "database: unavailable\n"
    assert ready.headers["Retry-After"] == "10"
    assert ready.mimetype == "text/plain"  # a short body for the balancer, not a page
    alive = client.get("/healthz")
    assert alive.status_code == 200 and alive.get_data(as_text=True) == "ok\n"


def test_database_down_healthz_answers_a_signed_in_browser_too(app, session, tmp_path, auth):
    """A probe sent with a session cookie reads no session from the database it cannot
    reach: /healthz still says the process is alive."""
    create_subscriber(session, login="probe")
    session.commit()
    assert auth.login("probe", PASSWORD).status_code == 303
    down = make_test_app(dead_database_url(app.config["TEST_BACKEND"], tmp_path), tmp_path)
    try:
        browser = down.test_client()
        for cookie in auth.client._cookies.values():
            browser.set_cookie(cookie.key, cookie.value, domain=cookie.domain)
        assert browser.get("/healthz").status_code == 200
        assert browser.get("/readyz").status_code == 503
    finally:
        with down.app_context():
            db.engine.dispose()


def test_redis_down_readyz_is_503_naming_redis(app, tmp_path, isolated_limiter):
    down = make_test_app(
        app.config["DATABASE_URL"], tmp_path, REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0"
    )
    response = down.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_data(as_text=True) == "database: ok\nredis: unavailable\n"
    assert down.test_client().get("/healthz").status_code == 200
    with down.app_context():
        db.engine.dispose()


@pytest.mark.redis
def test_redis_up_readyz_is_200_naming_both(app, tmp_path, isolated_limiter, redis_url):
    up = make_test_app(app.config["DATABASE_URL"], tmp_path, REDIS_URL=redis_url)
    response = up.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "database: ok\nredis: ok\n"
    up.extensions["portal_health_redis"].close()
    with up.app_context():
        db.engine.dispose()


def test_probes_are_not_rate_limited(app, tmp_path, isolated_limiter):
    """Even a limit on the whole application leaves the probes alone (a balancer that
    probes every second must never see a 429)."""
    limited = make_test_app(
        app.config["DATABASE_URL"], tmp_path, RATELIMIT_APPLICATION="3 per minute"
    )
    try:
        client = limited.test_client()
        assert [client.get("/login").status_code for _ in range(4)][-1] == 429
        for path in ("/healthz", "/readyz"):
            assert {client.get(path).status_code for _ in range(10)} == {200}
    finally:
        # The one limiter object keeps application limits in its limit manager, which
        # isolated_limiter does not put back: no other app of the run has any.
        isolated_limiter.limit_manager.set_application_limits([])
        with limited.app_context():
            db.engine.dispose()
