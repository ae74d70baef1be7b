"""Sending pushes through pywebpush, in background jobs only (never in a web request).

A notification goes to each device of its person that wants its kind. The push service
answers 404 or 410 for a subscription that is gone: it is removed. 429 and 5xx (and a
network failure) are retried with growing pauses (the service's Retry-After when it
gives one), up to PORTAL_PUSH_MAX_ATTEMPTS; anything else is given up. The notification
stays in the centre whatever happens to its pushes.
"""

from __future__ import annotations

import enum
import json
import logging
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from py_vapid import Vapid
from pywebpush import WebPushException, webpush
from sqlalchemy.orm import Session

from portal import clock, jobs
from portal.domain.notifications import path_of
from portal.domain.push import subscriptions
from portal.models import Notification, NotificationKind, PushSubscription

log = logging.getLogger("portal.push")

DELIVER_JOB = "portal.domain.push.sending:deliver_job"

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
        )


def send_job(db: Session, config: Mapping, notification_id: int) -> None:
    """The job `notifications.notify` schedules: push to every device that wants it."""
    settings = PushSettings.from_config(config)
    notification = db.get(Notification, notification_id)
    if not settings.enabled or notification is None:
        return
    if not subscriptions.wants(db, notification.person_id, notification.kind):
        return
    for device in subscriptions.devices(db, notification.person_id):
        deliver(db, settings, notification, device.id, attempt=1)


def deliver_job(
    db: Session, config: Mapping, notification_id: int, subscription_id: int, attempt: int
) -> None:
    """A retry of one device's push."""
    settings = PushSettings.from_config(config)
    notification = db.get(Notification, notification_id)
    if settings.enabled and notification is not None:
        deliver(db, settings, notification, subscription_id, attempt=attempt)


def payload(notification: Notification) -> str:
    """What the service worker shows (sw.js "push"): opening it marks it read."""
    return json.dumps(
        {
            "title": notification.title,
            "body": notification.body,
            "url": path_of("notifications.follow", notification_id=notification.id),
            "tag": f"n{notification.id}",
            "icon": path_of("static", filename="icons/icon-192.png"),
            "badge": path_of("static", filename="icons/logo.svg"),
        },
        ensure_ascii=False,
    )


def deliver(
    db: Session,
    settings: PushSettings,
    notification: Notification,
    subscription_id: int,
    *,
    attempt: int,
) -> Outcome:
    """One attempt at one device; commits what it learns (last success, removal)."""
    device = db.get(PushSubscription, subscription_id)
    if device is None:
        return Outcome.SKIPPED
    if not settings.allow_local and _resolves_locally(device.endpoint):
        log.warning("push.refused subscription=%s internal address", device.id)
        return Outcome.FAILED
    try:
        webpush(
            {"endpoint": device.endpoint, "keys": {"p256dh": device.p256dh, "auth": device.auth}},
            data=payload(notification),
            vapid_private_key=Vapid.from_string(settings.private_key),
            vapid_claims={"sub": settings.subject},
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
        return _after_failure(db, settings, notification, device, attempt, status, error)
    except requests.RequestException as error:
        return _after_failure(db, settings, notification, device, attempt, None, error)
    device.last_success_at = clock.now()
    db.commit()
    return Outcome.SENT


def _after_failure(db, settings, notification, device, attempt, status, error) -> Outcome:
    if status in (404, 410):
        log.info("push.removed subscription=%s status=%s", device.id, status)
        db.delete(device)
        db.commit()
        return Outcome.REMOVED
    retriable = status is None or status == 429 or status >= 500
    if not retriable or attempt >= settings.max_attempts:
        log.warning("push.failed subscription=%s status=%s attempt=%s", device.id, status, attempt)
        return Outcome.FAILED
    delay = min(settings.retry_delay * 2 ** (attempt - 1), settings.max_retry_delay)
    delay = max(delay, _retry_after(error))
    jobs.enqueue(
        DELIVER_JOB,
        notification.id,
        device.id,
        attempt + 1,
        at=clock.now() + timedelta(seconds=delay),
    )
    log.info("push.retry subscription=%s status=%s in=%ss", device.id, status, delay)
    return Outcome.RETRY


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
