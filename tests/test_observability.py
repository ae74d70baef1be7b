"""Logs, request ids and metrics: one JSON object per line carrying the request id; the
id carried into the jobs a request queues (in-process and RQ); Prometheus metrics that
count what happens, read the database when scraped, add up several processes' files,
and are served only to the allowed addresses."""

import io
import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from prometheus_client.parser import text_string_to_metric_families

from portal import jobs, logs, metrics
from portal.domain.sms import queue as queue_sms
from portal.extensions import csrf, db
from portal.logs import event
from tests.conftest import client_at, make_test_app
from tests.factories import create_payment, create_subscriber

ROOT = Path(__file__).resolve().parent.parent
RECORD_JOB = "tests.test_observability:record_job"


def record_job(db_session, config, label: str) -> None:
    """A job that notes the request id it runs with (in its app's config: the job may
    import this module anew), and logs a line."""
    config["TEST_RECORDED"].append((label, logs.current_request_id()))
    event(logging.getLogger("portal.test"), "test.job", label=label)


@pytest.fixture
def json_lines():
    """The "portal" loggers' lines as the production handler writes them, parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.RequestIdFilter())
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("portal")
    logger.addHandler(handler)

    def read() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield read
    logger.removeHandler(handler)


@pytest.fixture
def own_app(tmp_path, isolated_limiter):
    """Apps of their own on a migrated SQLite file (their queues are not the shared app's)."""
    made = []

    def make(**overrides):
        app = make_test_app(
            f"sqlite:///{tmp_path / f'own{len(made)}.db'}", tmp_path, TEST_RECORDED=[], **overrides
        )
        with app.app_context():
            upgrade(directory=app.extensions["migrate"].directory)

        @app.post("/test/queue-jobs")
        @csrf.exempt
        def queue_jobs():
            jobs.enqueue(RECORD_JOB, "enqueued")
            db.session.execute(sa.text("SELECT 1"))
            jobs.enqueue_after_commit(db.session, RECORD_JOB, "after commit")
            db.session.commit()
            return "queued"

        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.engine.dispose()


# --- the request id -------------------------------------------------------------------


def test_every_answer_carries_a_request_id_of_its_own(client):
    first = client.get("/login").headers["X-Request-ID"]
    second = client.get("/login").headers["X-Request-ID"]
    assert first != second
    assert all(len(rid) == 32 and int(rid, 16) >= 0 for rid in (first, second))


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("3f2a9c1e8b7d4a6f9e0c1b2a3d4e5f60", True),  # nginx's $request_id
        ("8a6e0804-2bd0-4672-b79d-d97027f9071a", True),  # a UUID
        ("short", False),
        ("has spaces in it", False),
        ("tab\tseparated-request-id", False),
        ('id-with-"quotes"-and;', False),
        ("x" * 65, False),
        ("<script>alert(1)</script>", False),
    ],
)
def test_a_trusted_proxys_request_id_is_kept_when_sane(app, client, monkeypatch, sent, kept):
    monkeypatch.setitem(app.config, "PORTAL_TRUSTED_PROXIES", 1)
    answered = client.get("/healthz", headers={"X-Request-ID": sent}).headers["X-Request-ID"]
    assert (answered == sent) is kept
    if not kept:
        assert len(answered) == 32


def test_a_request_id_is_not_taken_from_an_untrusted_client(client):
    sent = "3f2a9c1e8b7d4a6f9e0c1b2a3d4e5f60"
    assert client.get("/healthz", headers={"X-Request-ID": sent}).headers["X-Request-ID"] != sent


# --- JSON lines -----------------------------------------------------------------------


def test_each_request_writes_one_json_line_with_its_id(client, json_lines):
    response = client.get("/healthz?token=secret-in-the-query")
    rid = response.headers["X-Request-ID"]
    access = [line for line in json_lines() if line.get("event") == "http.request"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == rid
    assert line["path"] == "/healthz" and line["endpoint"] == "health.healthz"
    assert line["status"] == 200 and line["method"] == "GET"
    assert line["duration_ms"] >= 0 and line["level"] == "INFO"
    assert "secret-in-the-query" not in json.dumps(json_lines())


def test_a_json_line_keeps_event_fields_and_a_traceback_on_one_line():
    formatter = logs.JsonFormatter()
    logger = logging.getLogger("portal.test")
    token = logs.bind_request_id("req-12345678")
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            record = logger.makeRecord(
                "portal.test",
                logging.ERROR,
                __file__,
                1,
                "sms.failed message_id=%s",
                (7,),
                sys.exc_info(),
                extra={"event": "sms.failed", "fields": {"message_id": 7, "reason": "Тайм-аут"}},
            )
    finally:
        logs.unbind_request_id(token)
    text = formatter.format(record)
    assert "\n" not in text
    line = json.loads(text)
    assert line["event"] == "sms.failed" and line["message_id"] == 7
    assert line["reason"] == "Тайм-аут" and line["message"] == "sms.failed message_id=7"
    assert "ValueError: boom" in line["exception"]
    assert line["level"] == "ERROR" and line["logger"] == "portal.test"
    assert line["time"].endswith("+00:00")


def test_log_format_and_level_are_checked(tmp_path, isolated_limiter):
    with pytest.raises(RuntimeError, match="PORTAL_LOG_FORMAT"):
        make_test_app(f"sqlite:///{tmp_path}/x.db", tmp_path, PORTAL_LOG_FORMAT="xml")
    with pytest.raises(RuntimeError, match="PORTAL_LOG_LEVEL"):
        make_test_app(f"sqlite:///{tmp_path}/x.db", tmp_path, PORTAL_LOG_LEVEL="LOUD")


# --- the id carried into jobs ---------------------------------------------------------


def test_in_process_jobs_run_with_the_id_of_the_request_that_queued_them(own_app, json_lines):
    app = own_app()
    response = client_at(app, "127.0.0.1").post("/test/queue-jobs")
    assert response.status_code == 200, response.get_data(as_text=True)
    rid = response.headers["X-Request-ID"]
    assert jobs.drain(app) == 2
    assert sorted(app.config["TEST_RECORDED"]) == [("after commit", rid), ("enqueued", rid)]
    job_lines = [line for line in json_lines() if line.get("event") == "test.job"]
    assert [line["request_id"] for line in job_lines] == [rid, rid]
    assert logs.current_request_id() is None  # nothing left bound in this thread


def test_jobs_of_two_requests_keep_their_own_ids(own_app):
    app = own_app()
    client = app.test_client()
    ids = [client.post("/test/queue-jobs").headers["X-Request-ID"] for _ in range(2)]
    jobs.drain(app)
    assert sorted(rid for _, rid in app.config["TEST_RECORDED"]) == sorted(ids * 2)


@pytest.mark.redis
def test_rq_jobs_run_with_the_id_of_the_request_that_queued_them(own_app, redis_url):
    app = own_app(REDIS_URL=redis_url, PORTAL_JOBS_QUEUE=f"portal-test-{uuid.uuid4().hex[:8]}")
    rq_queue = jobs.redis_queue(app)
    try:
        rid = app.test_client().post("/test/queue-jobs").headers["X-Request-ID"]
        assert jobs.queue_depth(app)["queued"] == 2
        assert [job.meta["request_id"] for job in rq_queue.jobs] == [rid, rid]
        jobs.run_worker(app, burst=True)
        assert sorted(app.config["TEST_RECORDED"]) == [("after commit", rid), ("enqueued", rid)]
    finally:
        jobs.set_standalone_app(None)
        rq_queue.delete(delete_jobs=True)
        for registry in (rq_queue.finished_job_registry, rq_queue.failed_job_registry):
            for job_id in registry.get_job_ids():
                registry.remove(job_id, delete_job=True)
        rq_queue.connection.close()


# --- metrics --------------------------------------------------------------------------


def scrape(client) -> dict[tuple[str, tuple], float]:
    """/metrics as {(sample name, sorted labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_request_latency_is_counted_by_endpoint(client):
    before = scrape(client)
    for _ in range(3):
        client.get("/healthz")
    client.get("/no/such/page")
    after = scrape(client)
    count = "portal_http_request_duration_seconds_count"
    assert value(after, count, endpoint="health.healthz", method="GET") - value(
        before, count, endpoint="health.healthz", method="GET"
    ) == pytest.approx(3)
    total = "portal_http_requests_total"
    assert value(after, total, endpoint="none", method="GET", status="404") - value(
        before, total, endpoint="none", method="GET", status="404"
    ) == pytest.approx(1)


def test_a_made_up_method_adds_no_series_of_its_own(client):
    before = scrape(client)
    for method in ("BREW", "WHATEVER"):
        client.open("/healthz", method=method)
    after = scrape(client)
    total = "portal_http_requests_total"
    assert value(after, total, endpoint="none", method="other", status="405") - value(
        before, total, endpoint="none", method="other", status="405"
    ) == pytest.approx(2)
    assert "BREW" not in str(after) and "WHATEVER" not in str(after)


def test_payments_and_sms_by_state_are_read_when_scraped(app, client, session):
    before = scrape(client)
    account = create_subscriber(session, login="counted").account
    create_payment(session, account)  # pending
    queue_sms(session, to_phone="+79781234567", text="Привет", purpose="test")
    session.commit()
    after = scrape(client)
    assert (
        value(after, "portal_payments", state="pending")
        == value(before, "portal_payments", state="pending") + 1
    )
    assert (
        value(after, "portal_sms_messages", state="pending")
        == value(before, "portal_sms_messages", state="pending") + 1
    )
    assert value(after, "portal_payments", state="review") >= 0  # every state is listed
    assert value(after, "portal_scrape_ok", part="payments") == 1


def test_sms_and_push_outcomes_are_counted_from_their_log_events(client):
    before = scrape(client)
    event(logging.getLogger("portal.sms.delivery"), "sms.sent", message_id=1)
    event(logging.getLogger("portal.sms.delivery"), "sms.failed", logging.WARNING, message_id=2)
    push = logging.getLogger("portal.push")
    push.warning("push.failed subscription=%s status=%s attempt=%s", 3, 400, 1)  # as sending.py
    push.info("push.retry subscription=%s status=%s in=%ss", 3, 503, 30)
    logging.getLogger("portal.test").info("sms.sentence that is no event")
    after = scrape(client)
    for name, outcome in [
        ("portal_sms_total", "sent"),
        ("portal_sms_total", "failed"),
        ("portal_push_total", "failed"),
        ("portal_push_total", "retry"),
    ]:
        assert value(after, name, outcome=outcome) - value(before, name, outcome=outcome) == 1


def test_a_real_sms_sent_by_a_job_is_counted(own_app):
    app = own_app()
    client = client_at(app, "127.0.0.1")
    before = scrape(client)
    with app.app_context():
        queue_sms(db.session, to_phone="+79781234567", text="Привет", purpose="test")
        db.session.commit()
    assert value(scrape(client), "portal_jobs_queued", state="queued") == 1
    jobs.drain(app)
    after = scrape(client)
    assert (
        value(after, "portal_sms_total", outcome="sent")
        - value(before, "portal_sms_total", outcome="sent")
        == 1
    )
    assert value(after, "portal_sms_messages", state="sent") == 1
    assert value(after, "portal_jobs_queued", state="queued") == 0
    job = "portal.domain.sms.delivery:deliver_job"
    ran = value(after, "portal_jobs_run_total", job=job, outcome="ok")
    assert ran - value(before, "portal_jobs_run_total", job=job, outcome="ok") == 1


def test_a_job_waiting_for_later_counts_as_scheduled(own_app, frozen_clock):
    from datetime import timedelta

    app = own_app()
    with app.app_context():
        jobs.enqueue(RECORD_JOB, "later", at=frozen_clock() + timedelta(hours=1))
    samples = scrape(client_at(app, "127.0.0.1"))
    assert value(samples, "portal_jobs_queued", state="scheduled") == 1
    assert value(samples, "portal_jobs_queued", state="queued") == 0


def test_an_unreadable_database_leaves_its_part_out(app_without_database_metrics):
    samples = scrape(app_without_database_metrics.test_client())
    assert value(samples, "portal_scrape_ok", part="payments") == 0
    assert value(samples, "portal_scrape_ok", part="jobs") == 1
    assert ("portal_payments", (("state", "pending"),)) not in samples


@pytest.fixture
def app_without_database_metrics(tmp_path, isolated_limiter):
    down = make_test_app(f"sqlite:///{tmp_path / 'missing' / 'portal.db'}", tmp_path)
    yield down
    with down.app_context():
        db.engine.dispose()


# --- who may read them ----------------------------------------------------------------


def test_metrics_are_not_served_to_other_addresses(app):
    assert client_at(app, "203.0.113.9").get("/metrics").status_code == 404
    assert client_at(app, "10.0.0.7").get("/metrics").status_code == 404
    assert client_at(app, "127.0.0.1").get("/metrics").status_code == 200
    assert client_at(app, "::1").get("/metrics").status_code == 200


def test_metrics_come_through_no_untrusted_proxy(app):
    """Through a proxy the app does not trust, the address is the proxy's (loopback)
    whoever asked: refused."""
    proxied = client_at(app, "127.0.0.1").get(
        "/metrics", headers={"X-Forwarded-For": "203.0.113.9"}
    )
    assert proxied.status_code == 404


def test_metrics_follow_the_allow_list_and_can_be_turned_off(app, monkeypatch):
    monkeypatch.setitem(
        app.extensions, "portal_metrics_allow", metrics.parse_networks("10.0.0.0/24, 192.0.2.5")
    )
    assert client_at(app, "10.0.0.7").get("/metrics").status_code == 200
    assert client_at(app, "192.0.2.5").get("/metrics").status_code == 200
    assert client_at(app, "127.0.0.1").get("/metrics").status_code == 404
    monkeypatch.setitem(app.config, "PORTAL_METRICS", False)
    assert client_at(app, "10.0.0.7").get("/metrics").status_code == 404


@pytest.mark.parametrize(
    ("address", "forwarded", "trusted", "allowed"),
    [
        ("127.0.0.1", False, 0, True),
        ("127.0.0.2", False, 0, True),
        ("::1", False, 0, True),
        ("::ffff:127.0.0.1", False, 0, True),
        ("127.0.0.1", True, 0, False),  # via a proxy the app does not trust
        ("127.0.0.1", True, 1, True),  # ProxyFix made it the client's own address
        ("198.51.100.1", True, 1, False),
        ("not an address", False, 0, False),
        (None, False, 0, False),
    ],
)
def test_who_may_read_metrics(address, forwarded, trusted, allowed):
    networks = metrics.parse_networks("127.0.0.0/8,::1")
    assert metrics.may_read(address, networks, forwarded=forwarded, trusted_proxies=trusted) is (
        allowed
    )


def test_a_bad_allow_list_refuses_to_start(tmp_path, isolated_limiter):
    with pytest.raises(RuntimeError, match="PORTAL_METRICS_ALLOW"):
        make_test_app(f"sqlite:///{tmp_path}/x.db", tmp_path, PORTAL_METRICS_ALLOW="10.0.0.0/33")


# --- several processes ------------------------------------------------------------------

CHILD = """
import logging, sys
from flask_migrate import upgrade
from portal.logs import event
from tests.conftest import make_test_app
app = make_test_app(sys.argv[1], sys.argv[2])
client = app.test_client()
for _ in range(int(sys.argv[3])):
    assert client.get("/healthz").status_code == 200
event(logging.getLogger("portal.sms.delivery"), "sms.sent", message_id=1)
"""


def test_metrics_of_several_processes_and_directories_add_up(tmp_path, isolated_limiter):
    """What gunicorn's workers (one directory) and the RQ worker (another) count, one
    /metrics adds up (prometheus_client's multiprocess mode)."""
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    web, worker = tmp_path / "web", tmp_path / "worker"
    for directory, requests in ((web, 3), (web, 4), (worker, 0)):
        directory.mkdir(exist_ok=True)
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
        subprocess.run(
            [sys.executable, "-c", CHILD, database, str(tmp_path), str(requests)],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=120,
        )
    reader = make_test_app(database, tmp_path, PORTAL_METRICS_DIRS=f"{web}{os.pathsep}{worker}")
    with reader.app_context():
        upgrade(directory=reader.extensions["migrate"].directory)
    samples = scrape(client_at(reader, "127.0.0.1"))
    count = "portal_http_request_duration_seconds_count"
    assert value(samples, count, endpoint="health.healthz", method="GET") == 7
    assert value(samples, "portal_sms_total", outcome="sent") == 3  # two web, one worker
    assert value(samples, "portal_payments", state="pending") == 0  # read when scraped
    with reader.app_context():
        db.engine.dispose()
