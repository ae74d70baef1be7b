"""The job queue: nothing runs before the commit or after a rollback; in-process (drained
by hand, or by the background thread) and on Redis with an RQ worker; work left behind
by a crash is picked up again.

These tests need an app whose database other threads can see, so each makes its own
on a temporary SQLite file (the `app` fixture's data lives in one connection).
"""

import os
import time
import uuid

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from portal import jobs
from portal.domain import notifications
from portal.domain.push import keys, subscriptions
from portal.domain.sms import delivery, queue
from portal.domain.sms.base import SendResult, SmsGateway, TemporaryGatewayError
from portal.extensions import db
from portal.models import DeliveryState, NotificationKind, PushDelivery, SmsMessage, SmsStatus
from tests.conftest import make_test_app
from tests.factories import create_subscriber
from tests.push_service import Browser, PushService

PHONE = "+79781234567"


@pytest.fixture
def make_app(tmp_path):
    """Apps on a fresh migrated SQLite file each; threads stopped and engines closed after."""
    made = []

    def make(**overrides):
        app = make_test_app(f"sqlite:///{tmp_path / f'jobs{len(made)}.db'}", tmp_path, **overrides)
        with app.app_context():
            upgrade(directory=app.extensions["migrate"].directory)
        made.append(app)
        return app

    yield make
    for app in made:
        queue_ = app.extensions["portal_jobs"]
        if isinstance(queue_, jobs.InProcessQueue):
            queue_.stop()
        with app.app_context():
            db.engine.dispose()


def queue_one(app, text="Привет", commit=True) -> int:
    with app.app_context():
        message = queue(db.session, to_phone=PHONE, text=text, purpose="test")
        if commit:
            db.session.commit()
        else:
            db.session.rollback()
        return message.id


def status_of(app, message_id: int) -> SmsStatus | None:
    with app.app_context():
        session = db.new_session()
        try:
            message = session.get(SmsMessage, message_id)
            return message.status if message else None
        finally:
            session.close()


def insert_pending_without_a_job(app) -> int:
    """A message committed by a process that crashed before its job was enqueued."""
    with app.app_context():
        session = db.new_session()  # a bare session: no after-commit job
        message = SmsMessage(
            to_phone=PHONE,
            purpose="test",
            body="Привет",
            next_attempt_at=sa.func.now(),
            created_at=sa.func.now(),
        )
        session.add(message)
        session.commit()
        session.close()
        return message.id


def wait_for(condition, seconds=10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


# --- in-process ---------------------------------------------------------------------


def test_job_is_enqueued_only_when_the_transaction_commits(make_app):
    app = make_app()
    in_process = app.extensions["portal_jobs"]
    with app.app_context():
        message = queue(db.session, to_phone=PHONE, text="Привет", purpose="test")
        assert in_process.pending() == 0  # written, not yet committed: nothing to run
        db.session.commit()
    assert in_process.pending() == 1

    assert jobs.drain(app) == 1
    assert status_of(app, message.id) == SmsStatus.SENT


def test_nothing_is_sent_after_a_rollback(make_app):
    app = make_app()
    message_id = queue_one(app, commit=False)
    assert app.extensions["portal_jobs"].pending() == 0
    assert jobs.drain(app, sweep=True) == 0
    assert status_of(app, message_id) is None


def test_background_thread_delivers_after_commit(make_app):
    app = make_app(PORTAL_JOBS_BACKGROUND=True)
    jobs.start(app)
    message_id = queue_one(app)
    assert wait_for(lambda: status_of(app, message_id) == SmsStatus.SENT)


def test_pending_message_is_picked_up_when_the_process_starts_again(make_app):
    app = make_app(PORTAL_JOBS_BACKGROUND=True)
    message_id = insert_pending_without_a_job(app)
    jobs.start(app)  # as on the first request after a restart: the sweep finds it
    assert wait_for(lambda: status_of(app, message_id) == SmsStatus.SENT)


class DownOnce(SmsGateway):
    name = "down-once"

    def __init__(self):
        self.calls = 0

    def send(self, sms):
        self.calls += 1
        if self.calls == 1:
            raise TemporaryGatewayError("down")
        return SendResult(acknowledged={1: "gw-1"})


def test_a_failed_attempt_schedules_its_retry(make_app, monkeypatch, frozen_clock):
    gateway = DownOnce()
    monkeypatch.setattr(delivery, "make_gateway", lambda _config: gateway)
    app = make_app(PORTAL_SMS_RETRY_DELAY=10)
    message_id = queue_one(app)

    assert jobs.drain(app) == 1  # the attempt fails; its retry waits ten seconds
    assert status_of(app, message_id) == SmsStatus.PENDING
    assert jobs.drain(app) == 0
    frozen_clock.advance(seconds=10)
    assert jobs.drain(app) == 1
    assert status_of(app, message_id) == SmsStatus.SENT and gateway.calls == 2


def test_an_unreachable_redis_does_not_break_the_committing_request(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    message_id = queue_one(app)  # no exception: the sweep of `portal worker` will find it
    assert status_of(app, message_id) == SmsStatus.PENDING


def test_sms_deliver_command_sends_what_is_due(make_app):
    app = make_app()
    message_id = insert_pending_without_a_job(app)
    result = app.test_cli_runner().invoke(args=["sms", "deliver"])
    assert result.exit_code == 0 and "Sent: 1" in result.output
    assert status_of(app, message_id) == SmsStatus.SENT


def test_worker_command_needs_redis(make_app):
    result = make_app().test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code != 0 and "REDIS_URL" in result.output


# --- RQ on Redis --------------------------------------------------------------------


@pytest.fixture
def redis_app(make_app):
    """An app whose jobs go to a queue of its own in the test Redis; the queue is
    deleted after (never the whole database)."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("TEST_REDIS_URL is not set: CI must run the Redis tests")
        pytest.skip("RQ tests need TEST_REDIS_URL")
    app = make_app(REDIS_URL=url, PORTAL_JOBS_QUEUE=f"portal-test-{uuid.uuid4().hex[:8]}")
    rq_queue = jobs.redis_queue(app)
    yield app
    rq_queue.delete(delete_jobs=True)
    registries = (rq_queue.finished_job_registry, rq_queue.failed_job_registry)
    for registry in (*registries, rq_queue.scheduled_job_registry):
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)
    rq_queue.connection.close()


@pytest.mark.redis
def test_rq_worker_delivers_a_committed_message(redis_app):
    message_id = queue_one(redis_app)
    assert jobs.redis_queue(redis_app).count == 1
    assert status_of(redis_app, message_id) == SmsStatus.PENDING  # nothing sent in the request

    jobs.run_worker(redis_app, burst=True)

    assert status_of(redis_app, message_id) == SmsStatus.SENT
    assert jobs.redis_queue(redis_app).count == 0


@pytest.mark.redis
def test_rq_worker_picks_up_pending_messages_on_start(redis_app):
    message_id = insert_pending_without_a_job(redis_app)
    assert jobs.redis_queue(redis_app).count == 0

    result = redis_app.test_cli_runner().invoke(args=["worker", "--burst"])

    assert result.exit_code == 0, result.output
    assert status_of(redis_app, message_id) == SmsStatus.SENT


@pytest.mark.redis
def test_rq_retry_is_scheduled_for_later(redis_app, monkeypatch):
    monkeypatch.setattr(delivery, "make_gateway", lambda _config: DownOnce())
    queue_one(redis_app)
    jobs.run_worker(redis_app, burst=True)

    rq_queue = jobs.redis_queue(redis_app)
    assert rq_queue.scheduled_job_registry.count == 1  # waits for the RQ scheduler


# --- web push through RQ --------------------------------------------------------------


def push_on(app) -> None:
    pair = keys.generate()
    app.config.update(
        PORTAL_PUSH_ENABLED=True,
        PORTAL_VAPID_PRIVATE_KEY=pair["private_key"],
        PORTAL_VAPID_PUBLIC_KEY=pair["public_key"],
        PORTAL_PUSH_ALLOW_LOCAL=True,
    )


def notify_subscribed(app, service: PushService) -> tuple[Browser, int]:
    """A person with one device on the test's push service, and a notification committed."""
    browser = Browser(service.origin + "/push/rq")
    with app.app_context():
        person = create_subscriber(db.session).person
        subscriptions.subscribe(
            db.session, person.id, browser.subscription(), user_agent="", allow_local=True
        )
        db.session.commit()
        notification = notifications.notify(
            db.session, person.id, NotificationKind.PAYMENTS, "Через RQ", "Тело", "history/"
        )
        db.session.commit()
        return browser, notification.id


@pytest.mark.redis
def test_a_push_goes_through_rq_to_the_push_service(redis_app):
    push_on(redis_app)
    with PushService() as service:
        browser, _notification_id = notify_subscribed(redis_app, service)
        assert jobs.redis_queue(redis_app).count == 1  # the send job, not run in the request
        assert service.received == []

        jobs.run_worker(redis_app, burst=True)  # RQ's SimpleWorker, in this process

        [request] = service.received
    assert browser.decrypt(request.body)["title"] == "Через RQ"
    assert request.headers["authorization"].startswith("vapid t=")


@pytest.mark.redis
def test_an_rq_push_retry_waits_in_the_scheduler_and_in_the_database(redis_app):
    push_on(redis_app)
    with PushService() as service:
        service.answer(503)
        _browser, notification_id = notify_subscribed(redis_app, service)
        jobs.run_worker(redis_app, burst=True)
        assert len(service.received) == 1
    assert jobs.redis_queue(redis_app).scheduled_job_registry.count == 1
    with redis_app.app_context():
        delivery = db.session.scalars(
            sa.select(PushDelivery).where(PushDelivery.notification_id == notification_id)
        ).one()
        assert (delivery.state, delivery.attempts) == (DeliveryState.PENDING, 1)


def test_forgetting_pending_jobs_drops_them_before_they_run(app):
    with app.app_context():
        jobs.enqueue(record_call, "first")
        jobs.enqueue(record_call, "second")
    assert jobs.forget_pending(app) == 2
    assert jobs.drain(app) == 0 and CALLS == []


CALLS: list[str] = []


def record_call(db, config, label: str) -> None:
    CALLS.append(label)


def test_push_deliver_command_sends_a_push_whose_job_was_lost_once(make_app):
    app = make_app()
    push_on(app)
    with PushService() as service:
        browser, _notification_id = notify_subscribed(app, service)
        assert jobs.forget_pending(app) == 1  # the send job, lost as in a restart
        assert service.received == []

        runner = app.test_cli_runner()
        first = runner.invoke(args=["push", "deliver"])
        again = runner.invoke(args=["push", "deliver"])

        [request] = service.received  # the delivery waited in the database, sent once
    assert first.exit_code == 0 and "Sent: 1," in first.output, first.output
    assert again.exit_code == 0 and "Sent: 0," in again.output, again.output
    assert browser.decrypt(request.body)["title"] == "Через RQ"
