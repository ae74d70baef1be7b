"""Web push end to end: pywebpush against a push service of the test's own on 127.0.0.1,
which checks what a real one would (the VAPID JWT, the aes128gcm body, the headers);
removal on 404/410, retries on 429/5xx; and the notification centre."""

import json
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from portal import clock, jobs
from portal.domain import notifications
from portal.domain.auth import credentials, signin
from portal.domain.errors import NotFound
from portal.domain.push import keys, sending, subscriptions
from portal.domain.push.sending import Outcome, PushSettings, deliver
from portal.models import (
    Account,
    DeliveryState,
    Notification,
    NotificationKind,
    PushDelivery,
    PushSubscription,
)
from tests.factories import create_subscriber, credited_payment
from tests.push_service import Browser, PushService


@pytest.fixture
def vapid(app, monkeypatch):
    """Push on, with a key pair of the test's own."""
    pair = keys.generate()
    monkeypatch.setitem(app.config, "PORTAL_PUSH_ENABLED", True)
    monkeypatch.setitem(app.config, "PORTAL_VAPID_PRIVATE_KEY", pair["private_key"])
    monkeypatch.setitem(app.config, "PORTAL_VAPID_PUBLIC_KEY", pair["public_key"])
    monkeypatch.setitem(app.config, "PORTAL_PUSH_ALLOW_LOCAL", True)
    with app.app_context():
        jobs.drain(app)  # nothing left over from another test
    return pair


@pytest.fixture
def push_service():
    with PushService() as service:
        yield service


def subscribed(app, session, push_service, path="/push/device-1"):
    person = create_subscriber(session).person
    browser = Browser(push_service.origin + path)
    with app.app_context():
        device = subscriptions.subscribe(
            session, person.id, browser.subscription(), user_agent="test", allow_local=True
        )
    session.commit()
    return person, browser, device.id


def notify_and_send(app, session, person, kind=NotificationKind.PAYMENTS, title="Hello"):
    with app.app_context():
        notification = notifications.notify(
            session, person.id, kind, title, "Привет, мир", "history/"
        )
        session.commit()
        jobs.drain(app)
    return notification


def verify_jwt(token: str, public_key: str) -> dict:
    header, claims, signature = token.split(".")
    key = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), keys.b64url_decode(public_key)
    )
    raw = keys.b64url_decode(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    assert json.loads(keys.b64url_decode(header)) == {"typ": "JWT", "alg": "ES256"}
    return json.loads(keys.b64url_decode(claims))


def test_a_push_is_signed_encrypted_and_readable_by_the_device(
    app, session, vapid, push_service, caplog
):
    person, browser, device = subscribed(app, session, push_service)
    with caplog.at_level("INFO", logger="portal.push"):
        notification = notify_and_send(app, session, person)
    # The line portal.metrics counts as portal_push_total{outcome="sent"}.
    assert f"push.sent subscription={device}" in caplog.messages

    [request] = push_service.received
    assert request.path == "/push/device-1"
    scheme, _, params = request.headers["authorization"].partition(" ")
    assert scheme == "vapid"
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert fields["k"] == vapid["public_key"]
    claims = verify_jwt(fields["t"], vapid["public_key"])
    assert claims["aud"] == push_service.origin
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert claims["sub"].startswith(("mailto:", "https://"))
    assert request.headers["content-encoding"] == "aes128gcm"
    assert request.headers["ttl"] == str(app.config["PORTAL_PUSH_TTL"])
    assert request.headers["urgency"] == "normal"
    assert request.headers["topic"] == "payments"

    message = browser.decrypt(request.body)
    assert message["title"] == "Hello"
    assert message["body"] == "Привет, мир"
    assert message["url"] == f"/notifications/{notification.id}/open"
    session.expire_all()
    assert session.get(PushSubscription, device).last_success_at is not None


def test_a_signature_by_another_key_does_not_verify(app, session, vapid, push_service):
    """The check above can fail: a JWT checked against another public key is refused."""
    person, _browser, _device = subscribed(app, session, push_service)
    notify_and_send(app, session, person)
    token = push_service.received[0].headers["authorization"].split("t=")[1].split(",")[0]
    with pytest.raises(InvalidSignature):
        verify_jwt(token, keys.generate()["public_key"])


@pytest.mark.parametrize("status", [404, 410])
def test_a_subscription_the_service_calls_gone_is_removed(
    app, session, vapid, push_service, status
):
    person, _browser, device = subscribed(app, session, push_service)
    push_service.answer(status)
    notify_and_send(app, session, person)
    assert len(push_service.received) == 1
    session.expire_all()
    assert (
        session.scalar(sa.select(PushSubscription.id).where(PushSubscription.id == device)) is None
    )
    # The centre keeps it all the same.
    assert notifications.unread_count(session, person.id) == 1


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_busy_or_failing_service_is_tried_again_later(
    app, session, vapid, push_service, frozen_clock, status
):
    person, browser, device = subscribed(app, session, push_service)
    push_service.answer(status)
    notify_and_send(app, session, person)
    assert len(push_service.received) == 1
    with app.app_context():
        assert jobs.drain(app) == 0  # not before the pause
        frozen_clock.advance(seconds=app.config["PORTAL_PUSH_RETRY_DELAY"] + 1)
        assert jobs.drain(app) == 1
    assert len(push_service.received) == 2
    assert browser.decrypt(push_service.received[1].body)["title"] == "Hello"
    session.expire_all()
    assert session.get(PushSubscription, device).last_success_at is not None


def test_retry_after_is_honoured_and_the_last_attempt_gives_up(
    app, session, vapid, push_service, frozen_clock, monkeypatch
):
    monkeypatch.setitem(app.config, "PORTAL_PUSH_MAX_ATTEMPTS", 2)
    person, _browser, device = subscribed(app, session, push_service)
    push_service.answer(429, **{"Retry-After": "600"})
    push_service.answer(500)
    notify_and_send(app, session, person)
    with app.app_context():
        frozen_clock.advance(seconds=599)
        assert jobs.drain(app) == 0
        frozen_clock.advance(seconds=2)
        assert jobs.drain(app) == 1
        frozen_clock.advance(days=1)
        assert jobs.drain(app) == 0  # two attempts were all
    assert len(push_service.received) == 2
    session.expire_all()
    assert session.get(PushSubscription, device) is not None  # a failure is no removal


def test_a_refused_push_is_not_retried(app, session, vapid, push_service):
    person, _browser, device = subscribed(app, session, push_service)
    push_service.answer(400)
    notification = notify_and_send(app, session, person)
    with app.app_context():
        assert jobs.drain(app) == 0
        outcome = deliver(
            session, PushSettings.from_config(app.config), notification, device, attempt=1
        )
    assert outcome == Outcome.SENT  # the next answer is the default 201
    assert len(push_service.received) == 2


def test_kinds_the_person_turned_off_are_not_pushed_but_kept(app, session, vapid, push_service):
    person, _browser, _device = subscribed(app, session, push_service)
    subscriptions.set_preferences(session, person.id, {NotificationKind.PAYMENTS})
    session.commit()
    notify_and_send(app, session, person, kind=NotificationKind.PROMOTIONS)
    assert push_service.received == []
    notify_and_send(app, session, person, kind=NotificationKind.PAYMENTS)
    assert len(push_service.received) == 1
    assert notifications.unread_count(session, person.id) == 2


def test_with_push_off_nothing_is_sent(app, session, vapid, push_service, monkeypatch):
    person, _browser, _device = subscribed(app, session, push_service)
    monkeypatch.setitem(app.config, "PORTAL_PUSH_ENABLED", False)
    notify_and_send(app, session, person)
    assert push_service.received == []


def test_a_push_kept_while_push_was_off_is_not_sent_once_its_ttl_is_over(
    app, session, vapid, push_service, monkeypatch, frozen_clock
):
    """Its delivery waits (written with the notification); push turned on again after
    the push's TTL would send old news: it is given up instead."""
    person, _browser, _device = subscribed(app, session, push_service)
    monkeypatch.setitem(app.config, "PORTAL_PUSH_ENABLED", False)
    old = notify_and_send(app, session, person, title="old")
    monkeypatch.setitem(app.config, "PORTAL_PUSH_ENABLED", True)
    frozen_clock.advance(seconds=app.config["PORTAL_PUSH_TTL"] + 1)
    new = notify_and_send(app, session, person, title="new")
    with app.app_context():
        jobs.drain(app, sweep=True)
    assert [r.path for r in push_service.received] == ["/push/device-1"]  # the new one only
    assert delivery_of(session, old.id).state == DeliveryState.FAILED
    assert delivery_of(session, new.id).state == DeliveryState.SENT


def test_internal_addresses_are_refused_when_not_allowed(app, session, vapid, push_service):
    """Production: the server posts to no internal host, even one a device named."""
    person, _browser, device = subscribed(app, session, push_service)
    notification = notify_and_send(app, session, person, title="first")
    settings = PushSettings.from_config({**app.config, "PORTAL_PUSH_ALLOW_LOCAL": False})
    with app.app_context():
        outcome = deliver(session, settings, notification, device, attempt=1)
    assert outcome == Outcome.FAILED
    assert len(push_service.received) == 1  # only the first, allowed send


def test_a_credited_payment_lands_in_the_centre_and_is_pushed(app, session, vapid, push_service):
    person, browser, _device = subscribed(app, session, push_service)
    account = session.scalar(sa.select(Account).where(Account.person_id == person.id))
    with app.app_context():
        credited_payment(session, account, amount=700_00)
        session.commit()
        jobs.drain(app)
    [entry] = notifications.latest(session, person.id)
    assert entry.kind == NotificationKind.PAYMENTS
    assert entry.title == "Платёж зачислен"
    assert "700,00" in entry.body and account.contract_number in entry.body
    assert entry.url == "history/"
    [request] = push_service.received
    assert browser.decrypt(request.body)["title"] == "Платёж зачислен"


# --- subscriptions -------------------------------------------------------------------


def valid(endpoint="https://push.example.com/send/abc") -> dict:
    return Browser(endpoint).subscription()


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "x",
        {},
        {"endpoint": "https://push.example.com/x"},
        {"endpoint": "https://push.example.com/x", "keys": {"p256dh": "abc", "auth": "abc"}},
        {**valid(), "keys": {"p256dh": valid()["keys"]["p256dh"]}},
        {**valid(), "endpoint": "http://push.example.com/x"},
        {**valid(), "endpoint": "ftp://push.example.com/x"},
        {**valid(), "endpoint": "https://push.example.com/" + "x" * 1000},
        {**valid(), "endpoint": "https://user:pw@push.example.com/x"},
        {**valid(), "endpoint": 12},
    ],
)
def test_a_subscription_that_is_no_subscription_is_refused(data):
    with pytest.raises(subscriptions.InvalidSubscription):
        subscriptions.parse(data, allow_local=True)


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://127.0.0.1/x",
        "https://localhost/x",
        "https://10.0.0.5/x",
        "https://192.168.1.1/x",
        "https://169.254.169.254/latest",
        "https://[::1]/x",
        "https://intranet/x",
        "http://127.0.0.1:8080/x",
    ],
)
def test_internal_endpoints_are_refused_unless_allowed(endpoint):
    with pytest.raises(subscriptions.InvalidSubscription):
        subscriptions.parse(valid(endpoint), allow_local=False)
    subscriptions.parse(valid(endpoint), allow_local=True)


def test_a_public_https_endpoint_is_accepted():
    endpoint, p256dh, auth = subscriptions.parse(valid(), allow_local=False)
    assert endpoint == "https://push.example.com/send/abc"
    assert len(keys.b64url_decode(p256dh)) == 65 and len(keys.b64url_decode(auth)) == 16


def test_subscribing_again_updates_the_device_and_a_new_owner_takes_it(session):
    first = create_subscriber(session).person
    second = create_subscriber(session).person
    data = valid()
    one = subscriptions.subscribe(session, first.id, data, user_agent="a", allow_local=False)
    again = subscriptions.subscribe(session, second.id, valid(), user_agent="b", allow_local=False)
    assert again.id == one.id and again.person_id == second.id and again.user_agent == "b"
    endpoint = data["endpoint"]
    assert session.scalars(
        sa.select(PushSubscription.id).where(PushSubscription.endpoint == endpoint)
    ).all() == [one.id]


def test_removing_another_persons_device_is_not_found(session):
    owner = create_subscriber(session).person
    other = create_subscriber(session).person
    device = subscriptions.subscribe(session, owner.id, valid(), user_agent="", allow_local=False)
    device_id = device.id
    with pytest.raises(NotFound):
        subscriptions.remove_device(session, other.id, device_id)
    subscriptions.remove_device(session, owner.id, device_id)
    assert session.get(PushSubscription, device_id) is None


def devices_left(session, *endpoints: str) -> list[tuple[int, str]]:
    """(person, endpoint) of the devices with these endpoints, as stored now."""
    rows = session.execute(
        sa.select(PushSubscription.person_id, PushSubscription.endpoint)
        .where(PushSubscription.endpoint.in_(endpoints))
        .order_by(PushSubscription.endpoint)
        .execution_options(populate_existing=True)
    )
    return [tuple(row) for row in rows]


def signed_in(session, person):
    return credentials.start_session(
        session, person, remember=False, lifetime=timedelta(hours=1), address=None, user_agent=None
    )


PHONE, TABLET, THEIRS = (f"https://push.example.com/send/{name}" for name in ("a", "b", "c"))


def two_people_with_devices(session):
    """One person with a phone and a tablet, another with a device of their own."""
    me, other = create_subscriber(session).person, create_subscriber(session).person
    for person, endpoint in ((me, PHONE), (me, TABLET), (other, THEIRS)):
        data = valid(endpoint)
        subscriptions.subscribe(session, person.id, data, user_agent="", allow_local=False)
    return me, other


def test_signing_out_forgets_the_signers_device_it_names_and_no_other(session):
    me, other = two_people_with_devices(session)
    new = signed_in(session, me)
    signin.sign_out(session, me.id, new.token, address=None, push_endpoint=PHONE)
    assert credentials.live_session(session, new.token) is None
    assert devices_left(session, PHONE, TABLET, THEIRS) == [(me.id, TABLET), (other.id, THEIRS)]


@pytest.mark.parametrize(
    "endpoint", [THEIRS, "https://push.example.com/send/unknown", "", None, "\x00", "x" * 1001]
)
def test_signing_out_with_no_device_of_ones_own_forgets_nothing_and_signs_out(session, endpoint):
    me, other = two_people_with_devices(session)
    new = signed_in(session, me)
    signin.sign_out(session, me.id, new.token, address=None, push_endpoint=endpoint)
    assert credentials.live_session(session, new.token) is None
    assert devices_left(session, PHONE, TABLET, THEIRS) == [
        (me.id, PHONE),
        (me.id, TABLET),
        (other.id, THEIRS),
    ]


def test_whether_a_browsers_subscription_is_the_persons(session):
    me, other = two_people_with_devices(session)
    assert subscriptions.is_on(session, me.id, PHONE)
    assert not subscriptions.is_on(session, me.id, THEIRS)
    assert not subscriptions.is_on(session, me.id, "https://push.example.com/send/unknown")
    assert subscriptions.is_on(session, other.id, THEIRS)
    # The device handed to the next person (they turned push on): no longer the first's.
    subscriptions.subscribe(session, other.id, valid(PHONE), user_agent="", allow_local=False)
    assert not subscriptions.is_on(session, me.id, PHONE)
    assert subscriptions.is_on(session, other.id, PHONE)
    with pytest.raises(subscriptions.InvalidSubscription):
        subscriptions.is_on(session, me.id, "x" * 1001)


@pytest.mark.parametrize(
    ("agent", "name"),
    [
        (
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36",
            "Chrome, Android",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari, iPhone",
        ),
        ("Mozilla/5.0 (Windows NT 10.0) Chrome/126.0 Safari/537.36 Edg/126.0", "Edge, Windows"),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox, Linux",
        ),
        ("", ""),
    ],
)
def test_the_device_list_names_the_browser(agent, name):
    assert subscriptions.browser_name(agent) == name


# --- the centre ------------------------------------------------------------------------


def test_the_centre_counts_unread_and_marks_read(app, session):
    person = create_subscriber(session).person
    other = create_subscriber(session).person
    with app.app_context():
        first = notifications.notify(session, person.id, NotificationKind.VISITS, "a", "b", "")
        notifications.notify(session, person.id, NotificationKind.VISITS, "c", "d", "")
        notifications.notify(session, other.id, NotificationKind.VISITS, "e", "f", "")
    assert notifications.unread_count(session, person.id) == 2
    notifications.mark_read(session, person.id, first.id)
    assert notifications.unread_count(session, person.id) == 1
    with pytest.raises(NotFound):
        notifications.mark_read(session, other.id, first.id)
    assert notifications.mark_all_read(session, person.id) == 1
    assert notifications.unread_count(session, person.id) == 0
    assert notifications.unread_count(session, other.id) == 1
    assert len(notifications.latest(session, other.id)) == 1


# --- the send state in the database ----------------------------------------------------


def delivery_of(session, notification_id: int) -> PushDelivery:
    session.expire_all()
    return session.scalars(
        sa.select(PushDelivery).where(PushDelivery.notification_id == notification_id)
    ).one()


def restart(app) -> None:
    """What a restart does to the in-process queue: every job in it is gone."""
    queue = app.extensions["portal_jobs"]
    with queue._wakeup:
        queue._jobs.clear()


def test_a_retry_survives_a_restart(app, session, vapid, push_service, frozen_clock):
    person, browser, _device = subscribed(app, session, push_service)
    push_service.answer(503)
    notification = notify_and_send(app, session, person)
    waiting = delivery_of(session, notification.id)
    assert (waiting.state, waiting.attempts, waiting.last_status) == (
        DeliveryState.PENDING,
        1,
        503,
    )
    restart(app)
    with app.app_context():
        jobs.drain(app, sweep=True)
        assert len(push_service.received) == 1  # not before the pause
        frozen_clock.advance(seconds=app.config["PORTAL_PUSH_RETRY_DELAY"] + 1)
        jobs.drain(app, sweep=True)
    assert len(push_service.received) == 2
    assert browser.decrypt(push_service.received[1].body)["title"] == "Hello"
    sent = delivery_of(session, notification.id)
    assert (sent.state, sent.attempts, sent.last_status) == (DeliveryState.SENT, 2, 201)


def test_the_pause_doubles_from_attempt_to_attempt(app, session, vapid, push_service, frozen_clock):
    person, _browser, _device = subscribed(app, session, push_service)
    push_service.answer(500)
    push_service.answer(500)
    notification = notify_and_send(app, session, person)
    first_due = delivery_of(session, notification.id).next_attempt_at
    delay = app.config["PORTAL_PUSH_RETRY_DELAY"]
    assert first_due == clock.now() + timedelta(seconds=delay)
    restart(app)
    with app.app_context():
        frozen_clock.advance(seconds=delay)
        jobs.drain(app, sweep=True)
    second = delivery_of(session, notification.id)
    assert second.attempts == 2
    assert second.next_attempt_at == clock.now() + timedelta(seconds=2 * delay)


def test_a_send_whose_worker_died_is_taken_up_after_its_hold(
    app, session, vapid, push_service, frozen_clock
):
    """A claim that never finished (the process died mid-send) is sent by the sweep once
    the hold is over, not before."""
    person, browser, device = subscribed(app, session, push_service)
    with app.app_context():
        notification = notifications.notify(
            session, person.id, NotificationKind.VISITS, "Техник", "Завтра", "visits/"
        )
        session.commit()
        restart(app)  # the send job is lost with the process
        [delivery_id] = sending.plan(session, notification.id, [device])
        settings = PushSettings.from_config(app.config)
        assert sending._claim(session, settings, delivery_id) is not None  # ... and dies
        jobs.drain(app, sweep=True)
        assert push_service.received == []
        frozen_clock.advance(seconds=settings.timeout + settings.claim_margin)
        jobs.drain(app, sweep=True)
    [request] = push_service.received
    assert browser.decrypt(request.body)["title"] == "Техник"
    assert delivery_of(session, notification.id).state == DeliveryState.SENT


def test_a_send_job_run_twice_pushes_once(app, session, vapid, push_service):
    person, _browser, _device = subscribed(app, session, push_service)
    notification = notify_and_send(app, session, person)
    with app.app_context():
        jobs.run_job_in(app, notifications.SEND_JOB, notification.id)
    assert len(push_service.received) == 1


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_subscription_leaves_its_delivery_marked_removed(
    app, session, vapid, push_service, status
):
    person, _browser, device = subscribed(app, session, push_service)
    push_service.answer(status)
    notification = notify_and_send(app, session, person)
    gone = delivery_of(session, notification.id)
    assert (gone.state, gone.last_status, gone.subscription_id) == (
        DeliveryState.REMOVED,
        status,
        None,
    )
    assert session.get(PushSubscription, device) is None


@pytest.mark.parametrize(
    ("kind", "urgency"),
    [
        (NotificationKind.PAYMENTS, "normal"),
        (NotificationKind.VISITS, "high"),
        (NotificationKind.PROMOTIONS, "low"),
    ],
)
def test_each_kind_has_its_urgency_and_topic_and_the_ttl(
    app, session, vapid, push_service, monkeypatch, kind, urgency
):
    monkeypatch.setitem(app.config, "PORTAL_PUSH_TTL", 3600)
    person, _browser, _device = subscribed(app, session, push_service)
    notify_and_send(app, session, person, kind=kind)
    [request] = push_service.received
    assert request.headers["ttl"] == "3600"
    assert request.headers["urgency"] == urgency
    assert request.headers["topic"] == kind.value


def stored_with_a_bad_key(session, person, push_service, path="/push/bad") -> int:
    """A device kept before subscribing checked the key (or imported): 65 bytes of
    p256dh that are no point of P-256, so no push can ever be encrypted for it."""
    good = Browser(push_service.origin + path).subscription()
    device = PushSubscription(
        person_id=person.id,
        endpoint=push_service.origin + path,
        p256dh=keys.b64url(b"\x04" + b"\x01" * 64),
        auth=good["keys"]["auth"],
        user_agent="test",
        created_at=clock.now() + timedelta(seconds=1),  # the newest: tried first
    )
    session.add(device)
    session.commit()
    return device.id


def test_a_device_whose_key_is_no_point_is_forgotten_and_the_others_are_pushed(
    app, session, vapid, push_service, caplog
):
    person, browser, good = subscribed(app, session, push_service)
    bad = stored_with_a_bad_key(session, person, push_service)
    with caplog.at_level("INFO", logger="portal.push"):
        notification = notify_and_send(app, session, person)
    [request] = push_service.received
    assert request.path == "/push/device-1"
    assert browser.decrypt(request.body)["title"] == "Hello"
    # Forgotten as a device the push service calls gone, and counted so (portal.metrics).
    assert f"push.removed subscription={bad} status=None" in caplog.messages
    session.expire_all()
    assert session.get(PushSubscription, bad) is None
    states = dict(
        session.execute(
            sa.select(PushDelivery.subscription_id, PushDelivery.state).where(
                PushDelivery.notification_id == notification.id
            )
        ).all()
    )
    assert states == {good: DeliveryState.SENT, None: DeliveryState.REMOVED}


def test_the_sweep_goes_on_past_a_device_whose_key_is_no_point(
    app, session, vapid, push_service, frozen_clock
):
    """Deliveries waiting for the sweep (Redis was down): one that can never be encrypted
    stops neither the sweep nor another person's push after it."""
    person, _browser, _good = subscribed(app, session, push_service)
    bad = stored_with_a_bad_key(session, person, push_service)
    other, other_browser, _ = subscribed(app, session, push_service, path="/push/other")
    with app.app_context():
        first = notifications.notify(session, person.id, NotificationKind.VISITS, "A", "a", "")
        second = notifications.notify(session, other.id, NotificationKind.VISITS, "B", "b", "")
        session.commit()
        restart(app)  # their jobs are lost: the sweep sends them
        counted = sending.sweep_job(session, app.config)
    assert counted == {Outcome.SENT: 2, Outcome.REMOVED: 1}
    received = {r.path: r for r in push_service.received}
    assert sorted(received) == ["/push/device-1", "/push/other"]
    assert other_browser.decrypt(received["/push/other"].body)["title"] == "B"
    assert delivery_of(session, second.id).state == DeliveryState.SENT
    session.expire_all()
    assert session.get(PushSubscription, bad) is None
    assert session.scalars(
        sa.select(PushDelivery.state).where(PushDelivery.notification_id == first.id)
    ).all() == [DeliveryState.REMOVED, DeliveryState.SENT]


def test_a_retry_is_not_pushed_to_a_device_handed_to_another_person(
    app, session, vapid, push_service, frozen_clock
):
    """A shared phone: the first person's push waits for a retry, then the next person
    turns push on in the same browser (the device is theirs now). The retry would show
    the first person's payment on the second person's screen: it is given up."""
    first, browser, device = subscribed(app, session, push_service)
    push_service.answer(503)
    notification = notify_and_send(app, session, first, title="Платёж первого")
    second = create_subscriber(session).person
    with app.app_context():
        subscriptions.subscribe(
            session, second.id, browser.subscription(), user_agent="", allow_local=True
        )
        session.commit()
        frozen_clock.advance(seconds=app.config["PORTAL_PUSH_RETRY_DELAY"] + 1)
        jobs.drain(app, sweep=True)
    assert len(push_service.received) == 1  # the first attempt only
    assert delivery_of(session, notification.id).state == DeliveryState.FAILED
    assert session.get(PushSubscription, device).person_id == second.id  # kept for them


def test_a_retry_of_a_kind_the_person_turned_off_meanwhile_is_not_pushed(
    app, session, vapid, push_service, frozen_clock
):
    person, _browser, _device = subscribed(app, session, push_service)
    push_service.answer(503)
    notification = notify_and_send(app, session, person, kind=NotificationKind.PROMOTIONS)
    subscriptions.set_preferences(session, person.id, {NotificationKind.PAYMENTS})
    session.commit()
    with app.app_context():
        frozen_clock.advance(seconds=app.config["PORTAL_PUSH_RETRY_DELAY"] + 1)
        jobs.drain(app, sweep=True)
    assert len(push_service.received) == 1
    assert delivery_of(session, notification.id).state == DeliveryState.FAILED
    assert notifications.unread_count(session, person.id) == 1  # the centre keeps it


def test_a_push_fits_the_4_kb_a_push_service_takes(app, session, vapid, push_service):
    """Push services refuse a body over 4096 bytes (413: given up, the push never comes).
    The longest title and text a notification keeps, in 4-byte characters, is more than
    that once encrypted: the text, then the title, are shortened to fit."""
    person, browser, _device = subscribed(app, session, push_service)
    title, body = "🎉" * 300, "🎁" * 1200
    with app.app_context():
        kind = NotificationKind.PROMOTIONS
        notifications.notify(session, person.id, kind, title, body, "promos/")
        session.commit()
        jobs.drain(app)
    [request] = push_service.received
    assert len(request.body) <= 4096
    message = browser.decrypt(request.body)
    assert message["title"] == "🎉" * 200  # what the centre keeps of it
    assert message["body"].endswith("…") and body.startswith(message["body"][:-1])
    assert message["url"].startswith("/notifications/")


def test_a_short_push_is_sent_as_it_is(app):
    """Only what does not fit is shortened."""
    notification = Notification(
        id=7, title="Скидка", body="Два месяца скорости.", kind=NotificationKind.PROMOTIONS
    )
    with app.app_context():
        message = json.loads(sending.payload(notification))
    assert (message["title"], message["body"]) == ("Скидка", "Два месяца скорости.")
