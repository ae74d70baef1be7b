"""Several app processes serve the same subscriber (issue 14): two gunicorn instances on
one PostgreSQL database and one Redis, as two hosts behind a balancer would be. A
sign-in made on one is honoured by the other and ended from either; the per-address
sign-in limit is counted across both; a job queued by a request on one is run by a
separate `portal worker`, and its log lines carry the id of that request."""

import json
import os
import random
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.models import SmsMessage, SmsStatus
from tests.conftest import csrf_from, make_test_app, required_server
from tests.factories import PASSWORD, create_subscriber
from tools.demo_server import free_port, wait_until_serving

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture(scope="module")
def shared_database(tmp_path_factory):
    """A scratch PostgreSQL database, migrated, with one subscriber; dropped after."""
    from portal.extensions import limiter

    saved_limiter = dict(limiter.__dict__)  # as isolated_limiter does, for the module
    tmp_path = tmp_path_factory.mktemp("scale")
    server = required_server("TEST_DATABASE_URL")
    name = f"portal_scale_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = str(
        sa.engine.make_url(server)
        .set(drivername="postgresql+psycopg", database=name)
        .render_as_string(hide_password=False)
    )
    app = make_test_app(url, tmp_path)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        with Session(db.engine) as session:
            create_subscriber(session, login="shared", contract="770077", phone="+79785550077")
            session.commit()
        db.engine.dispose()
    limiter.__dict__.clear()
    limiter.__dict__.update(saved_limiter)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


class Instances:
    """gunicorn instances (one worker each, the sample config) and a worker, sharing
    the database and Redis; all stopped after the test."""

    def __init__(self, tmp_path: Path, env: dict[str, str]):
        self.tmp_path, self.env, self.processes, self.logs = tmp_path, env, [], []

    def start_web(self, label: str, port: int | None = None) -> str:
        port = port or free_port()
        log = (self.tmp_path / f"{label}.log").open("w")
        self.logs.append(log)
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
             "-b", f"127.0.0.1:{port}", "-w", "1", "portal:create_app()"],
            cwd=self.tmp_path, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.processes.append(process)
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(base, process, self.tmp_path / f"{label}.log", seconds=60)
        return base

    def run_worker(self) -> str:
        done = subprocess.run(
            [str(BIN / "portal"), "worker", "--burst"],
            cwd=self.tmp_path, env=self.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    def log(self, label: str) -> str:
        return (self.tmp_path / f"{label}.log").read_text()

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=30)
        for log in self.logs:
            log.close()


@pytest.fixture(scope="module")
def instances(tmp_path_factory, shared_database):
    """Two web instances ("one", "two"), started once for the module."""
    redis_url = required_server("TEST_REDIS_URL")
    tmp_path = tmp_path_factory.mktemp("instances")
    queue = f"portal-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": shared_database,
        "REDIS_URL": redis_url,
        "PORTAL_JOBS_QUEUE": queue,
        "PORTAL_MODE": "development",
        "SECRET_KEY": "scale-out-" + uuid.uuid4().hex,  # the same on every instance
        "PORTAL_TRUSTED_PROXIES": "1",  # as behind nginx: the client's address
        "PORTAL_LOGIN_LIMIT_ADDRESS": "3 per hour",
        "PORTAL_LOG_FORMAT": "json",
        "PORTAL_PUBLIC_URL": "http://127.0.0.1",
    }
    running = Instances(tmp_path, env)
    try:
        running.one, running.two = running.start_web("one"), running.start_web("two")
        yield running
    finally:
        running.stop()
    from redis import Redis
    from rq import Queue

    connection = Redis.from_url(redis_url)
    rq_queue = Queue(queue, connection=connection)
    rq_queue.delete(delete_jobs=True)
    for registry in (rq_queue.finished_job_registry, rq_queue.failed_job_registry):
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)
    connection.close()


def a_client_address() -> str:
    """An address of this run's own (198.18.0.0/15, for tests; only ever a header), so
    limits counted in the shared Redis by earlier runs do not apply."""
    return f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"


def form_token(browser: requests.Session, url: str) -> str:
    return csrf_from(browser.get(url, timeout=10).text)


def sign_in(browser: requests.Session, base: str, password: str = PASSWORD) -> requests.Response:
    """Sign in as the subscriber of shared_database at `base`; the answer (303 if it worked)."""
    token = form_token(browser, f"{base}/login")
    return browser.post(
        f"{base}/login",
        data={"login": "shared", "password": password, "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )  # fmt: skip


def test_a_sign_in_on_one_instance_holds_on_the_other_and_ends_on_both(instances):
    one, two = instances.one, instances.two
    browser = requests.Session()  # one cookie jar for both: the balancer's one origin
    browser.headers["X-Forwarded-For"] = a_client_address()
    signed_in = sign_in(browser, one)
    assert signed_in.status_code == 303

    home = browser.get(f"{two}/", allow_redirects=False, timeout=10)
    assert home.status_code == 200 and "770077" in home.text  # the other instance knows

    token = csrf_from(home.text)
    out = browser.post(
        f"{two}/logout", data={"csrf_token": token}, allow_redirects=False, timeout=10
    )
    assert out.status_code in (302, 303)
    # The cookie the first instance made is over there too: the session ended in the database.
    stale = requests.get(f"{one}/", cookies=signed_in.cookies, allow_redirects=False, timeout=10)
    assert stale.status_code in (302, 303) and "/login" in stale.headers["Location"]


def test_the_sign_in_limit_counts_across_instances(instances):
    one, two = instances.one, instances.two
    stranger = requests.Session()
    stranger.headers["X-Forwarded-For"] = a_client_address()

    def wrong(base: str) -> int:
        return sign_in(stranger, base, password="wrong").status_code

    # 3 per hour per address: kept per process, the second instance would allow 3 more.
    assert [wrong(one), wrong(one), wrong(two), wrong(two)] == [401, 401, 401, 429]


def test_a_job_queued_on_one_instance_is_run_by_the_worker_with_its_request_id(
    instances, shared_database
):
    one = instances.one
    browser = requests.Session()
    browser.headers["X-Forwarded-For"] = a_client_address()
    data = {
        "contract": "770077",
        "phone": "+7 978 555-00-77",
        "send_sms": "y",
        "csrf_token": form_token(browser, f"{one}/recover"),
    }
    asked = browser.post(f"{one}/recover", data=data, allow_redirects=False, timeout=10)
    assert asked.status_code == 303
    request_id = asked.headers["X-Request-ID"]

    engine = sa.create_engine(shared_database)
    with Session(engine) as session:
        statuses = session.scalars(sa.select(SmsMessage.status)).all()
    assert statuses == [SmsStatus.PENDING]  # queued; the web instance sends nothing itself

    worker_log = instances.run_worker()
    with Session(engine) as session:
        statuses = session.scalars(sa.select(SmsMessage.status)).all()
    engine.dispose()
    assert statuses == [SmsStatus.SENT]

    lines = [json.loads(line) for line in worker_log.splitlines() if line.startswith("{")]
    sent = [line for line in lines if line.get("event") == "sms.sent"]
    assert sent and {line["request_id"] for line in sent} == {request_id}
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
