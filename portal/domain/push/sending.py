"""Sending pushes through pywebpush, in background jobs only (never in a web request).

A notification goes to each device of its person that wants its kind: one delivery row
each (push_deliveries), written in the notification's own transaction (`stage`), where
the send state lives, so nothing depends on a job being queued or surviving (Redis
down, a worker killed). An attempt claims its delivery (counts the attempt and holds it
for the send timeout and PORTAL_PUSH_CLAIM_MARGIN), sends, and records the outcome. The
push service answers 404 or 410 for a subscription that is gone: it is removed, as is one
whose keys no push can be encrypted for (kept before subscribing checked them). 429 and
5xx (and a network failure) are retried with growing pauses (the service's Retry-After
when it gives one), up to PORTAL_PUSH_MAX_ATTEMPTS; anything else is given up. A retry
is a job at the due time and the delivery's row: the sweep (jobs.SWEEPS) sends whatever
is due, so a retry survives a restart, and a worker that died mid-send is taken over
when its hold runs out. Each attempt checks again that the device is still the
person's and that they still want the kind (a retry may come after either changed). The
notification stays in the centre whatever happens to its pushes.

Every push carries a TTL (PORTAL_PUSH_TTL), an Urgency by kind and a Topic (the kind), so
a push service keeps it for a device that is off, wakes the device as it deserves, and
replaces a push of the same kind still waiting with the newer one.
"""

from __future__ import annotations

import enum
import json
import logging
import socket
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from py_vapid import Vapid
from pywebpush import WebPushException, webpush
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal import clock, jobs
from portal.domain.claims import claim_due
from portal.domain.notifications import path_of
from portal.domain.push import subscriptions
from portal.models import (
    DeliveryState,
    Notification,
    NotificationKind,
    NotificationPreference,
    PushDelivery,
    PushSubscription,
)

log = logging.getLogger("portal.push")

DELIVER_JOB = "portal.domain.push.sending:deliver_job"
SWEEP_BATCH = 200

# How soon the push service should wake the device (RFC 8030 5.3).
URGENCY = {
    NotificationKind.PAYMENTS: "normal",
    NotificationKind.VISITS: "high",
    NotificationKind.PROMOTIONS: "low",
}


class Outcome(enum.StrEnum):
    SENT = "sent"
    REMOVED = "removed"  # the push service said the subscription is gone
    RETRY = "retry"  # a later attempt is scheduled
    FAILED = "failed"  # given up
    SKIPPED = "skipped"  # no such device any more, or push is off


@dataclass(frozen=True)
class PushSettings:
    enabled: bool
    private_key: str
    subject: str
    ttl: int
    timeout: float
    max_attempts: int
    retry_delay: float
    max_retry_delay: float
    allow_local: bool
    claim_margin: float  # beyond the timeout, that a claimed delivery is left alone

    @classmethod
    def from_config(cls, config: Mapping) -> PushSettings:
        return cls(
            enabled=bool(config["PORTAL_PUSH_ENABLED"]),
            private_key=config.get("PORTAL_VAPID_PRIVATE_KEY") or "",
            subject=config["PORTAL_PUSH_SUBJECT"],
            ttl=int(config["PORTAL_PUSH_TTL"]),
            timeout=float(config["PORTAL_PUSH_TIMEOUT"]),
            max_attempts=int(config["PORTAL_PUSH_MAX_ATTEMPTS"]),
            retry_delay=float(config["PORTAL_PUSH_RETRY_DELAY"]),
            max_retry_delay=float(config["PORTAL_PUSH_MAX_RETRY_DELAY"]),
            allow_local=bool(config["PORTAL_PUSH_ALLOW_LOCAL"]),
            claim_margin=float(config["PORTAL_PUSH_CLAIM_MARGIN"]),
        )


def send_job(db: Session, config: Mapping, notification_id: int) -> None:
    """The job `notifications.notify` schedules: a delivery for every device that wants
    the notification (kept in the database first), then each one tried."""
    settings = PushSettings.from_config(config)
    notification = db.get(Notification, notification_id)
    if not settings.enabled or notification is None:
        return
    if not subscriptions.wants(db, notification.person_id, notification.kind):
        return
    devices = [device.id for device in subscriptions.devices(db, notification.person_id)]
    for delivery_id in plan(db, notification.id, devices):
        attempt_delivery(db, settings, delivery_id)


def deliver_job(
    db: Session, config: Mapping, notification_id: int, subscription_id: int, attempt: int
) -> None:
    """A retry of one device's push, when it is due (`attempt` is what the queue was told;
    the delivery's own count decides)."""
    settings = PushSettings.from_config(config)
    if not settings.enabled:
        return
    delivery_id = db.scalar(
        sa.select(PushDelivery.id).where(
            PushDelivery.notification_id == notification_id,
            PushDelivery.subscription_id == subscription_id,
        )
    )
    if delivery_id is not None:
        attempt_delivery(db, settings, delivery_id)


def sweep_job(db: Session, config: Mapping) -> Counter[Outcome]:
    """The periodic sweep (jobs.SWEEPS, `portal push deliver`): every delivery that is
    due, whatever became of its job (a restart empties the in-process queue), and those
    whose worker died; the attempts' outcomes, counted."""
    settings = PushSettings.from_config(config)
    counted: Counter[Outcome] = Counter()
    if not settings.enabled:
        return counted
    while True:
        due = db.scalars(
            sa.select(PushDelivery.id)
            .where(
                PushDelivery.state == DeliveryState.PENDING,
                PushDelivery.next_attempt_at <= clock.now(),
            )
            .order_by(PushDelivery.next_attempt_at, PushDelivery.id)
            .limit(SWEEP_BATCH)
        ).all()
        db.rollback()  # end the read: each delivery is claimed in a transaction of its own
        outcomes = [attempt_delivery(db, settings, delivery_id) for delivery_id in due]
        counted.update(outcomes)
        if len(due) < SWEEP_BATCH or all(o is Outcome.SKIPPED for o in outcomes):
            return counted


def stage(db: Session, notification: Notification) -> list[int]:
    """The deliveries of a notification just written to every device of its person that
    wants its kind, in the caller's transaction (not committed): they wait in the table,
    so the push goes whatever becomes of its job (Redis down, the process gone); the
    ids, for the caller to try."""
    if not subscriptions.wants(db, notification.person_id, notification.kind):
        return []
    devices = [device.id for device in subscriptions.devices(db, notification.person_id)]
    _insert_pending(db, [(notification.id, device) for device in devices])
    return _pending(db, notification.id, devices)


def plan(db: Session, notification_id: int, subscription_ids: list[int]) -> list[int]:
    """The deliveries of a notification to these devices (made once: a job run twice
    finds them), committed; the ids of those still to be tried."""
    _insert_pending(db, [(notification_id, device) for device in subscription_ids])
    ids = _pending(db, notification_id, subscription_ids)
    db.commit()
    return ids


def stage_many(db: Session, kind: NotificationKind, written: Sequence[tuple[int, int]]) -> set[int]:
    """`stage` for many notifications of one kind just written, as (notification id,
    person id) pairs: their people's devices and choices in one query, their deliveries
    in one INSERT (the daily low-balance warnings: thousands, most to no device). The
    ids of the notifications that have a delivery to try."""
    if not written:
        return set()
    mine = dict(written)
    wants_kind = sa.func.coalesce(getattr(NotificationPreference, kind.value), sa.true())
    # The notifications by their ids' range, not a list of thousands of ids; any other
    # in the range (another transaction's) is left out below.
    pairs = [
        (notification_id, subscription_id)
        for notification_id, subscription_id in db.execute(
            sa.select(Notification.id, PushSubscription.id)
            .join(PushSubscription, PushSubscription.person_id == Notification.person_id)
            .outerjoin(
                NotificationPreference,
                NotificationPreference.person_id == Notification.person_id,
            )
            .where(Notification.id.between(min(mine), max(mine)), wants_kind)
            .order_by(
                Notification.id, PushSubscription.created_at.desc(), PushSubscription.id.desc()
            )
        )
        if notification_id in mine
    ]
    _insert_pending(db, pairs)
    return {notification_id for notification_id, _device in pairs}


def _insert_pending(db: Session, pairs: Sequence[tuple[int, int]]) -> None:
    """Deliveries as (notification id, device id) pairs, each made once."""
    if pairs:
        insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
        now = clock.now()
        db.execute(
            insert(PushDelivery).on_conflict_do_nothing(
                index_elements=["notification_id", "subscription_id"]
            ),
            [
                {
                    "notification_id": notification_id,
                    "subscription_id": subscription_id,
                    "state": DeliveryState.PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "updated_at": now,
                }
                for notification_id, subscription_id in pairs
            ],
        )


def _pending(db: Session, notification_id: int, subscription_ids: list[int]) -> list[int]:
    return list(
        db.scalars(
            sa.select(PushDelivery.id)
            .where(
                PushDelivery.notification_id == notification_id,
                PushDelivery.subscription_id.in_(subscription_ids),
                PushDelivery.state == DeliveryState.PENDING,
            )
            .order_by(PushDelivery.id)
        )
    )


# Push services take a body of 4096 bytes at most (a larger one is a 413, given up);
# aes128gcm adds its header (86 bytes with our key), the tag (16) and a delimiter (1).
PAYLOAD_MAX = 4096 - 86 - 16 - 1


def payload(notification: Notification) -> str:
    """What the service worker shows (sw.js "push"): opening it marks it read. The text,
    then the title, shortened to fit a push (the centre keeps them whole)."""
    message = {
        "title": notification.title,
        "body": notification.body,
        "url": path_of("notifications.follow", notification_id=notification.id),
        "tag": f"n{notification.id}",
        "icon": path_of("static", filename="icons/icon-192.png"),
        "badge": path_of("static", filename="icons/logo.svg"),
    }
    for field in ("body", "title"):
        over = _size(message) - PAYLOAD_MAX
        if over > 0:
            message[field] = _shortened(message[field], over)
    return json.dumps(message, ensure_ascii=False)


def _size(message: dict) -> int:
    return len(json.dumps(message, ensure_ascii=False).encode())


def _shortened(text: str, over: int) -> str:
    """`text` less at least `over` bytes of JSON, ending with an ellipsis."""
    cut, dropped = len(text), 0
    # Each character's JSON bytes (an escape is longer than its UTF-8), and the ellipsis's 3.
    while cut > 0 and dropped < over + 3:
        cut -= 1
        dropped += len(json.dumps(text[cut], ensure_ascii=False).encode()) - 2
    return text[:cut].rstrip() + "…" if cut else ""


def deliver(
    db: Session,
    settings: PushSettings,
    notification: Notification,
    subscription_id: int,
    *,
    attempt: int | None = None,
) -> Outcome:
    """Push `notification` to one device now (a new series of attempts if an earlier one
    ended), unless it is waiting for a retry or being sent (RETRY then); commits what it
    learns. `attempt` is kept for callers of old: the delivery counts its attempts. (Not
    for a promotion's push, whose counts follow each delivery from `stage` to its end.)"""
    if db.get(PushSubscription, subscription_id) is None:
        return Outcome.SKIPPED
    [delivery_id] = plan(db, notification.id, [subscription_id]) or [None]
    if delivery_id is None:  # it had ended: start again
        db.execute(
            sa.update(PushDelivery)
            .where(
                PushDelivery.notification_id == notification.id,
                PushDelivery.subscription_id == subscription_id,
            )
            .values(
                state=DeliveryState.PENDING,
                attempts=0,
                next_attempt_at=clock.now(),
                updated_at=clock.now(),
            )
        )
        [delivery_id] = plan(db, notification.id, [subscription_id])
    outcome = attempt_delivery(db, settings, delivery_id)
    return Outcome.RETRY if outcome is Outcome.SKIPPED else outcome


def attempt_delivery(db: Session, settings: PushSettings, delivery_id: int) -> Outcome:
    """One attempt at one delivery, if it is due and no one else is at it (SKIPPED
    otherwise); commits what it learns (last success, removal, the next try)."""
    delivery = _claim(db, settings, delivery_id)
    if delivery is None:
        return Outcome.SKIPPED
    return _attempt(db, settings, delivery)


def _count_ended(db: Session, delivery: PushDelivery) -> None:
    """A promotion's push counts each of its deliveries "being retried" until it ends:
    move it to its count in the transaction that ends it (so a worker killed at any point
    leaves the counts right)."""
    notification = db.get(Notification, delivery.notification_id)
    if notification is not None and notification.kind is NotificationKind.PROMOTIONS:
        from portal.domain.promos import pushing  # promotions build on push, not the reverse

        pushing.delivery_ended(db, notification, delivery.state)


def _attempt(db: Session, settings: PushSettings, delivery: PushDelivery) -> Outcome:
    notification = db.get(Notification, delivery.notification_id)
    device = (
        db.get(PushSubscription, delivery.subscription_id) if delivery.subscription_id else None
    )
    if device is None or notification is None:  # removed meanwhile
        return _end(db, delivery, DeliveryState.FAILED, None, Outcome.SKIPPED)
    if device.person_id != notification.person_id or not subscriptions.wants(
        db, notification.person_id, notification.kind
    ):
        # Since it was staged, the browser was handed to another person (a shared phone:
        # they would read this one's payments) or the person turned this kind off.
        return _end(db, delivery, DeliveryState.FAILED, None, Outcome.SKIPPED)
    if notification.created_at + timedelta(seconds=settings.ttl) < clock.now():
        # Older than a push service would keep it (kept while push was off): old news.
        log.info("push.expired subscription=%s", device.id)
        return _end(db, delivery, DeliveryState.FAILED, None, Outcome.FAILED)
    if delivery.attempts > settings.max_attempts:
        # The last attempt was claimed but never finished (the worker died).
        return _end(db, delivery, DeliveryState.FAILED, delivery.last_status, Outcome.FAILED)
    if not subscriptions.usable_keys(device.p256dh, device.auth):
        # Kept before subscribing checked them (or imported): no push can ever be
        # encrypted for it, so it is as good as gone.
        return _forget(db, delivery, device, None)
    if not settings.allow_local and _resolves_locally(device.endpoint):
        log.warning("push.refused subscription=%s internal address", device.id)
        return _end(db, delivery, DeliveryState.FAILED, None, Outcome.FAILED)
    try:
        response = webpush(
            {"endpoint": device.endpoint, "keys": {"p256dh": device.p256dh, "auth": device.auth}},
            data=payload(notification),
            vapid_private_key=Vapid.from_string(settings.private_key),
            vapid_claims={"sub": settings.subject},  # a fresh dict: webpush writes aud and exp
            ttl=settings.ttl,
            timeout=settings.timeout,
            headers={
                "Urgency": URGENCY[notification.kind],
                # A newer push of the same topic replaces one still waiting for the device.
                "Topic": notification.kind.value,
            },
        )
    except WebPushException as error:
        status = error.response.status_code if error.response is not None else None
        return _after_failure(db, settings, notification, device, delivery, status, error)
    except requests.RequestException as error:
        return _after_failure(db, settings, notification, device, delivery, None, error)
    device.last_success_at = clock.now()
    outcome = _end(
        db, delivery, DeliveryState.SENT, getattr(response, "status_code", None), Outcome.SENT
    )
    log.info("push.sent subscription=%s", device.id)  # counted by portal.metrics
    return outcome


def _claim(db: Session, settings: PushSettings, delivery_id: int) -> PushDelivery | None:
    """Count the attempt and hold the delivery while it runs (longer than a send can
    take: a worker that dies mid-send leaves it to the sweep then); None if not ours."""
    now = clock.now()
    hold = timedelta(seconds=settings.timeout + settings.claim_margin)
    pending = PushDelivery.state == DeliveryState.PENDING
    if not claim_due(
        db, PushDelivery, delivery_id, pending, now=now, hold_until=now + hold, updated_at=now
    ):
        return None
    db.commit()
    return db.get(PushDelivery, delivery_id, populate_existing=True)


def _end(
    db: Session,
    delivery: PushDelivery,
    state: DeliveryState,
    status: int | None,
    outcome: Outcome,
) -> Outcome:
    delivery.state = state
    delivery.last_status = status
    delivery.updated_at = clock.now()
    if state is not DeliveryState.PENDING:
        _count_ended(db, delivery)
    db.commit()
    return outcome


def _after_failure(db, settings, notification, device, delivery, status, error) -> Outcome:
    if status in (404, 410):
        return _forget(db, delivery, device, status)
    retriable = status is None or status == 429 or status >= 500
    if not retriable or delivery.attempts >= settings.max_attempts:
        log.warning(
            "push.failed subscription=%s status=%s attempt=%s", device.id, status, delivery.attempts
        )
        return _end(db, delivery, DeliveryState.FAILED, status, Outcome.FAILED)
    delay = min(settings.retry_delay * 2 ** (delivery.attempts - 1), settings.max_retry_delay)
    delay = max(delay, _retry_after(error))
    due = clock.now() + timedelta(seconds=delay)
    delivery.next_attempt_at = due
    _end(db, delivery, DeliveryState.PENDING, status, Outcome.RETRY)
    # The job is the quick way back; the delivery's row is the sure one (the sweep).
    try:
        jobs.enqueue(DELIVER_JOB, notification.id, device.id, delivery.attempts + 1, at=due)
    except Exception:
        log.exception("push.retry_enqueue_failed subscription=%s", device.id)
    log.info("push.retry subscription=%s status=%s in=%ss", device.id, status, delay)
    return Outcome.RETRY


def _forget(db, delivery, device, status) -> Outcome:
    """The device is gone (the push service said so: `status`) or unusable (None)."""
    log.info("push.removed subscription=%s status=%s", device.id, status)
    delivery.state = DeliveryState.REMOVED
    delivery.last_status = status
    db.flush()
    _count_ended(db, delivery)
    db.delete(device)  # the delivery keeps its state, its device emptied (SET NULL)
    db.commit()
    return Outcome.REMOVED


def _retry_after(error: Exception) -> float:
    """The push service's Retry-After in seconds (only the number form), else 0."""
    response = getattr(error, "response", None)
    value = response.headers.get("Retry-After", "") if response is not None else ""
    return float(value) if value.strip().isdigit() else 0.0


def _resolves_locally(endpoint: str) -> bool:
    """The endpoint's host names an internal address (checked again when sending: a
    name may point elsewhere now than when the device subscribed)."""
    host = urlsplit(endpoint).hostname or ""
    if subscriptions.is_local_host(host):
        return True
    try:
        infos = socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)
    except OSError:
        return False  # the send fails by itself and is retried
    return any(subscriptions.is_local_host(info[4][0]) for info in infos)
