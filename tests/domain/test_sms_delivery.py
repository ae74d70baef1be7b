"""Delivering the outbox: retries with backoff, the final failed state, erasing secrets,
logs without them, and messages picked up again after a crash."""

import logging
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import jobs
from portal.domain import secretbox
from portal.domain.sms import REDACTED, delivery, queue
from portal.domain.sms.base import (
    OutgoingSms,
    PermanentGatewayError,
    SendResult,
    SmsGateway,
    TemporaryGatewayError,
)
from portal.domain.sms.outbox import OutboxGateway, recent_messages
from portal.extensions import db
from portal.models import SmsMessage, SmsStatus
from tests.conftest import TEST_SECRET_KEY

PHONE = "+79781234567"
SECRET_TEXT = "Новый пароль: Тайна-77"


class ScriptedGateway(SmsGateway):
    """Fails as told, then accepts; remembers what it was asked to send."""

    name = "scripted"

    def __init__(self, *failures: Exception):
        self.failures = list(failures)
        self.sent: list[OutgoingSms] = []

    def send(self, sms: OutgoingSms) -> SendResult:
        self.sent.append(sms)
        if self.failures:
            raise self.failures.pop(0)
        return SendResult(acknowledged={1: f"gw-{sms.message_id}"})


KEY = TEST_SECRET_KEY
POLICY = delivery.RetryPolicy(max_attempts=4, base_delay=timedelta(seconds=10), secret_key=KEY)


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def queued(session, text="Привет", sensitive=False) -> SmsMessage:
    message = queue(
        session, to_phone=PHONE, text=text, purpose="test", sensitive=sensitive, secret_key=KEY
    )
    session.commit()
    return message


def test_message_is_sent_and_gateway_ids_recorded(ctx, session, frozen_clock):
    message = queued(session)
    outcome = delivery.deliver(session, message.id, gateway=ScriptedGateway(), policy=POLICY)

    assert outcome.status == SmsStatus.SENT
    assert message.sent_at == frozen_clock()
    assert message.gateway_ids == [f"gw-{message.id}"] and message.parts == {
        "1": message.gateway_ids[0]
    }


def test_temporary_failures_back_off_exponentially_then_fail_for_good(ctx, session, frozen_clock):
    failures = [TemporaryGatewayError(f"down {n}") for n in range(4)]
    gateway = ScriptedGateway(*failures)
    message = queued(session)
    delays = []
    for _ in range(3):
        outcome = delivery.deliver(session, message.id, gateway=gateway, policy=POLICY)
        assert outcome.status == SmsStatus.PENDING
        delays.append(outcome.next_attempt_at - frozen_clock())
        # Not due yet: nothing happens before the time.
        assert delivery.deliver(session, message.id, gateway=gateway, policy=POLICY).status is None
        frozen_clock.set(outcome.next_attempt_at)

    last = delivery.deliver(session, message.id, gateway=gateway, policy=POLICY)

    assert delays == [timedelta(seconds=s) for s in (10, 20, 40)]
    assert last.status == SmsStatus.FAILED and message.status == SmsStatus.FAILED
    assert message.attempts == 4 and message.last_error == "down 3"
    assert len(gateway.sent) == 4


def test_backoff_is_capped():
    policy = delivery.RetryPolicy(base_delay=timedelta(minutes=1), max_delay=timedelta(hours=1))
    assert policy.delay_after(1) == timedelta(minutes=1)
    assert policy.delay_after(20) == timedelta(hours=1)


def test_a_permanent_refusal_fails_at_once(ctx, session):
    message = queued(session)
    gateway = ScriptedGateway(PermanentGatewayError("invalid destination"))
    outcome = delivery.deliver(session, message.id, gateway=gateway, policy=POLICY)

    assert outcome.status == SmsStatus.FAILED and message.attempts == 1
    assert message.last_error == "invalid destination"


def test_parts_acknowledged_before_a_failure_are_not_resent(ctx, session, frozen_clock):
    gateway = ScriptedGateway(TemporaryGatewayError("lost", acknowledged={1: "a", 2: "b"}))
    message = queued(session)
    delivery.deliver(session, message.id, gateway=gateway, policy=POLICY)
    frozen_clock.advance(minutes=1)
    delivery.deliver(session, message.id, gateway=gateway, policy=POLICY)

    assert gateway.sent[1].acknowledged == {1: "a", 2: "b"}


def test_a_crashing_backend_leaves_the_message_pending(ctx, session):
    message = queued(session)
    outcome = delivery.deliver(
        session, message.id, gateway=ScriptedGateway(RuntimeError("bug")), policy=POLICY
    )
    assert outcome.status == SmsStatus.PENDING
    assert message.last_error == "unexpected RuntimeError"


def test_sensitive_text_is_sealed_sent_in_clear_then_erased(ctx, session):
    message = queued(session, text=SECRET_TEXT, sensitive=True)
    assert SECRET_TEXT not in message.body and secretbox.unseal(message.body, KEY) == SECRET_TEXT
    gateway = ScriptedGateway()

    delivery.deliver(session, message.id, gateway=gateway, policy=POLICY)

    assert gateway.sent[0].text == SECRET_TEXT
    assert message.body == REDACTED


def test_sensitive_text_of_a_failed_message_is_erased_too(ctx, session):
    message = queued(session, text=SECRET_TEXT, sensitive=True)
    gateway = ScriptedGateway(PermanentGatewayError("no"))
    delivery.deliver(session, message.id, gateway=gateway, policy=POLICY)
    assert message.body == REDACTED


def test_sensitive_text_never_reaches_the_logs(ctx, session, caplog, frozen_clock):
    caplog.set_level(logging.DEBUG)
    message = queued(session, text=SECRET_TEXT, sensitive=True)
    gateway = ScriptedGateway(TemporaryGatewayError("down"))
    delivery.deliver(session, message.id, gateway=gateway, policy=POLICY)
    frozen_clock.advance(hours=1)
    delivery.deliver(session, message.id, gateway=OutboxGateway(), policy=POLICY)

    assert caplog.records, "delivery logs its events"
    assert all("Тайна" not in record.getMessage() for record in caplog.records)
    assert {"sms.retry", "sms.outbox", "sms.sent"} <= {
        getattr(record, "event", None) for record in caplog.records
    }


def test_outbox_backend_logs_plain_texts_and_keeps_sealed_ones_readable_in_demo(
    ctx, session, caplog
):
    caplog.set_level(logging.INFO, logger="portal.sms")
    plain = queued(session, text="Баланс пополнен")
    secret = queued(session, text=SECRET_TEXT, sensitive=True)
    gateway = OutboxGateway()
    demo = delivery.RetryPolicy(keep_sensitive_text=True, secret_key=KEY)
    for message in (plain, secret):
        delivery.deliver(session, message.id, gateway=gateway, policy=demo)

    assert "Баланс пополнен" in caplog.text and "Тайна" not in caplog.text
    shown = {m.id: m.text for m in recent_messages(session, reveal_with=KEY)}
    assert shown[secret.id] == SECRET_TEXT and shown[plain.id] == "Баланс пополнен"
    hidden = {m.id: m.text for m in recent_messages(session, reveal_with=None)}
    assert "Тайна" not in hidden[secret.id]


def test_outbox_keeps_sealed_texts_only_where_the_outbox_can_be_read(app):
    for mode, kept in (("demo", True), ("development", True), ("production", False)):
        config = {**app.config, "PORTAL_MODE": mode}
        assert delivery.policy_from(config, OutboxGateway()).keep_sensitive_text is kept
    assert not delivery.policy_from(app.config, ScriptedGateway()).keep_sensitive_text


def test_the_policy_carries_the_apps_secret_key(app):
    assert delivery.policy_from(app.config, OutboxGateway()).secret_key == app.config["SECRET_KEY"]


def test_a_text_sealed_with_another_key_fails_for_good_and_is_erased(ctx, session):
    message = queued(session, text=SECRET_TEXT, sensitive=True)
    other = delivery.RetryPolicy(secret_key="another-secret-key-after-a-rotation-0123")
    gateway = ScriptedGateway()

    outcome = delivery.deliver(session, message.id, gateway=gateway, policy=other)

    assert outcome.status == SmsStatus.FAILED and not gateway.sent
    assert "cannot be read" in message.last_error and message.body == REDACTED


def test_secretbox_opens_only_with_the_key_it_sealed_with():
    token = secretbox.seal(SECRET_TEXT, KEY)
    assert secretbox.unseal(token, KEY) == SECRET_TEXT
    assert secretbox.unseal(token, KEY + "x") is None
    assert secretbox.unseal(token[:-4] + "AAAA", KEY) is None


def test_a_message_whose_worker_crashed_is_picked_up_after_the_claim_times_out(
    ctx, session, frozen_clock
):
    message = queued(session)
    # A worker claims it and dies before recording anything.
    assert delivery._claim(session, message.id, POLICY) is not None
    gateway = ScriptedGateway()
    assert delivery.deliver_due(session, gateway=gateway, policy=POLICY) == 0

    frozen_clock.advance(seconds=POLICY.claim_timeout.total_seconds())
    assert delivery.deliver_due(session, gateway=gateway, policy=POLICY) == 1
    assert message.status == SmsStatus.SENT and message.attempts == 2


def test_a_crash_during_the_last_attempt_ends_in_failed(ctx, session, frozen_clock):
    message = queued(session)
    policy = delivery.RetryPolicy(max_attempts=1)
    delivery._claim(session, message.id, policy)
    frozen_clock.advance(seconds=policy.claim_timeout.total_seconds())

    delivery.deliver_due(session, gateway=ScriptedGateway(), policy=policy)

    assert message.status == SmsStatus.FAILED
    assert message.last_error == "the last attempt did not finish"


def test_deliver_due_sends_only_what_is_due(ctx, session, frozen_clock):
    first, second = queued(session), queued(session)
    session.get(SmsMessage, second.id).next_attempt_at = frozen_clock() + timedelta(hours=1)
    session.commit()
    gateway = ScriptedGateway()

    assert delivery.deliver_due(session, gateway=gateway, policy=POLICY) == 1
    assert [sms.message_id for sms in gateway.sent] == [first.id]


def test_a_message_already_sent_is_not_sent_again(ctx, session):
    message = queued(session)
    gateway = ScriptedGateway()
    delivery.deliver(session, message.id, gateway=gateway, policy=POLICY)
    assert delivery.deliver(session, message.id, gateway=gateway, policy=POLICY).status is None
    assert len(gateway.sent) == 1


def test_an_unreadable_sealed_text_fails_rather_than_sending_nonsense(ctx, session):
    message = queued(session, text=SECRET_TEXT, sensitive=True)
    message.body = "not a token"
    session.commit()
    gateway = ScriptedGateway()
    outcome = delivery.deliver(session, message.id, gateway=gateway, policy=POLICY)
    assert outcome.status == SmsStatus.FAILED and gateway.sent == []


class SlowGateway(SmsGateway):
    """Accepts each message after a pause (long enough for another worker to reach it),
    counting the sends of each, from any thread."""

    name = "slow"

    def __init__(self):
        self.lock = threading.Lock()
        self.sends: Counter[int] = Counter()

    def send(self, sms: OutgoingSms) -> SendResult:
        time.sleep(0.02)
        with self.lock:
            self.sends[sms.message_id] += 1
        return SendResult(acknowledged={1: f"gw-{sms.message_id}"})


def test_two_delivery_jobs_at_once_send_each_message_once(migrated_app):
    """`portal sms deliver` in two processes at the same moment (here two threads, each
    with its own connection, on the real database): every message leaves once."""
    with migrated_app.app_context():
        engine = db.engine
        with Session(engine) as setup:
            ids = [queue(setup, to_phone=PHONE, text=f"№{n}", purpose="race").id for n in range(40)]
            setup.commit()
        jobs.forget_pending(migrated_app)  # the sweeps below send them, not the queue
    gateway = SlowGateway()
    start = threading.Barrier(2)
    sent: list[int] = []

    def worker():
        with Session(engine) as own:
            start.wait()
            sent.append(delivery.deliver_due(own, gateway=gateway, policy=POLICY))

    try:
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert gateway.sends == Counter({message_id: 1 for message_id in ids})
        assert sum(sent) == len(ids)
    finally:
        with Session(engine) as cleanup:
            cleanup.execute(sa.delete(SmsMessage).where(SmsMessage.id.in_(ids)))
            cleanup.commit()
