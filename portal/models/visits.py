"""Technician visits: the schedule of visit windows, the technicians, the requests.

The schedule is a weekly template per district (visit_window_templates) and concrete
windows for dates (visit_windows). A concrete window exists once a day's window has been
booked or set apart from the template by the dispatcher (a holiday: capacity 0); until
then the template stands for it. The window row carries `booked`, the places taken,
changed only by a conditional UPDATE (portal.domain.visits.schedule), so the database
itself never lets it pass `capacity`.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base
from portal.models.types import UTCDateTime, enum_type


class VisitCategory(enum.StrEnum):
    NO_INTERNET = "no_internet"
    SLOW_INTERNET = "slow_internet"
    NO_TV = "no_tv"
    EQUIPMENT = "equipment"
    MOVING_CABLE = "moving_cable"
    NEW_SERVICE = "new_service"
    OTHER = "other"


class VisitState(enum.StrEnum):
    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    ON_THE_WAY = "on_the_way"
    DONE = "done"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        return self not in (VisitState.DONE, VisitState.CANCELLED)


class VisitWindowTemplate(Base):
    """A window of a weekday in a district, every week: the schedule's default."""

    __tablename__ = "visit_window_templates"
    __table_args__ = (
        sa.UniqueConstraint("district", "weekday", "starts"),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        sa.CheckConstraint("capacity >= 0", name="capacity"),
        sa.CheckConstraint("ends > starts", name="ends_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    district: Mapped[str] = mapped_column(sa.String(64))
    weekday: Mapped[int]  # 0 Monday .. 6 Sunday
    starts: Mapped[time] = mapped_column(sa.Time())  # the provider's local time
    ends: Mapped[time] = mapped_column(sa.Time())
    capacity: Mapped[int]


class VisitWindow(Base):
    """A window of one date in a district: booked, or set apart from the template."""

    __tablename__ = "visit_windows"
    __table_args__ = (
        sa.UniqueConstraint("district", "day", "starts"),
        sa.CheckConstraint("capacity >= 0", name="capacity"),
        # The last line of defence: the booking's UPDATE never gets here.
        sa.CheckConstraint("booked >= 0 AND booked <= capacity", name="booked"),
        sa.CheckConstraint("ends > starts", name="ends_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    district: Mapped[str] = mapped_column(sa.String(64))
    day: Mapped[date]
    starts: Mapped[time] = mapped_column(sa.Time())  # the provider's local time
    ends: Mapped[time] = mapped_column(sa.Time())
    capacity: Mapped[int]
    booked: Mapped[int] = mapped_column(default=0, server_default="0")
    # Set for the date by the dispatcher (a holiday, more places): a change of the weekly
    # template leaves it alone. Otherwise it was made from the template, and follows it.
    set_apart: Mapped[bool] = mapped_column(default=False, server_default=sa.false())


class Technician(Base):
    """Someone who goes to subscribers' homes: a record the dispatcher keeps, not a
    console user (technicians do not sign in; their work is assigned to them)."""

    __tablename__ = "technicians"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    phone: Mapped[str] = mapped_column(sa.String(16), default="", server_default="")
    districts: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())


class VisitRequest(Base):
    """A subscriber's call for a technician, in one window, through its states."""

    __tablename__ = "visit_requests"
    __table_args__ = (
        sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    category: Mapped[VisitCategory] = mapped_column(enum_type(VisitCategory, 32))
    text: Mapped[str] = mapped_column(sa.String(2000), default="")
    window_id: Mapped[int] = mapped_column(sa.ForeignKey("visit_windows.id"), index=True)
    address: Mapped[str] = mapped_column(sa.String(300))
    phone: Mapped[str] = mapped_column(sa.String(16))  # E.164
    state: Mapped[VisitState] = mapped_column(enum_type(VisitState))
    technician_id: Mapped[int | None] = mapped_column(sa.ForeignKey("technicians.id"))
    # "account:category" while the request is open, NULL once closed: one open request
    # per problem category per account, kept by the unique index.
    open_key: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    rating: Mapped[int | None]
    rating_comment: Mapped[str | None] = mapped_column(sa.String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    on_the_way_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The evening-before reminder: claimed by the UPDATE that sets it, so sent once.
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    window: Mapped[VisitWindow] = relationship()
    technician: Mapped[Technician | None] = relationship()
    account: Mapped[Account] = relationship()  # noqa: F821
