"""Pending credential changes: a password recovery secret, a phone change code."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base
from portal.models.types import UTCDateTime


class PasswordRecovery(Base):
    """The recovery secret sent by SMS: one row per person, replaced by a new request.

    Only the secret's hash is kept. It counts no wrong tries (see
    portal.domain.auth.recovery: its length holds against guessing)."""

    __tablename__ = "password_recoveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id"), unique=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    secret_hash: Mapped[str] = mapped_column(sa.String(255))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PhoneChange(Base):
    """A new phone number waiting for the code sent to it."""

    __tablename__ = "phone_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id"), unique=True)
    new_phone: Mapped[str] = mapped_column(sa.String(16))
    code_hash: Mapped[str] = mapped_column(sa.String(255))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    failed_attempts: Mapped[int] = mapped_column(default=0)
