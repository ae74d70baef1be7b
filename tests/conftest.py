"""Fixtures: an app per database backend, a database per test run, a transaction
rolled back after each test, and a controllable clock.

SQLite always runs; PostgreSQL runs when TEST_DATABASE_URL is set (.ci/run sets it).

The concurrency tests (threads on PostgreSQL, each with its own connection) must commit
for real, so their rows stay in the run's database for the tests after them: count and
list rows per account or per object, never a whole table, and ask for an order (ORDER BY)
wherever the order is asserted — PostgreSQL reuses freed space and returns rows in no
promised order.
"""

import os
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from flask_migrate import upgrade
from sqlalchemy.orm import Session

from portal import clock, create_app, jobs
from portal.db import Base
from portal.domain.auth import credentials
from portal.extensions import db, limiter
from tests import staff_audit

# argon2id at its lowest cost: about 2 ms a hash instead of 60-500 (see use_hasher). The
# servers the browser, quick-start and start-up tests launch keep the library's cost.
credentials.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))

BACKENDS = ["sqlite", "postgres"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "postgres" in item.nodeid.rsplit("[", 1)[-1]:
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory):
    """One fresh database per backend for the whole run; PostgreSQL's is dropped after."""
    urls = {"sqlite": "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.db")}
    server = os.environ.get("TEST_DATABASE_URL")
    created = None
    if server:
        created = f"portal_test_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{created}"')
        urls["postgres"] = str(
            sa.engine.make_url(server)
            .set(drivername="postgresql+psycopg", database=created)
            .render_as_string(hide_password=False)
        )
    yield urls
    if created:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)')
        admin.dispose()


TEST_SECRET_KEY = "test-secret-key-for-the-portal-test-suite"


def make_test_app(database_url: str, tmp_path, **overrides):
    config = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET_KEY,
        "PORTAL_MODE": "development",
        # Plain-HTTP cookies for the test client, except where a test starts production,
        # which refuses them.
        "SESSION_COOKIE_SECURE": overrides.get("PORTAL_MODE") == "production",
        "REMEMBER_COOKIE_SECURE": overrides.get("PORTAL_MODE") == "production",
        "RATELIMIT_STORAGE_URI": "memory://",
        # No background job thread: tests drain the queue themselves (portal.jobs).
        "PORTAL_JOBS_BACKGROUND": False,
        "REDIS_URL": None,
        # The public origin absolute URLs are made from (production requires one).
        "PORTAL_PUBLIC_URL": "https://portal.test",
        # Every record reaches caplog (the tests that check no secret is ever logged).
        "PORTAL_LOG_LEVEL": "DEBUG",
    }
    config.update(overrides)
    # Its own instance folder: keys a developer made in the checkout's instance/ (`portal
    # push keys`) must not change what a test sees.
    return create_app(config, instance_path=str(Path(tmp_path) / "instance"))


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_app(request, database_urls, tmp_path_factory):
    """The app on one backend, its database migrated once."""
    backend = request.param
    if backend not in database_urls:
        if os.environ.get("CI"):
            pytest.fail("TEST_DATABASE_URL is not set: CI must run the PostgreSQL tests")
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL")
    app = make_test_app(database_urls[backend], tmp_path_factory.mktemp("instance"))
    app.config["TEST_BACKEND"] = backend
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(migrated_app):
    """The app with its session inside a transaction that is rolled back after the test.

    No app context stays pushed during the test: each test-client request gets its own,
    as in production (a shared one would carry `g` from one request to the next).
    """
    with migrated_app.app_context():
        connection = db.engine.connect()
        limiter.reset()
    outer = connection.begin()
    db.bind_to(migrated_app, connection, join_transaction_mode="create_savepoint")
    migrated_app.config["TEST_CONNECTION"] = connection
    first_event = staff_audit.last_event_id(connection)
    try:
        yield migrated_app
        _staff_events_say_what_changed(connection, first_event)
    finally:
        jobs.forget_pending(migrated_app)  # queued in this test: its rows are gone
        db.session.remove()
        outer.rollback()
        connection.close()
        db.bind_to(migrated_app, None)


def _staff_events_say_what_changed(connection, first_event: int) -> None:
    """Fail the test whose staff actions left an audit event without `before` and
    `after` (tests/staff_audit.py). A transaction the test left unusable is its own
    failure, not this check's."""
    db.session.remove()
    try:
        missing = staff_audit.events_without_changes(connection, first_event)
    except sa.exc.SQLAlchemyError:  # aborted or inactive: the test has failed already
        return
    assert not missing, f"staff audit events without before and after: {missing}"


@pytest.fixture
def isolated_limiter():
    """For a test that creates apps of its own: Flask-Limiter's one limiter object takes
    each new app's storage (and keeps its key prefix and fallback state), so it is put
    back as it was afterwards."""
    saved = dict(limiter.__dict__)
    yield limiter
    limiter.__dict__.clear()
    limiter.__dict__.update(saved)


@pytest.fixture
def session(app):
    """The test's own session, on the same connection (and transaction) as the app's:
    what it commits, requests see; all of it is rolled back after the test."""
    with Session(
        bind=app.config["TEST_CONNECTION"],
        expire_on_commit=False,
        join_transaction_mode="create_savepoint",
    ) as test_session:
        yield test_session


def client_at(app, address: str):
    """A browser of its own at another network address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, moment: datetime):
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment

    def set(self, moment: datetime) -> None:
        self.moment = moment

    def advance(self, **delta) -> None:
        from datetime import timedelta

        self.moment += timedelta(**delta)


@pytest.fixture
def frozen_clock():
    fake = Clock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    clock.set_clock(fake)
    yield fake
    clock.set_clock(None)


CSRF_RE = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|'
    r'name="csrf_token" value="([^"]+)"'
)


def places_holding(session, secret: str) -> list[str]:
    """Where a secret sits in the clear in the database: "table.column" of every value,
    in every row of every table, that holds it (as text, inside JSON, or as bytes)."""
    found = []
    for table in Base.metadata.sorted_tables:
        for row in session.execute(sa.select(table)).mappings():
            for column, value in row.items():
                held = (
                    secret.encode() in value
                    if isinstance(value, bytes)
                    else value is not None and secret in str(value)
                )
                if held:
                    found.append(f"{table.name}.{column}")
    return found


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)


class AuthActions:
    """Sign in and out through the real forms, CSRF token included."""

    def __init__(self, client):
        self.client = client

    def token(self, path: str = "/login") -> str:
        return csrf_from(self.client.get(path, follow_redirects=True).get_data(as_text=True))

    def login(self, login: str, password: str, remember: bool = False, **headers):
        data = {"login": login, "password": password, "csrf_token": self.token()}
        if remember:
            data["remember"] = "y"
        return self.client.post("/login", data=data, headers=headers)

    def recover(self, contract: str, phone: str, send_sms: str | None = "y", **headers):
        """Ask for a new password by SMS through the real form."""
        data = {"contract": contract, "phone": phone, "csrf_token": self.token("/recover")}
        if send_sms:
            data["send_sms"] = send_sms
        return self.client.post("/recover", data=data, headers=headers)

    def logout(self):
        token = self.token("/")
        return self.client.post("/logout", data={"csrf_token": token})


def required_server(variable: str) -> str:
    """TEST_DATABASE_URL or TEST_REDIS_URL; the test skips without it (fails on CI)."""
    url = os.environ.get(variable)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{variable} is not set: CI must run the tests that need it")
        pytest.skip(f"this test needs {variable}")
    return url


@pytest.fixture
def redis_url() -> str:
    """TEST_REDIS_URL; the test skips without it (fails on CI)."""
    return required_server("TEST_REDIS_URL")


@pytest.fixture
def auth(client):
    return AuthActions(client)
