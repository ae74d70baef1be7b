"""The SMS outbox: every message is written here first, then a job sends it."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base
from portal.models.types import UTCDateTime, enum_type


class SmsStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    SENT = "sent"  # accepted by the gateway (every part acknowledged)
    DELIVERED = "delivered"  # a delivery receipt said so
    FAILED = "failed"  # gave up after the last retry, or the gateway refused for good


class SmsMessage(Base):
    __tablename__ = "sms_messages"
    __table_args__ = (sa.Index("ix_sms_messages_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    to_phone: Mapped[str] = mapped_column(sa.String(16))  # E.164
    purpose: Mapped[str] = mapped_column(sa.String(32))  # recovery, password_changed, ...
    # A message holding a secret is stored encrypted and its text is erased once sent.
    sensitive: Mapped[bool] = mapped_column(default=False)
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[SmsStatus] = mapped_column(
        enum_type(SmsStatus),
        default=SmsStatus.PENDING,
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Parts already acknowledged by the gateway, so a retry resends only the rest.
    parts: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    gateway_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    last_error: Mapped[str | None] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id"), index=True)
