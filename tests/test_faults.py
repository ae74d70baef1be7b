"""Faults (issue 14): what the portal does when a part of it fails, with real processes —
gunicorn instances, `portal worker`, a Redis server of the test's own, PostgreSQL.

- Redis down: sign-in and pages still work, the sign-in limit falls back to a per-process
  count (flask-limiter logs a warning), and the SMS waits in the database outbox; a worker
  started once Redis is back sends it, once.
- The RQ worker killed (SIGKILL) in the middle of sending an SMS: RQ does not run the job
  again, the SMS sweep does once the claim times out; the gateway acknowledges it once.
- PostgreSQL drops the connections (as a restart does; pg_terminate_backend on the
  scratch database's own backends, the shared server stays up): a request in flight gets
  a 503 with Retry-After and the retry page, never a 500 with a trace, and the next
  request is served on a new connection (pool_pre_ping). The same with the server really
  stopped and started: tests/test_faults_postgres.py (a PostgreSQL cluster of its own);
  pushes: tests/test_faults_push.py.
- One of two instances SIGKILLed while six subscribers pay (sandbox acquirer): the
  requests it cut are sent again to the other, as a balancer would; afterwards every
  payment tried exists once and succeeded, each credited once, and every balance is the
  sum of its entries.

Every test needs PostgreSQL and Redis (TEST_DATABASE_URL, TEST_REDIS_URL: the Redis
server is only used to find redis-server; the tests run one of their own on a free port).
"""

import os
import random
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.domain.payments.acquirers.sandbox import CARD_SUCCEEDS
from portal.models import (
    Account,
    EntryKind,
    LedgerEntry,
    Payment,
    PaymentStatus,
    SmsMessage,
    SmsStatus,
)
from tests import test_scale_out
from tests.conftest import csrf_from, required_server
from tests.factories import PASSWORD, create_subscriber
from tests.smpp_server import Behaviour, SmppTestServer, join_parts
from tests.test_scale_out import (
    BIN,
    Instances,
    a_client_address,
    form_token,
    free_port,
    sign_in,
)

# The scratch database (migrated, one subscriber) of the scale-out tests, for these too.
shared_database = test_scale_out.shared_database

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

CONTRACT, PHONE = "770077", "+7 978 555-00-77"  # the subscriber of shared_database


def wait_for(check: Callable[[], object], what: str, seconds: float = 30) -> object:
    """Poll `check` until it returns something true; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return result


class RedisServer:
    """A redis-server of the test's own on a free port, to stop and start again."""

    def __init__(self):
        required_server("TEST_REDIS_URL")
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI"):
                pytest.fail("redis-server is not installed: CI must run the Redis fault tests")
            pytest.skip("this test needs redis-server")
        self.binary, self.port, self.process = binary, free_port(), None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        from redis import Redis

        def answers() -> bool:
            try:
                return Redis.from_url(self.url, socket_timeout=1).ping()
            except Exception:
                return False

        wait_for(answers, "redis-server to start", 15)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.process = None


@pytest.fixture
def own_redis():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def portal_env(database: str, redis_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "PORTAL_JOBS_QUEUE": f"portal-faults-{uuid.uuid4().hex[:8]}",
        "PORTAL_MODE": "development",
        "SECRET_KEY": "faults-" + uuid.uuid4().hex,
        "PORTAL_TRUSTED_PROXIES": "1",
        "PORTAL_LOGIN_LIMIT_ADDRESS": "3 per hour",
        "PORTAL_LOG_FORMAT": "json",
        "PORTAL_PUBLIC_URL": "http://127.0.0.1",
        **extra,
    }


@pytest.fixture
def running(tmp_path):
    started: list[Instances] = []

    def start(env: dict[str, str]) -> Instances:
        instances = Instances(tmp_path, env)
        started.append(instances)
        return instances

    yield start
    for instances in started:
        instances.stop()


def sms_statuses(database: str) -> list[tuple[SmsStatus, int]]:
    engine = sa.create_engine(database)
    try:
        with Session(engine) as session:
            rows = session.execute(
                sa.select(SmsMessage.status, SmsMessage.attempts).order_by(SmsMessage.id)
            ).all()
        return [tuple(row) for row in rows]
    finally:
        engine.dispose()


def clear_sms(database: str) -> None:
    """The module's database is shared by its tests: each starts with no SMS."""
    engine = sa.create_engine(database)
    with engine.begin() as conn:
        conn.execute(sa.delete(SmsMessage))
    engine.dispose()


def ask_for_recovery_sms(base: str) -> requests.Response:
    browser = requests.Session()
    browser.headers["X-Forwarded-For"] = a_client_address()
    data = {
        "contract": CONTRACT,
        "phone": PHONE,
        "send_sms": "y",
        "csrf_token": form_token(browser, f"{base}/recover"),
    }
    return browser.post(f"{base}/recover", data=data, allow_redirects=False, timeout=15)


def signed_in(base: str) -> requests.Session:
    browser = requests.Session()
    browser.headers["X-Forwarded-For"] = a_client_address()
    response = sign_in(browser, base)
    assert response.status_code == 303, response.text[:500]
    return browser


def test_with_redis_down_pages_and_sign_in_work_and_the_sms_waits_for_its_return(
    shared_database, own_redis, running
):
    clear_sms(shared_database)
    env = portal_env(shared_database, own_redis.url)
    instances = running(env)
    web = instances.start_web("web")
    own_redis.stop()

    browser = signed_in(web)
    home = browser.get(f"{web}/", allow_redirects=False, timeout=15)
    assert home.status_code == 200 and CONTRACT in home.text

    # The sign-in limit (3 per hour per address) still holds, counted in this process.
    stranger = requests.Session()
    stranger.headers["X-Forwarded-For"] = a_client_address()

    def wrong() -> int:
        return sign_in(stranger, web, password="wrong").status_code

    assert [wrong(), wrong(), wrong(), wrong()] == [401, 401, 401, 429]
    assert "falling back to in-memory storage" in instances.log("web")

    # The recovery SMS is committed to the outbox; its job could not be queued.
    assert ask_for_recovery_sms(web).status_code == 303
    assert sms_statuses(shared_database) == [(SmsStatus.PENDING, 0)]
    assert "jobs.enqueue_failed" in instances.log("web")

    own_redis.start()  # empty: the job queued nowhere; the worker's SMS sweep finds it
    worker_log = instances.run_worker()
    assert sms_statuses(shared_database) == [(SmsStatus.SENT, 1)]
    assert worker_log.count('"sms.sent"') == 1
    instances.run_worker()  # and a second worker does not send it again
    assert sms_statuses(shared_database) == [(SmsStatus.SENT, 1)]


def test_a_worker_killed_while_sending_leaves_the_sms_to_be_sent_once_by_the_next(
    shared_database, own_redis, running, tmp_path
):
    clear_sms(shared_database)
    smsc = SmppTestServer(Behaviour(never_answer="submit", send_receipts=False)).start()
    try:
        env = portal_env(
            shared_database,
            own_redis.url,
            PORTAL_SMS_BACKEND="smpp",
            PORTAL_SMPP_HOST=smsc.host,
            PORTAL_SMPP_PORT=str(smsc.port),
            PORTAL_SMPP_SYSTEM_ID="portal",
            PORTAL_SMPP_PASSWORD="secret",
            PORTAL_SMPP_TIMEOUT="60",  # the killed worker would wait this long
            PORTAL_SMPP_RECEIPT_WAIT="0",
            PORTAL_SMS_CLAIM_TIMEOUT="2",  # a dead worker's claim is over soon
        )
        instances = running(env)
        web = instances.start_web("web")
        with (tmp_path / "worker.log").open("w") as log:
            worker = subprocess.Popen(
                [str(BIN / "portal"), "worker"], cwd=tmp_path, env=env,
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                assert ask_for_recovery_sms(web).status_code == 303
                wait_for(smsc.submits, "the worker to submit the SMS")
                worker.send_signal(signal.SIGKILL)
                worker.wait(timeout=15)
            finally:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait(timeout=15)
        assert sms_statuses(shared_database) == [(SmsStatus.PENDING, 1)]  # claimed, not sent

        smsc.behaviour.never_answer = None  # the gateway answers again
        # The claim times out after 2 s; each burst worker runs the sweeps once.
        wait_for(
            lambda: (
                instances.run_worker() and sms_statuses(shared_database)[0][0] == SmsStatus.SENT
            ),
            "a new worker to send the SMS",
        )
        assert sms_statuses(shared_database) == [(SmsStatus.SENT, 2)]
        # The killed worker's first part went unanswered; the next worker sent the whole
        # message again, each part once, and the gateway acknowledged every one of them.
        first, *again = smsc.submits()
        parts = [pdu.short_message[5] for pdu in again]  # the concatenation header's part number
        assert sorted(parts) == list(range(1, first.short_message[4] + 1))
        assert smsc._answered_submits == len(again)
        assert "для входа с логином shared" in join_parts(again)
        instances.run_worker()
        assert len(smsc.submits()) == 1 + len(again)  # nothing sent after that
    finally:
        smsc.stop()


def test_connections_dropped_by_postgresql_fail_in_flight_with_a_503_then_reconnect(
    shared_database, own_redis, running
):
    env = portal_env(shared_database, own_redis.url)
    web = running(env).start_web("web")
    browser = signed_in(web)
    assert browser.get(f"{web}/", timeout=15).status_code == 200  # a pooled connection

    admin = sa.create_engine(shared_database, isolation_level="AUTOCOMMIT")
    name = sa.engine.make_url(shared_database).database

    def drop_connections(keep: int = 0) -> int:
        """End the app's connections to the database (not this test's own)."""
        with admin.connect() as conn:
            return conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid NOT IN (pg_backend_pid(), :keep)"
                ),
                {"name": name, "keep": keep},
            ).scalar_one()

    try:
        # Between requests: the pool's connections are dead; pre-ping replaces them.
        assert drop_connections() >= 1
        assert browser.get(f"{web}/", timeout=15).status_code == 200

        # In flight: the home page waits on a lock this test holds (on a table it reads
        # after the sign-in is loaded; a failed load is retried on a new connection), and
        # its connection is dropped under it.
        locker = sa.create_engine(shared_database)
        outcome: dict[str, requests.Response] = {}
        with locker.connect() as conn:
            conn.exec_driver_sql("LOCK TABLE suspensions IN ACCESS EXCLUSIVE MODE")
            request = threading.Thread(
                target=lambda: outcome.setdefault(
                    "response",
                    browser.get(f"{web}/", headers={"Accept-Language": "en"}, timeout=30),
                )
            )
            request.start()
            with admin.connect() as watch:
                wait_for(
                    lambda: watch.execute(
                        sa.text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = :name"
                            " AND wait_event_type = 'Lock'"
                        ),
                        {"name": name},
                    ).scalar_one(),
                    "the request to wait on the lock",
                )
            drop_connections(keep=conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        request.join(30)
        locker.dispose()
        response = outcome["response"]
        assert response.status_code == 503, response.text[:500]
        assert int(response.headers["Retry-After"]) > 0
        assert "try again" in response.text and "Traceback" not in response.text

        assert browser.get(f"{web}/", timeout=15).status_code == 200  # reconnected, still signed in
    finally:
        admin.dispose()


def kill_instance(instances: Instances, index: int) -> None:
    """SIGKILL a gunicorn instance: its worker processes, then the master (no shutdown)."""
    master = instances.processes[index]
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    for pid in map(int, children):
        os.kill(pid, signal.SIGKILL)
    master.kill()
    master.wait(timeout=15)


def test_one_instance_killed_during_payments_loses_and_doubles_none(
    shared_database, own_redis, running
):
    payers = 6
    engine = sa.create_engine(shared_database)
    with Session(engine) as session:
        accounts = [
            create_subscriber(
                session,
                login=f"payer{n}-{uuid.uuid4().hex[:6]}",
                contract=str(random.randrange(10**8, 10**9)),
                phone=f"+7978556{random.randrange(10**4):04d}",
            )
            for n in range(payers)
        ]
        session.commit()
        logins = [(subscriber.person.login, subscriber.account.id) for subscriber in accounts]

    two_port = free_port()  # the survivor receives the acquirer's notifications
    env = portal_env(
        shared_database, own_redis.url, PORTAL_PUBLIC_URL=f"http://127.0.0.1:{two_port}"
    )
    instances = running(env)
    one = instances.start_web("one")
    two = instances.start_web("two", port=two_port)
    alive = [one, two]
    tried: dict[int, list[str]] = {account_id: [] for _, account_id in logins}
    done = threading.Semaphore(0)
    refused: list[str] = []  # requests cut or refused by the dead instance, sent again

    def send(browser: requests.Session, method: str, path: str, n: int, **kwargs):
        """As a balancer would: to an instance that answers, the other if it does not."""
        for attempt in range(len(alive) * 3):
            base = alive[(n + attempt) % len(alive)]
            try:
                return browser.request(method, base + path, timeout=15, **kwargs)
            except requests.ConnectionError as error:
                refused.append(f"{method} {path}: {error}")
                time.sleep(0.1)
        raise AssertionError(f"no instance answered {method} {path}")

    def pay(login: str, account_id: int, payments: int) -> None:
        browser = requests.Session()
        browser.headers["X-Forwarded-For"] = a_client_address()
        page = send(browser, "GET", "/login", 0)
        data = {"login": login, "password": PASSWORD, "csrf_token": csrf_from(page.text)}
        assert send(browser, "POST", "/login", 0, data=data).status_code == 200
        for n in range(payments):
            key = uuid.uuid4().hex
            tried[account_id].append(key)
            form = send(browser, "GET", "/pay/", n)
            data = {
                "amount": str(100 + n),
                "method": "card",
                "creation_key": key,
                "csrf_token": csrf_from(form.text),
            }
            started = send(browser, "POST", "/pay/", n, data=data, allow_redirects=False)
            assert started.status_code == 303, started.text[:300]
            pay_path = urlsplit(started.headers["Location"]).path  # the acquirer's card page
            card = send(browser, "GET", pay_path, n)
            data = {"card_number": CARD_SUCCEEDS, "csrf_token": csrf_from(card.text)}
            send(browser, "POST", pay_path, n, data=data, allow_redirects=False)
            done.release()

    threads = [
        threading.Thread(target=pay, args=(login, account_id, 6), daemon=True)
        for login, account_id in logins
    ]
    for thread in threads:
        thread.start()
    for _ in range(payers * 2):  # a third of the payments made, then one dies
        assert done.acquire(timeout=60), "the payments did not start"
    kill_instance(instances, 0)
    alive.remove(one)
    for thread in threads:
        thread.join(120)
        assert not thread.is_alive()

    # What an operator's timer runs: payments whose notification was lost are settled.
    reconciled = subprocess.run(
        [str(BIN / "portal"), "payments", "reconcile"],
        cwd=instances.tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    assert refused  # the dead instance cut or refused requests: the other one served them

    with Session(engine) as session:
        for _login, account_id in logins:
            payments = session.scalars(
                sa.select(Payment).where(Payment.account_id == account_id).order_by(Payment.id)
            ).all()
            assert sorted(p.creation_key for p in payments) == sorted(tried[account_id])
            assert {p.status for p in payments} == {PaymentStatus.SUCCEEDED}
            entries = session.scalars(
                sa.select(LedgerEntry).where(LedgerEntry.account_id == account_id)
            ).all()
            credited = [e.amount for e in entries if e.kind == EntryKind.PAYMENT]
            assert sorted(credited) == sorted(p.amount for p in payments)  # each once
            balance = session.get(Account, account_id).balance
            assert balance == sum(e.amount for e in entries)
    engine.dispose()
