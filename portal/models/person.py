"""The person who signs in, and their server-side sign-in sessions."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base
from portal.models.session import SessionRecord
from portal.models.types import UTCDateTime


class Person(Base):
    """Someone who signs in. One person may hold several accounts (a flat, a country house)."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(sa.String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    name: Mapped[str] = mapped_column(sa.String(200))
    phone: Mapped[str] = mapped_column(sa.String(16), index=True)  # E.164, e.g. +79780000000
    locale: Mapped[str | None] = mapped_column(sa.String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    password_changed_from: Mapped[str | None] = mapped_column(sa.String(64))
    # Set when a recovery secret was used: choose an own password before anything else.
    must_change_password: Mapped[bool] = mapped_column(default=False)
    # Wrong passwords in a row (sign-in and profile checks), back to 0 on a success; at
    # PORTAL_LOGIN_MAX_FAILURES only a trusted device or a recovery secret signs in.
    failed_sign_ins: Mapped[int] = mapped_column(default=0, server_default="0")

    accounts: Mapped[list[Account]] = relationship(  # noqa: F821
        back_populates="person", order_by="Account.id"
    )
    sessions: Mapped[list[LoginSession]] = relationship(back_populates="person")


# Sign-in finds a login in any case (credentials.find_person): one person for each
# spelling, and the lookup made by this index rather than by reading every person.
sa.Index("uq_people_login_lower", sa.func.lower(Person.login), unique=True)


class LoginSession(SessionRecord, Base):
    """One signed-in device of a subscriber."""

    __tablename__ = "login_sessions"

    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id"), index=True)
    remember: Mapped[bool] = mapped_column(default=False)
    # Set on a staff member's read-only view of the subscriber's pages (view as the
    # subscriber): not the subscriber's own activity, never extended, refuses every change.
    viewer_staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_members.id"))

    person: Mapped[Person] = relationship(back_populates="sessions")
