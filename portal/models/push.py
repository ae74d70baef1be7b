"""Web push: the devices a subscriber allowed to show notifications, what each person
wants pushed, and the notification centre (everything sent, so nothing depends on a
push arriving)."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base
from portal.models.types import UTCDateTime, enum_type


class NotificationKind(enum.StrEnum):
    PAYMENTS = "payments"  # balance and payments
    VISITS = "visits"  # technician visits
    PROMOTIONS = "promotions"  # promotions and special offers


class PushSubscription(Base):
    """One browser on one device (the push service's endpoint names it)."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id"), index=True)
    endpoint: Mapped[str] = mapped_column(sa.String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(sa.String(200))  # the browser's public key
    auth: Mapped[str] = mapped_column(sa.String(100))  # its authentication secret
    user_agent: Mapped[str] = mapped_column(sa.String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DeliveryState(enum.StrEnum):
    PENDING = "pending"  # to be tried at next_attempt_at
    SENT = "sent"
    REMOVED = "removed"  # the push service said the subscription is gone
    FAILED = "failed"  # given up


class PushDelivery(Base):
    """One notification's way to one device: the send state lives here, not in a job, so
    a retry after 429/5xx survives a restart (the sweep takes up what is due)."""

    __tablename__ = "push_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("notification_id", "subscription_id"),
        sa.Index("ix_push_deliveries_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        sa.ForeignKey("notifications.id", ondelete="CASCADE")
    )
    # Emptied when the device is removed; the state says what became of the push.
    subscription_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("push_subscriptions.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[DeliveryState] = mapped_column(enum_type(DeliveryState))
    attempts: Mapped[int] = mapped_column(default=0)
    # When it is due; while an attempt runs, when that attempt counts as lost (a crash
    # mid-send), so that another worker takes it up then.
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None]  # the push service's last answer (None: no answer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NotificationPreference(Base):
    """What a person wants pushed (the centre keeps every kind regardless)."""

    __tablename__ = "notification_preferences"

    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id"), primary_key=True)
    payments: Mapped[bool] = mapped_column(default=True)
    visits: Mapped[bool] = mapped_column(default=True)
    promotions: Mapped[bool] = mapped_column(default=True)


class Notification(Base):
    """One entry of a person's notification centre."""

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_person_read", "person_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id"))
    kind: Mapped[NotificationKind] = mapped_column(enum_type(NotificationKind))
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.String(1000))
    # The page it leads to, relative to the portal's root ("history/"), so it holds under
    # a path prefix and can lead nowhere else.
    url: Mapped[str] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
