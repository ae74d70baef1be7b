"""Pushing a published promotion to its audience, in batches of background jobs.

Each job takes the next PORTAL_PROMO_PUSH_BATCH people of the audience after the push's
cursor and, in one commit, writes the promotion into each one's notification centre, a
delivery (push_deliveries) for each device of those who allow the "promotions" kind,
counted "being retried" (retrying), and the moved cursor; it hands the next batch to the
queue, then tries each delivery through portal.domain.push.sending. Whatever ends a
delivery, then or at a later retry, moves it from "being retried" to sent, failed or
removed (the push service said 404/410) in the commit that ends it (`delivery_ended`).
So a worker killed at any point leaves every push in the table, counted once: the push
sweep takes up the deliveries it left. A job run twice (a retry, a sweep) finds the
cursor moved and does nothing, so nobody gets the promotion twice; a push whose next
job was lost (a restart of the in-process queue) is handed on by the sweep.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import clock, jobs
from portal.domain import notifications
from portal.domain.errors import DomainError
from portal.domain.promos import promotions
from portal.domain.push import sending
from portal.models import (
    DeliveryState,
    Notification,
    NotificationKind,
    Promotion,
    PromotionPush,
    PromotionState,
)

BATCH_JOB = "portal.domain.promos.pushing:batch_job"
PUSHED = "promotion.pushed"
BODY_MAX = 180  # of the terms, in the notification
# A push unfinished and with no batch done for this long has lost its next job.
QUIET = timedelta(minutes=5)


class NotRunning(DomainError):
    """Only a published promotion, between its first and last day, is pushed."""


class AlreadyPushed(DomainError):
    """A promotion is pushed once."""


def start(
    db: Session,
    promotion: Promotion,
    today: date,
    *,
    staff_id: int,
    address: str | None = None,
) -> PromotionPush:
    """Begin the push; the first batch runs once this is committed."""
    if promotion.state is not PromotionState.PUBLISHED or not (
        promotion.starts_on <= today <= promotion.ends_on
    ):
        raise NotRunning(promotion.id)
    push = PromotionPush(
        promotion_id=promotion.id,
        started_at=clock.now(),
        progressed_at=clock.now(),
        started_by=staff_id,
    )
    try:
        with db.begin_nested():
            db.add(push)
    except IntegrityError:
        # Pushed already (a second click, another member at the same moment).
        raise AlreadyPushed(promotion.id) from None
    promotions.record(
        db,
        PUSHED,
        promotion,
        staff_id=staff_id,
        address=address,
        push_id=push.id,
        before={"push": "none"},
        after={"push": "started"},
    )
    jobs.enqueue_after_commit(db, BATCH_JOB, push.id, 0)
    return push


def of(db: Session, promotion: Promotion) -> PromotionPush | None:
    return db.scalar(sa.select(PromotionPush).where(PromotionPush.promotion_id == promotion.id))


def batch_job(db: Session, config: Mapping, push_id: int, cursor: int) -> None:
    """One batch of the push (see the module's docstring)."""
    size = int(config["PORTAL_PROMO_PUSH_BATCH"])
    push = db.scalar(sa.select(PromotionPush).where(PromotionPush.id == push_id).with_for_update())
    if push is None or push.finished_at is not None or push.cursor != cursor:
        db.rollback()
        return
    promotion = db.get(Promotion, push.promotion_id)
    today = clock.local_today(config["PORTAL_TIMEZONE"])
    people = list(db.scalars(promotions.audience(promotion, today, after=cursor).limit(size)))
    if promotion.state is not PromotionState.PUBLISHED:
        people = []  # withdrawn meanwhile: the rest of the audience gets nothing
    written = [
        notifications.notify(
            db,
            person_id,
            NotificationKind.PROMOTIONS,
            promotion.title,
            _body(promotion.text),
            _path(promotion.id),
            push=False,
        )
        for person_id in people
    ]
    settings = sending.PushSettings.from_config(config)
    # Each push is kept (push_deliveries) and counted "being retried" in the commit that
    # moves the cursor; each one's end moves it to its count in the commit that ends it.
    planned = [i for n in written for i in sending.stage(db, n)] if settings.enabled else []
    push.people += len(written)
    push.retrying += len(planned)
    push.progressed_at = clock.now()
    if len(people) < size:
        push.finished_at = clock.now()
    else:
        push.cursor = people[-1]
        jobs.enqueue_after_commit(db, BATCH_JOB, push.id, push.cursor)
    db.commit()
    for delivery_id in planned:
        sending.attempt_delivery(db, settings, delivery_id)


def sweep_job(db: Session, config: Mapping) -> None:
    """Hand on every push whose next batch was lost (the batch's own check keeps a
    batch that is only slow from running twice)."""
    quiet = db.execute(
        sa.select(PromotionPush.id, PromotionPush.cursor).where(
            PromotionPush.finished_at.is_(None), PromotionPush.progressed_at < clock.now() - QUIET
        )
    ).all()
    for push_id, cursor in quiet:
        jobs.enqueue(BATCH_JOB, push_id, cursor)


# A delivery's final state, and the count it moves to from "retrying".
_ENDED = {
    DeliveryState.SENT: "sent",
    DeliveryState.FAILED: "failed",
    DeliveryState.REMOVED: "removed",
}
_PATH = "promos/"


def _path(promotion_id: int) -> str:
    """The notification's link to the promotion (its url)."""
    return f"{_PATH}{promotion_id}"


def delivery_ended(db: Session, notification: Notification, state: DeliveryState) -> None:
    """A push of the promotion's notification has ended in `state`: move it from "being
    retried" to its count, in the caller's transaction (portal.domain.push.sending)."""
    rest = notification.url.removeprefix(_PATH)
    if not notification.url.startswith(_PATH) or not rest.isdigit() or state not in _ENDED:
        return
    name = _ENDED[state]
    db.execute(
        sa.update(PromotionPush)
        .where(PromotionPush.promotion_id == int(rest))
        .values(
            {
                "retrying": PromotionPush.retrying - 1,
                name: getattr(PromotionPush, name) + 1,
            }
        )
    )


def _body(text: str) -> str:
    """The start of the terms, on one line."""
    line = " ".join(text.split())
    return line if len(line) <= BODY_MAX else line[: BODY_MAX - 1].rstrip() + "…"
