"""PostgreSQL really stopped and started under a running portal (issue 14, faults): a
cluster of the module's own (initdb, pg_ctl: bench/postgres_restart.py's Cluster, as the
postgres user when run as root), so the shared server is untouched; gunicorn (one
worker, the sample config) on it.

- Requests in flight when the server stops, and those made while it is down, get a 503
  with Retry-After and the retry page, never a 500 or a trace; once it is started again
  the same signed-in browser is served at once, the app not restarted (pool_pre_ping).
- The staff console the same: a signed-in member's page and the staff sign-in get the
  503 and the retry page while the database is down, not the sign-in form (which would
  say the session is over) and not a 500.

The figures (answers every 50 ms through a restart, how soon the first page came back):
bench/postgres_restart.py.
"""

import contextlib
import os
import threading
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bench import postgres_restart
from portal.domain import staff
from portal.models import StaffRole
from tests.conftest import csrf_from
from tests.test_faults import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

STAFF_LOGIN, STAFF_PASSWORD = "duty", "duty-password-2026"
EN = {"Accept-Language": "en"}


class Server:
    """The module's PostgreSQL cluster and the portal on it."""

    def __init__(self, cluster: postgres_restart.Cluster, base: str, folder: Path):
        self.cluster, self.base, self.folder, self.up = cluster, base, folder, True

    def stop(self) -> None:
        self.cluster.stop()  # -m fast: the connections in use are cut
        self.up = False

    def start(self) -> None:
        self.cluster.start()
        self.up = True

    def log(self) -> str:
        return (self.folder / "web.log").read_text()


@pytest.fixture(scope="module")
def server():
    if postgres_restart.server_tools() is None:
        if os.environ.get("CI"):
            pytest.fail("initdb and pg_ctl are not installed: CI must run the PostgreSQL restart")
        pytest.skip("this test needs initdb and pg_ctl (PostgreSQL's server package)")
    from portal.extensions import limiter

    saved_limiter = dict(limiter.__dict__)  # the setup's app binds it; the tests' own after
    with postgres_restart.portal_on_own_cluster() as (cluster, base, folder):
        limiter.__dict__.clear()
        limiter.__dict__.update(saved_limiter)
        engine = sa.create_engine(cluster.url)
        with Session(engine) as session:
            staff.create_staff(
                session, login=STAFF_LOGIN, name="Дежурный", role=StaffRole.OPERATOR,
                password=STAFF_PASSWORD, actor="test",
            )  # fmt: skip
            session.commit()
        engine.dispose()
        yield Server(cluster, base, folder)


@pytest.fixture
def database_down(server):
    """Call it to stop the server; started again after the test if it is still down."""
    yield server.stop
    if not server.up:
        server.start()


def assert_retry_page(response: requests.Response) -> None:
    """The database's 503: Retry-After and the page saying to try again, no trace."""
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert int(response.headers["Retry-After"]) > 0
    assert "try again" in response.text and "Traceback" not in response.text


def stopped_under(server, stop, browser, path: str, table: str) -> requests.Response:
    """The answer to GET `path`, which waits on a lock of `table` that this test holds
    (a table it reads after the sign-in is loaded) when `stop` stops the server."""
    locker = sa.create_engine(server.cluster.url, poolclass=sa.pool.NullPool)
    watch = sa.create_engine(server.cluster.url, poolclass=sa.pool.NullPool)
    answers: dict[str, requests.Response] = {}
    conn = locker.connect()
    try:
        conn.exec_driver_sql(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        in_flight = threading.Thread(
            target=lambda: answers.setdefault(
                "page", browser.get(server.base + path, headers=EN, timeout=30)
            )
        )
        in_flight.start()
        with watch.connect() as watching:
            wait_for(
                lambda: watching.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                ).scalar_one(),
                "the request to wait on the lock",
            )
        stop()
        in_flight.join(30)
    finally:
        with contextlib.suppress(sa.exc.DBAPIError):  # its server is gone
            conn.close()
        locker.dispose()
        watch.dispose()
    return answers["page"]


def test_a_restart_fails_requests_cleanly_and_the_app_reconnects_by_itself(server, database_down):
    browser = postgres_restart.sign_in(server.base)  # the subscriber the script makes
    assert browser.get(f"{server.base}/", timeout=10).status_code == 200  # a pooled connection

    # In flight: the home page waits on a lock this test holds (on a table it reads after
    # the sign-in is loaded) when the server stops under it.
    assert_retry_page(stopped_under(server, database_down, browser, "/", "suspensions"))

    # While it is down: pages, an htmx fragment and a sign-in.
    assert_retry_page(browser.get(f"{server.base}/", headers=EN, timeout=10))
    assert_retry_page(browser.get(f"{server.base}/history/", headers=EN, timeout=10))
    fragment = browser.get(f"{server.base}/", headers={**EN, "HX-Request": "true"}, timeout=10)
    assert_retry_page(fragment)
    assert "<html" not in fragment.text
    stranger = requests.Session()
    token = csrf_from(stranger.get(f"{server.base}/login", timeout=10).text)
    data = {"login": "bench", "password": postgres_restart.PASSWORD, "csrf_token": token}
    assert_retry_page(stranger.post(f"{server.base}/login", data=data, headers=EN, timeout=10))

    server.start()
    # The first request after the start is served: the pool replaced its dead connections.
    home = browser.get(f"{server.base}/", allow_redirects=False, timeout=10)
    assert home.status_code == 200 and "700" in home.text  # the same sign-in, still valid
    assert "unhandled error" not in server.log()  # what a 500 logs


def staff_signed_in(base: str) -> requests.Session:
    browser = requests.Session()
    token = csrf_from(browser.get(f"{base}/staff/login", timeout=10).text)
    data = {"login": STAFF_LOGIN, "password": STAFF_PASSWORD, "csrf_token": token}
    answer = browser.post(f"{base}/staff/login", data=data, allow_redirects=False, timeout=10)
    assert answer.status_code == 303, answer.text[:300]
    return browser


def test_the_staff_console_says_to_try_again_while_the_database_is_down(server, database_down):
    member = staff_signed_in(server.base)
    assert member.get(f"{server.base}/staff/", timeout=10).status_code == 200
    stranger = requests.Session()
    token = csrf_from(stranger.get(f"{server.base}/staff/login", timeout=10).text)

    # In flight: the console's start page reads the ledger after the member's session.
    page = stopped_under(server, database_down, member, "/staff/", "ledger_entries")
    assert_retry_page(page)
    page = member.get(f"{server.base}/staff/", headers=EN, allow_redirects=False, timeout=10)
    assert_retry_page(page)  # not the sign-in form: the session is not over
    fragment = member.get(f"{server.base}/staff/", headers={**EN, "HX-Request": "true"}, timeout=10)
    assert_retry_page(fragment)
    data = {"login": STAFF_LOGIN, "password": STAFF_PASSWORD, "csrf_token": token}
    signing_in = stranger.post(
        f"{server.base}/staff/login", data=data, headers=EN, allow_redirects=False, timeout=10
    )
    assert_retry_page(signing_in)

    server.start()
    assert member.get(f"{server.base}/staff/", allow_redirects=False, timeout=10).status_code == 200
    assert "unhandled error" not in server.log()
