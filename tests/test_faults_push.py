"""Faults (issue 14) for web push, with real processes as in tests/test_faults.py:
gunicorn, `portal worker`, a Redis server of the test's own, PostgreSQL, and a local push
service (tests/push_service.py) that the worker posts to.

- Redis down: a payment credited meanwhile puts its "payment credited" push in
  push_deliveries with the notification; once Redis is back, a worker's push sweep sends
  it, once.
- The worker SIGKILLed while the push service holds a push unanswered: the delivery
  stays claimed until its hold (PORTAL_PUSH_TIMEOUT + PORTAL_PUSH_CLAIM_MARGIN) is over,
  then the next worker sends it again. The boundary is at-least-once, as for the SMS: the
  push service took in the first request and may have passed it on; it acknowledged
  one. (A device shows the same push once either way: both carry the notification's tag,
  and sw.js shows a push by its tag, replacing one already shown.)
- A promotion's push, its worker SIGKILLed in the middle of a batch: every member of the
  audience gets the push on each device, acknowledged once, and the promotion's counts
  (sent, failed, removed, being retried) end as the deliveries did.
"""

import contextlib
import signal
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock, jobs
from portal.domain.payments.acquirers.sandbox import CARD_SUCCEEDS
from portal.domain.promos import pushing
from portal.domain.push import keys, subscriptions
from portal.models import (
    DeliveryState,
    Notification,
    NotificationKind,
    Person,
    PromotionPush,
    PushDelivery,
    PushSubscription,
)
from tests import test_faults, test_scale_out
from tests.conftest import csrf_from
from tests.factories import create_promotion, create_staff, create_subscriber
from tests.push_service import Browser, PushService
from tests.test_faults import portal_env, signed_in, wait_for
from tests.test_scale_out import BIN, free_port

# The fixtures of the other fault tests: a scratch database, a Redis and the app's processes.
shared_database = test_scale_out.shared_database
own_redis, running = test_faults.own_redis, test_faults.running

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture(scope="module")
def engine(shared_database):
    """The test's own connections to the module's database."""
    engine = sa.create_engine(shared_database)
    yield engine
    engine.dispose()


@pytest.fixture
def push_service():
    with PushService() as service:
        yield service


def push_env(database: str, redis_url: str, **extra: str) -> dict[str, str]:
    pair = keys.generate()
    return portal_env(
        database,
        redis_url,
        PORTAL_PUSH="1",
        PORTAL_VAPID_PRIVATE_KEY=pair["private_key"],
        PORTAL_PUSH_ALLOW_LOCAL="1",
        **extra,
    )


def clear_pushes(engine: sa.Engine) -> None:
    """The module's database is shared by its tests: each starts with no devices or
    notifications (their deliveries go with them)."""
    with engine.begin() as conn:
        conn.execute(sa.delete(Notification))
        conn.execute(sa.delete(PushSubscription))


def add_devices(engine: sa.Engine, person_id: int, service: PushService, *paths: str):
    """Devices of the person that subscribed at `paths` of the push service."""
    browsers = [Browser(service.origin + path) for path in paths]
    with Session(engine) as session:
        for browser in browsers:
            subscriptions.subscribe(
                session, person_id, browser.subscription(), user_agent="test", allow_local=True
            )
        session.commit()
    return browsers


def person_of(engine: sa.Engine, login: str) -> int:
    with Session(engine) as session:
        return session.scalar(sa.select(Person.id).where(Person.login == login))


def deliveries(engine: sa.Engine) -> list[tuple[int, DeliveryState, int]]:
    """(notification, state, attempts) of every delivery."""
    with Session(engine) as session:
        rows = session.execute(
            sa.select(PushDelivery.notification_id, PushDelivery.state, PushDelivery.attempts)
            .order_by(PushDelivery.id)
        ).all()  # fmt: skip
    return [tuple(row) for row in rows]


def notification_ids(engine: sa.Engine, kind: NotificationKind) -> list[int]:
    with Session(engine) as session:
        return list(
            session.scalars(
                sa.select(Notification.id)
                .where(Notification.kind == kind)
                .order_by(Notification.id)
            )
        )  # fmt: skip


def pay_by_card(browser: requests.Session, base: str, amount: int) -> None:
    """A payment through the sandbox acquirer, whose notification credits it."""
    form = browser.get(f"{base}/pay/", timeout=15)
    data = {
        "amount": str(amount),
        "method": "card",
        "creation_key": uuid.uuid4().hex,
        "csrf_token": csrf_from(form.text),
    }
    started = browser.post(f"{base}/pay/", data=data, allow_redirects=False, timeout=15)
    assert started.status_code == 303, started.text[:300]
    card_page = base + urlsplit(started.headers["Location"]).path
    card = browser.get(card_page, timeout=15)
    data = {"card_number": CARD_SUCCEEDS, "csrf_token": csrf_from(card.text)}
    paid = browser.post(card_page, data=data, allow_redirects=False, timeout=15)
    assert paid.status_code in (200, 303), paid.text[:300]


def test_with_redis_down_a_push_waits_in_its_table_and_goes_once_when_redis_returns(
    shared_database, engine, own_redis, running, push_service
):
    clear_pushes(engine)
    [browser] = add_devices(engine, person_of(engine, "shared"), push_service, "/push/phone")
    port = free_port()  # the acquirer's notifications come back to this instance
    env = push_env(shared_database, own_redis.url, PORTAL_PUBLIC_URL=f"http://127.0.0.1:{port}")
    instances = running(env)
    web = instances.start_web("web", port=port)
    own_redis.stop()

    pay_by_card(signed_in(web), web, 150)
    [credited] = wait_for(
        lambda: notification_ids(engine, NotificationKind.PAYMENTS),
        "the payment to be credited",
    )
    # Its job could not be queued; the push waits in its table with the notification.
    assert "jobs.enqueue_failed" in instances.log("web")
    assert deliveries(engine) == [(credited, DeliveryState.PENDING, 0)]
    assert push_service.received == []

    own_redis.start()  # empty: the job was queued nowhere; the worker's push sweep finds it
    worker_log = instances.run_worker()
    assert deliveries(engine) == [(credited, DeliveryState.SENT, 1)]
    assert worker_log.count("push.sent") == 1
    [push] = push_service.answered
    assert push.path == "/push/phone" and browser.decrypt(push.body)["tag"] == f"n{credited}"
    assert len(push_service.received) == 1


@contextlib.contextmanager
def worker(instances, tmp_path, name: str) -> Iterator[subprocess.Popen]:
    """`portal worker` as the systemd unit runs it (the sweeps every
    PORTAL_JOBS_SWEEP_SECONDS); ended after, unless killed already."""
    with (tmp_path / f"{name}.log").open("w") as log:
        process = subprocess.Popen(
            [str(BIN / "portal"), "worker"], cwd=tmp_path, env=instances.env,
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=15)


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=15)


# The push service holds a push unanswered; the sender would wait this long, and the next
# worker takes the delivery up this long after it was claimed (no margin beyond it); the
# workers sweep every second.
HOLD_ENV = {
    "PORTAL_PUSH_TIMEOUT": "3",
    "PORTAL_PUSH_CLAIM_MARGIN": "0",
    "PORTAL_JOBS_SWEEP_SECONDS": "1",
}
PUSH_SWEEP_DONE = (
    "Successfully completed portal.jobs.run_job('portal.domain.push.sending:sweep_job')"
)


def two_more_sweeps(tmp_path, name: str) -> None:
    """Wait until the running worker `name` has run the push sweep twice more."""
    log = tmp_path / f"{name}.log"
    swept = log.read_text().count(PUSH_SWEEP_DONE)
    wait_for(lambda: log.read_text().count(PUSH_SWEEP_DONE) >= swept + 2, "two more sweeps")


def held_until(engine: sa.Engine) -> tuple[datetime, datetime]:
    """The only delivery's next_attempt_at (while claimed: when the claim is over) and
    updated_at (when it was last claimed or ended)."""
    with Session(engine) as session:
        return tuple(
            session.execute(sa.select(PushDelivery.next_attempt_at, PushDelivery.updated_at)).one()
        )


def test_a_worker_killed_mid_push_leaves_it_to_be_sent_again_after_its_hold(
    shared_database, engine, own_redis, running, push_service, tmp_path
):
    clear_pushes(engine)
    [browser] = add_devices(engine, person_of(engine, "shared"), push_service, "/push/phone")
    port = free_port()
    env = push_env(
        shared_database, own_redis.url, PORTAL_PUBLIC_URL=f"http://127.0.0.1:{port}", **HOLD_ENV
    )
    instances = running(env)
    web = instances.start_web("web", port=port)
    with worker(instances, tmp_path, "first") as first:
        push_service.hold()
        pay_by_card(signed_in(web), web, 170)
        wait_for(lambda: push_service.received, "the worker to send the push")
        kill(first)
    [credited] = notification_ids(engine, NotificationKind.PAYMENTS)
    assert deliveries(engine) == [(credited, DeliveryState.PENDING, 1)]  # claimed
    claim_over, _claimed_at = held_until(engine)

    push_service.answer_again()
    with worker(instances, tmp_path, "second"):
        wait_for(
            lambda: deliveries(engine)[0][1] is DeliveryState.SENT, "the next worker to send it"
        )
        two_more_sweeps(tmp_path, "second")
    assert deliveries(engine) == [(credited, DeliveryState.SENT, 2)]
    assert held_until(engine)[1] >= claim_over  # not before the dead worker's claim was over
    # Taken in twice (the first never answered), acknowledged once, the same push; nothing
    # sent after that.
    first_push, again = push_service.received
    assert [r.path for r in push_service.answered] == ["/push/phone"]
    assert browser.decrypt(first_push.body) == browser.decrypt(again.body)


def test_a_promotion_push_with_its_worker_killed_mid_batch_reaches_everyone_once(
    shared_database, engine, own_redis, running, push_service, tmp_path
):
    """Batches of 3 over an audience of 6 (the module's subscriber first, without a
    device); the next member has two devices, the first push to them held unanswered
    when the worker dies; one device is gone (410)."""
    clear_pushes(engine)
    with Session(engine) as session:
        session.execute(sa.delete(PromotionPush))
        member = create_staff(session)
        people = [
            create_subscriber(session, login=f"promo{n}-{uuid.uuid4().hex[:6]}").person.id
            for n in range(5)
        ]
        session.commit()
        member_id = member.id
    paths = {people[0]: ["/p0/a", "/p0/b"], **{p: [f"/p{n}"] for n, p in enumerate(people) if n}}
    browsers = {}
    for person_id, own in paths.items():
        browsers.update(zip(own, add_devices(engine, person_id, push_service, *own), strict=True))
    push_service.by_path["/p3"] = 410
    env = push_env(shared_database, own_redis.url, PORTAL_PROMO_PUSH_BATCH="3", **HOLD_ENV)
    instances = running(env)

    with Session(engine) as session:
        promotion = create_promotion(session, session.merge(member))
        push = PromotionPush(
            promotion_id=promotion.id,
            started_at=clock.now(),
            progressed_at=clock.now(),
            started_by=member_id,
        )
        session.add(push)
        session.commit()
        push_id, promotion_title = push.id, promotion.title
    # What pushing.start's commit queues (the staff console's "push" button).
    from redis import Redis
    from rq import Queue

    with Redis.from_url(own_redis.url) as connection:
        Queue(env["PORTAL_JOBS_QUEUE"], connection=connection).enqueue(
            jobs.run_job, pushing.BATCH_JOB, push_id, 0
        )

    push_service.hold()  # the first push of the first batch is never answered
    with worker(instances, tmp_path, "first") as first:
        wait_for(lambda: push_service.received, "the worker to push the first batch")
        kill(first)
    [held] = push_service.received
    assert held.path.startswith("/p0/")  # the member with two devices
    push_service.answer_again()

    def counts() -> tuple[int, ...]:
        with Session(engine) as session:
            row = session.get(PromotionPush, push_id, populate_existing=True)
            return (row.people, row.sent, row.failed, row.removed, row.retrying)

    def finished() -> bool:
        states = [state for _, state, _ in deliveries(engine)]
        with Session(engine) as session:
            done = session.get(PromotionPush, push_id).finished_at is not None
        return done and len(states) == 6 and DeliveryState.PENDING not in states

    with worker(instances, tmp_path, "second"):
        wait_for(finished, "the push to reach everyone")
        two_more_sweeps(tmp_path, "second")
    # Every device's push was acknowledged once (the gone one answered 410, once); only
    # the held one was taken in twice.
    answered = Counter(r.path for r in push_service.answered)
    assert answered == Counter({path: 1 for path in browsers if path != "/p3"})
    assert Counter(r.path for r in push_service.received) == Counter(
        {path: 2 if path == held.path else 1 for path in browsers}
    )
    for request in push_service.answered:
        assert browsers[request.path].decrypt(request.body)["title"] == promotion_title
    # Everyone in the centre once; the counts are what became of the deliveries.
    with Session(engine) as session:
        centre = Counter(
            session.scalars(
                sa.select(Notification.person_id).where(
                    Notification.kind == NotificationKind.PROMOTIONS
                )
            )
        )
    assert centre == Counter({person_of(engine, "shared"): 1, **dict.fromkeys(people, 1)})
    assert counts() == (6, 5, 0, 1, 0)
