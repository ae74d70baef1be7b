"""The provider's staff: who works in the console, in which role, and their sessions.

Staff are not subscribers: their own table, their own cookie, their own sessions, so a
subscriber's session never opens a staff page and a staff session never opens a
subscriber's page.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base
from portal.models.session import SessionRecord
from portal.models.types import UTCDateTime, enum_type


class StaffRole(enum.StrEnum):
    ADMIN = "admin"  # everything, staff accounts included
    OPERATOR = "operator"  # subscribers, payments
    DISPATCHER = "dispatcher"  # technician visits
    MARKETING = "marketing"  # promotions, notices
    ACCOUNTANT = "accountant"  # payments; read-only elsewhere


class StaffMember(Base):
    __tablename__ = "staff_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[StaffRole] = mapped_column(enum_type(StaffRole))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str | None] = mapped_column(sa.String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The TOTP key (base32) once enrolled. Kept as it is, not sealed with SECRET_KEY:
    # rotating that key must not lock every admin out of the console.
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    # The last 30-second step a code was accepted for: a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    # Wrong passwords and codes in a row, and the pause they set on sign-in from a new
    # device (portal.domain.auth.lockout); both cleared by a full sign-in.
    failed_sign_ins: Mapped[int] = mapped_column(default=0, server_default="0")
    sign_in_paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime())

    sessions: Mapped[list[StaffSession]] = relationship(back_populates="staff")
    recovery_codes: Mapped[list[StaffRecoveryCode]] = relationship(back_populates="staff")


# Sign-in finds a login in any case (staff.find_by_login): one member for each spelling.
sa.Index("uq_staff_members_login_lower", sa.func.lower(StaffMember.login), unique=True)


class StaffSession(SessionRecord, Base):
    """One signed-in staff browser."""

    __tablename__ = "staff_sessions"

    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_members.id"), index=True)
    # False between the password and the second factor (a code, or enrolment for an
    # admin who has none yet): such a session opens nothing but that step.
    verified: Mapped[bool] = mapped_column(default=False)
    code_failures: Mapped[int] = mapped_column(default=0)

    staff: Mapped[StaffMember] = relationship(back_populates="sessions")


class StaffRecoveryCode(Base):
    """A one-time code that stands in for the authenticator app once; only its hash."""

    __tablename__ = "staff_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_members.id"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    staff: Mapped[StaffMember] = relationship(back_populates="recovery_codes")
